"""The AS side of the world: the AS's TOML configuration (Appendix A / §6), the processes
(`mcp-auth as`, `mcp-auth demo-server`, `mcp-auth gateway`) and setup(), which starts the test
issuers, writes the configuration and starts the processes."""

import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time

import requests

from .common import HTTP, W, log
from .issuers import free_port, start_issuers
from .minting import Key, SPIFFE_ID
from .report import FORBIDDEN_IN_DESC


# --------------------------------------------------------------------------- processes

PROCS = []


def spawn(name, argv, workdir):
    out = open(os.path.join(workdir, f"{name}.stdout"), "wb")
    err = open(os.path.join(workdir, f"{name}.stderr"), "wb")
    p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=workdir)
    PROCS.append(p)
    return p


def stop_procs():
    for p in PROCS:
        if p.poll() is None:
            p.terminate()
    for p in PROCS:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def wait_url(url, proc, what, seconds=90, ok=lambda r: r.status_code == 200):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"setup: {what} exited with {proc.returncode}")
        try:
            r = requests.get(url, timeout=2)
            if ok(r):
                return r
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"setup: {what} did not answer {url} within {seconds} s")


# --------------------------------------------------------------------------- setup

PLANNER = "k8s:mcp-agents/planner"
GH_PROD = "github:acme/deploy-tools@production"


def toml_str(s):
    return json.dumps(s)


def toml_list(xs):
    return "[" + ", ".join(toml_str(x) for x in xs) + "]"


def setup(binary, workdir):
    W.rsa8192 = {}
    W.rsa8192_thread = threading.Thread(
        target=lambda: W.rsa8192.setdefault("key", Key("RSA", kid="rsa8192-" + secrets.token_hex(3), bits=8192)),
        daemon=True)
    W.rsa8192_thread.start()
    W.workdir = workdir
    W.binary = binary
    W.as_port = free_port()
    W.gw_port = free_port()
    W.issuer = f"http://127.0.0.1:{W.as_port}"
    W.R1 = f"http://127.0.0.1:{W.gw_port}/mcp"        # the gateway's protected endpoint
    W.R2 = "https://mcp2.example.test/mcp"
    W.R3 = "https://mcp3.example.test/mcp"
    W.R_UNKNOWN = "https://unknown.example.test/mcp"

    start_issuers()
    write_config(workdir)
    start_processes(binary, workdir)


def write_config(workdir):
    """<workdir>/as.toml: resources, and one trust entry per issuer, trust domain or edge case."""
    # --- the AS configuration (Appendix A shapes)
    cfg = ["# written by interop/wif-profile/client.py",
           "[danger]", "allow_http_loopback_fetches = true", ""]

    def resource(uri, scopes, default):
        cfg.extend(["[[resources]]", f"uri = {toml_str(uri)}", f"scopes = {toml_list(scopes)}",
                    f"default_scopes = {toml_list(default)}", ""])
    resource(W.R1, ["mcp:read", "mcp:write", "mcp:admin"], ["mcp:read", "mcp:admin"])
    resource(W.R2, ["mcp:read"], ["mcp:read"])
    resource(W.R3, ["mcp:read"], ["mcp:read"])

    def entry(id, key_source, algorithms=None, rules=(), issuer=None, trust_domain=None, extra=()):
        cfg.extend(["[[workload_issuers]]", f"id = {toml_str(id)}"])
        if issuer:
            cfg.append(f"issuer = {toml_str(issuer)}")
        if trust_domain:
            cfg.append(f"spiffe_trust_domain = {toml_str(trust_domain)}")
        cfg.extend(key_source)
        if algorithms:
            cfg.append(f"algorithms = {toml_list(algorithms)}")
        cfg.extend(extra)
        cfg.append("")
        for when, principal, resources, scopes, ttl in rules:
            cfg.extend(["[[workload_issuers.rules]]", f"when = {toml_str(when)}",
                        f"principal = {toml_str(principal)}", f"resources = {toml_list(resources)}",
                        f"scopes = {toml_list(scopes)}"])
            if ttl:
                cfg.append(f"access_token_ttl = {ttl}")
            cfg.append("")

    entry("k8s", ["discovery = true"], issuer=W.k8s_iss, rules=[
        ('claims.sub == "system:serviceaccount:mcp-agents:planner" && '
         'claims["kubernetes.io"].namespace == "mcp-agents"',
         PLANNER, [W.R1, W.R2], ["mcp:read", "mcp:write"], 600),
        ('claims.sub == "system:serviceaccount:ordered:exact"',
         "k8s:ordered-exact", [W.R2], ["mcp:read"], None),
        ('claims.sub.startsWith("system:serviceaccount:ordered:")',
         "k8s:ordered-any", [W.R1, W.R2], ["mcp:read"], None),
        ('claims.team.name == "blue"', "k8s:team-blue", [W.R1], ["mcp:read"], None),
        ('claims.sub == "system:serviceaccount:evalerr:svc"', "k8s:evalerr", [W.R1], ["mcp:read"], None),
    ])
    entry("github", [f"jwks_uri = {toml_str(W.gh.url(W.gh_jwks_path))}"], issuer=W.gh_iss,
          algorithms=["RS256"], rules=[
        ('claims.repository_owner_id == "1234567" && claims.repository_id == "89012345" && '
         'claims.sub == "repo:acme/deploy-tools:environment:production"',
         GH_PROD, [W.R1], ["mcp:read", "mcp:write"], 300),
        ('claims.repository_owner_id == "1234567" && claims.repository_id == "89012345" && '
         'claims.sub == "repo:acme/deploy-tools:ref:refs/heads/main"',
         "github:acme/deploy-tools@main", [W.R1], ["mcp:read"], None),
    ])
    entry("spiffe-prod", [f"spiffe_bundle_endpoint = {toml_str(W.sp.url('/bundle'))}"],
          trust_domain="prod.example", rules=[
        (f'claims.sub == "{SPIFFE_ID}"', SPIFFE_ID, [W.R1], ["mcp:read"], None),
    ])
    wl_rule = lambda principal: [('claims.sub == "wl-7f3a-workload"', principal, [W.R1], ["mcp:read"], None)]
    entry("keysel", [f"jwks_uri = {toml_str(W.misc.url('/keysel/jwks'))}"], issuer=W.ks_iss,
          rules=wl_rule("keysel-principal"))
    for name, (iss, _, _) in W.odd.items():
        entry(f"odd-{name}", [f"jwks_uri = {toml_str(W.misc.url(f'/odd-{name}/jwks'))}"], issuer=iss,
              rules=wl_rule(f"odd-{name}-principal"))
    W.plain = {}
    for name in ("burst", "redir", "big", "bigok", "slow", "slowok", "flaky", "maxage", "notjson", "status201",
                 "rsa8192"):
        iss = f"https://{name}.example.test"
        W.plain[name] = iss
        entry(name, [f"jwks_uri = {toml_str(W.misc.url(f'/{name}/jwks'))}"], issuer=iss,
              rules=wl_rule(f"{name}-principal"))
    # Per-entry numbers (§6.1): no skew, 600 s maximum lifetime, rule ttl 900 s.
    W.short_iss = "https://short.example.test"
    W.misc.json("/short/jwks", W.simple_jwks)
    entry("short", [f"jwks_uri = {toml_str(W.misc.url('/short/jwks'))}"], issuer=W.short_iss,
          extra=["clock_skew = 0", "max_assertion_lifetime = 600"],
          rules=[('claims.sub == "wl-7f3a-workload"', "short-principal", [W.R1], ["mcp:read"], 900)])
    FORBIDDEN_IN_DESC.add(W.short_iss)
    W.dead_iss = "https://dead.example.test"
    entry("dead", [f"jwks_uri = {toml_str(f'http://127.0.0.1:{W.dead_port}/jwks')}"],
          issuer=W.dead_iss, algorithms=["RS256"], rules=wl_rule("dead-principal"))
    entry("rfc8414", ["discovery = true"], issuer=W.r8414_iss, rules=wl_rule("rfc8414-principal"))
    entry("oidc500", ["discovery = true"], issuer=W.t500_iss, rules=wl_rule("oidc500-principal"))
    entry("badiss", ["discovery = true"], issuer=W.badiss_iss, rules=wl_rule("badiss-principal"))

    FORBIDDEN_IN_DESC.update(iss for iss, _, _ in W.odd.values())
    FORBIDDEN_IN_DESC.update(W.plain.values())
    # A.1's self-managed cluster: a JWK Set in a file.
    W.lab_iss = "https://kubernetes.default.svc.cluster.local"
    W.lab_key = Key("RSA", kid="lab-" + secrets.token_hex(3), jwk_alg="RS256", use="sig")
    W.lab_file = os.path.join(workdir, "k8s-lab-jwks.json")
    with open(W.lab_file, "w") as f:
        json.dump({"keys": [W.lab_key.jwk()]}, f)
    entry("k8s-lab", [f"jwks_file = {toml_str(W.lab_file)}"], issuer=W.lab_iss, algorithms=["RS256"], rules=[
        ('claims.sub == "system:serviceaccount:mcp-agents:planner"', "k8s-lab:mcp-agents/planner",
         [W.R1], ["mcp:read"], None)])
    FORBIDDEN_IN_DESC.add(W.lab_iss)
    W.entry = entry
    W.config_path = os.path.join(workdir, "as.toml")
    with open(W.config_path, "w") as f:
        f.write("\n".join(cfg))


def start_demo_server(binary, workdir, seconds=30):
    """The demo server the gateway proxies to, listening before the gateway starts. It binds
    port 0 and the harness reads the port it got from the `endpoint:` line it prints, so no
    other socket can take its port between a choice and the bind (as happened with a port
    picked by free_port() earlier)."""
    W.demo_proc = spawn("demo-server", [binary, "demo-server", "--listen", "127.0.0.1:0",
                                        "--stateless", "--json-response"], workdir)
    stdout = os.path.join(workdir, "demo-server.stdout")
    deadline = time.time() + seconds
    while time.time() < deadline:
        if W.demo_proc.poll() is not None:
            raise SystemExit(f"setup: mcp-auth demo-server exited with {W.demo_proc.returncode}")
        with open(stdout, errors="replace") as f:
            m = re.search(r"endpoint: http://127\.0\.0\.1:(\d+)/mcp", f.read())
        if m:
            W.demo_port = int(m.group(1))
            # Stateless, it refuses a GET with 405 and `Allow: POST`: that answer is its own.
            wait_url(f"http://127.0.0.1:{W.demo_port}/mcp", W.demo_proc, "mcp-auth demo-server",
                     seconds=seconds, ok=lambda r: r.status_code == 405)
            return
        time.sleep(0.1)
    raise SystemExit(f"setup: mcp-auth demo-server printed no endpoint within {seconds} s")


def start_processes(binary, workdir):
    """`mcp-auth as` with that configuration, then the gateway and demo-server of the end-to-end
    client checks."""
    # --- the AS
    data_dir = os.path.join(workdir, "as-data")
    shutil.rmtree(data_dir, ignore_errors=True)
    W.as_proc = spawn("as", [binary, "as", "--config", W.config_path, "--data-dir", data_dir,
                             "--listen", f"127.0.0.1:{W.as_port}", "--issuer", W.issuer], workdir)
    meta = wait_url(W.issuer + "/.well-known/oauth-authorization-server", W.as_proc, "mcp-auth as")
    W.as_meta = meta.json()
    W.token_endpoint = W.as_meta["token_endpoint"]
    W.as_jwks = HTTP.get(W.as_meta["jwks_uri"], timeout=10).json()
    log(f"client.py: AS {W.issuer} (pid {W.as_proc.pid}), config {W.config_path}")

    # --- a protected MCP endpoint for the end-to-end client checks
    start_demo_server(binary, workdir)
    W.gw_proc = spawn("gateway", [binary, "gateway", "--upstream", f"http://127.0.0.1:{W.demo_port}/mcp",
                                  "--resource", W.R1, "--issuer", W.issuer,
                                  "--listen", f"127.0.0.1:{W.gw_port}", "--allow-bearer", "--dpop"], workdir)
    try:
        wait_url(f"http://127.0.0.1:{W.gw_port}/healthz", W.gw_proc, "mcp-auth gateway", seconds=60)
        W.gateway_ok = True
    except SystemExit as e:
        log(f"client.py: the gateway did not start ({e}); end-to-end checks will fail")
        W.gateway_ok = False
