"""Checks that start their own short-lived `mcp-auth as` in <workdir>/start-checks/: the start-up
refusals (WIF-AS-22, §6.4) and a `when` that is not a bool at run time (§6.3, WIF-AS-19)."""

import json
import os
import shutil
import subprocess
import time

import jwt
import requests

from .as_setup import toml_list, toml_str, wait_url
from .common import HTTP, VERBOSE, W, log
from .issuers import free_port
from .minting import Key, mint, wl_claims
from .report import check
from .token_endpoint import Resp, grant_form


def check_start_refusals():
    """WIF-AS-22 (the document says: implementation test). Observable from outside all the same:
    `mcp-auth as` must exit instead of serving. One valid base configuration, one change each."""
    d = os.path.join(W.workdir, "start-checks")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    good = os.path.join(d, "jwks.json")
    with open(good, "w") as f:
        json.dump({"keys": [W.lab_key.jwk()]}, f)
    empty = os.path.join(d, "empty-jwks.json")
    with open(empty, "w") as f:
        json.dump({"keys": [Key("RSA", kid="weak", bits=1024).jwk()]}, f)
    R = "https://mcp.example.test/mcp"

    def entry(id="a", issuer="https://a.example.test", src=None, extra=(), when='claims.sub == "x"',
              principal="p-a", resources=(R,), scopes=("mcp:read",), td=None, rule_extra=()):
        lines = ["[[workload_issuers]]", f"id = {toml_str(id)}"]
        lines.append(f"spiffe_trust_domain = {toml_str(td)}" if td else f"issuer = {toml_str(issuer)}")
        lines += list(src if src is not None else [f"jwks_file = {toml_str(good)}"]) + list(extra)
        lines += ["[[workload_issuers.rules]]", f"when = {toml_str(when)}", f"principal = {toml_str(principal)}",
                  f"resources = {toml_list(resources)}", f"scopes = {toml_list(scopes)}"] + list(rule_extra)
        return "\n".join(lines) + "\n"
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    base = (f"[[resources]]\nuri = {toml_str(R)}\nscopes = [\"mcp:read\"]\n"
            f"[[resources]]\nuri = \"https://mcp-b.example.test/mcp\"\nscopes = [\"mcp:other\"]\n")
    bundle = [f"spiffe_bundle_endpoint = \"https://bundle.example.test/\""]
    cases = [
        ("control-valid-configuration-starts", entry() + entry(id="b", issuer="https://b.example.test", principal="p-b")),
        ("duplicate-id", entry() + entry(issuer="https://b.example.test", principal="p-b")),
        ("duplicate-issuer", entry() + entry(id="b", principal="p-b")),
        ("duplicate-trust-domain", entry(td="t.example", src=bundle) + entry(id="b", td="t.example", src=bundle, principal="p-b")),
        ("two-key-sources", entry(extra=["discovery = true"])),
        ("no-key-source", entry(src=[])),
        ("bundle-endpoint-on-issuer-entry", entry(src=bundle)),
        ("jwks-file-on-trust-domain-entry", entry(td="t.example")),
        ("discovery-on-trust-domain-entry", entry(td="t.example", src=["discovery = true"])),
        ("issuer-equals-as-issuer", entry(issuer=issuer)),
        ("jwks-file-without-usable-key", entry(src=[f"jwks_file = {toml_str(empty)}"])),
        ("when-does-not-compile", entry(when="claims.sub ==")),
        ("entry-without-rule", entry().split("[[workload_issuers.rules]]")[0]),
        ("rule-without-resource", entry(resources=(), scopes=())),
        ("when-constant", entry(when="true")),
        ("when-constant-expression", entry(when="1 == 1")),
        ("principal-in-two-entries", entry() + entry(id="b", issuer="https://b.example.test")),
        ("principal-https-url", entry(principal="https://p.example.test/x")),
        ("principal-http-url", entry(principal="http://p.example.test/x")),
        ("principal-control-character", entry(principal="p\u0001x")),
        ("principal-empty", entry(principal="")),
        ("principal-256-characters", entry(principal="p" * 256)),
        ("principal-equals-client-id", entry(principal="shared-name") +
         "[[clients]]\nclient_id = \"shared-name\"\ngrant_types = [\"authorization_code\"]\n"
         "redirect_uris = [\"http://127.0.0.1:9/cb\"]\n"),
        ("rule-resource-not-configured", entry(resources=("https://nowhere.example.test/mcp",))),
        ("rule-scope-defined-by-no-resource", entry(scopes=("mcp:other",))),
        ("max-assertion-lifetime-59", entry(extra=["max_assertion_lifetime = 59"])),
        ("max-assertion-lifetime-86401", entry(extra=["max_assertion_lifetime = 86401"])),
        ("clock-skew-301", entry(extra=["clock_skew = 301"])),
        ("algorithm-RS384", entry(extra=['algorithms = ["RS384"]'])),
        ("algorithm-HS256", entry(extra=['algorithms = ["HS256"]'])),
        ("EdDSA-on-trust-domain-entry", entry(td="t.example", src=bundle, extra=['algorithms = ["EdDSA"]'])),
        ("id-upper-case", entry(id="Upper")),
        ("id-65-characters", entry(id="a" * 65)),
    ]
    for name, text in cases:
        path = os.path.join(d, f"{name}.toml")
        with open(path, "w") as f:
            f.write(base + text)
        p = subprocess.Popen([W.binary, "as", "--config", path, "--data-dir", os.path.join(d, name + "-data"),
                              "--listen", f"127.0.0.1:{port}", "--issuer", issuer],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, name + ".stderr"), "wb"),
                             stdin=subprocess.DEVNULL)
        served = False
        deadline = time.time() + 20
        while time.time() < deadline and p.poll() is None:
            try:
                if requests.get(issuer + "/.well-known/oauth-authorization-server", timeout=1).status_code == 200:
                    served = True
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=10)
        err = open(os.path.join(d, name + ".stderr"), errors="replace").read().strip().splitlines()
        last = err[-1][:200] if err else ""
        if name.startswith("control"):
            check(f"WIF-AS-22.{name}", served, f"did not serve: {last}")
        else:
            check(f"WIF-AS-22.refuses-{name}", not served and p.returncode not in (None, 0),
                  "started and served its metadata" if served else f"exit {p.returncode}: {last}")
            if VERBOSE:
                log(f"  {name}: {last}")


def check_non_bool_when_at_runtime():
    """§6.3: "a value that is not a bool" is an evaluation error: the rule does not match and the
    next rule decides. (§6.4 does not ask the AS to refuse such a `when` at start.)"""
    d = os.path.join(W.workdir, "start-checks")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    R = "https://mcp.example.test/mcp"
    good = os.path.join(d, "jwks.json")
    rule = lambda when, p: ["[[workload_issuers.rules]]", f"when = {toml_str(when)}", f"principal = {toml_str(p)}",
                            f"resources = {toml_list([R])}", 'scopes = ["mcp:read"]']
    text = "\n".join([f"[[resources]]", f"uri = {toml_str(R)}", 'scopes = ["mcp:read"]',
                       "[[workload_issuers]]", 'id = "a"', 'issuer = "https://a.example.test"',
                       f"jwks_file = {toml_str(good)}"]
                      + rule("[claims.sub]", "p-list") + rule('claims.sub == "wl-7f3a-workload"', "p-second")) + "\n"
    path = os.path.join(d, "non-bool-runtime.toml")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.Popen([W.binary, "as", "--config", path, "--data-dir", os.path.join(d, "non-bool-runtime-data"),
                          "--listen", f"127.0.0.1:{port}", "--issuer", issuer],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        try:
            meta = wait_url(issuer + "/.well-known/oauth-authorization-server", p, "as", seconds=30).json()
        except SystemExit:
            check("WIF-AS-19.non-bool-when-never-matches", False, "the AS refused to start with `when = [claims.sub]`")
            return
        a = mint(wl_claims("https://a.example.test", aud=issuer), W.lab_key, "RS256")
        r = Resp(HTTP.post(meta["token_endpoint"], data=grant_form(a, R), timeout=30))
        sub = jwt.decode(r.json["access_token"], options={"verify_signature": False}).get("sub") \
            if r.status == 200 else None
        check("WIF-AS-19.non-bool-when-never-matches", sub == "p-second", f"{r.brief()[:200]} (sub {sub!r})")
    finally:
        p.terminate()
        p.wait(timeout=10)
