"""Start-up refusals (§6.4): EMA-AS-20 and EMA-AS-19 for the MCP AS, EMA-IDP-13 for the IdP.

The profile calls these "implementation tests", but refusing to start is observable from
outside: each variant is a configuration that breaks one rule of §6.4, started as
`mcp-auth as --config FILE` with a fresh data directory; it must exit with a non-zero status
without ever serving. A control configuration (the same without the defect) must start."""

import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from .common import GT_EXCHANGE, GT_JWT_BEARER, W, sha256_b64
from .report import check
from .setup import free_ports, run_cli

HASH = sha256_b64("startup-secret")


PRE = {}  # tag -> admin commands (`mcp-auth ARGS --data-dir D`) run before the start


def _attempt(tag, text, port):
    d = os.path.join(W.workdir, "startup", tag)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for args in PRE.get(tag, []):
        args, stdin = args if isinstance(args, tuple) else (args, None)
        rc, out, err = run_cli([*args, "--data-dir", os.path.join(d, "data")], stdin_text=stdin)
        if rc != 0:
            return False, None, f"`mcp-auth {' '.join(args)}` failed: {err.strip()[:150]}"
    cfg = os.path.join(d, "config.toml")
    with open(cfg, "w") as f:
        f.write(text.replace("{PORT}", str(port)))
    err = open(os.path.join(d, "stderr"), "w")
    p = subprocess.Popen([W.binary, "as", "--config", cfg, "--data-dir", os.path.join(d, "data")],
                         stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL, cwd=d)
    end = time.time() + 20
    served = False
    while time.time() < end and p.poll() is None:
        try:
            requests.get(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", timeout=1)
            served = True
            break
        except requests.RequestException:
            time.sleep(0.1)
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    err.close()
    msg = open(os.path.join(d, "stderr"), errors="replace").read().strip().splitlines()
    first_error = next((m for m in msg if "rror" in m), msg[0] if msg else "")
    return served, p.returncode, first_error[:200]


def _run_all(variants):
    ports = free_ports(len(variants))
    with ThreadPoolExecutor(max_workers=3) as ex:
        futs = [ex.submit(_attempt, tag, text, port) for (tag, text, _), port in zip(variants, ports)]
        return [f.result() for f in futs]


def _report(prefix, variants, results):
    for (tag, _, want_start), (served, rc, first) in zip(variants, results):
        if want_start:
            check(f"{prefix}.{tag}", served, f"the control configuration did not start (exit {rc}): {first}")
        else:
            check(f"{prefix}.{tag}", not served and rc not in (None, 0),
                  "started and served" if served else f"exit status {rc}")


# ---------------------------------------------------------------- the MCP AS


def _as_config(entries, extra_clients=""):
    jwks = os.path.join(W.workdir, "test-idp.jwks.json")
    head = f'''issuer = "http://127.0.0.1:{{PORT}}"
listen = "127.0.0.1:{{PORT}}"

[[resources]]
uri = "https://mcp.example.com/mcp"
scopes = ["mcp:read"]

[[clients]]
client_id = "agent"
client_secret_sha256 = "{HASH}"
grant_types = ["{GT_JWT_BEARER}"]
scopes = ["mcp:read"]
{extra_clients}
'''
    out = [head]
    for e in entries:
        e = dict(e)
        lines = ["[[id_jag_issuers]]"]
        jf = e.pop("jwks_file", True)
        if jf is True:
            lines.append(f'jwks_file = "{jwks}"')
        elif jf:
            lines.append(f'jwks_file = "{jf}"')
        for k, v in e.items():
            lines.append(f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def _entry(**kw):
    e = {"id": "e1", "issuer": "https://e1.example", "resources": ["https://mcp.example.com/mcp"]}
    e.update(kw)
    return e


def check_as_startup():
    empty = os.path.join(W.workdir, "empty.jwks.json")
    with open(empty, "w") as f:
        f.write('{"keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "kid": "h"}]}')
    v = [
        ("control", _as_config([_entry()]), True),
        ("control-tenants", _as_config([_entry(tenant="t1"), _entry(id="e2", tenant="t2")]), True),
        ("id-repeated", _as_config([_entry(), _entry(issuer="https://e2.example")]), False),
        ("id-https", _as_config([_entry(id="https")]), False),
        ("id-http", _as_config([_entry(id="http")]), False),
        ("id-urn", _as_config([_entry(id="urn")]), False),
        ("id-upper-case", _as_config([_entry(id="E1")]), False),
        ("id-underscore", _as_config([_entry(id="e_1")]), False),
        ("id-65-characters", _as_config([_entry(id="e" * 65)]), False),
        ("issuer-repeated", _as_config([_entry(), _entry(id="e2")]), False),
        ("issuer-tenant-repeated", _as_config([_entry(tenant="t1"), _entry(id="e2", tenant="t1")]), False),
        ("issuer-with-and-without-tenant", _as_config([_entry(tenant="t1"), _entry(id="e2")]), False),
        ("issuer-is-the-as", _as_config([_entry(issuer="http://127.0.0.1:{PORT}")]), False),
        ("two-key-sources", _as_config([_entry(jwks_uri="https://e1.example/jwks")]), False),
        ("discovery-and-jwks-file", _as_config([_entry(discovery=True)]), False),
        ("no-key-source", _as_config([_entry(jwks_file=False)]), False),
        ("jwks-file-no-usable-key", _as_config([_entry(jwks_file=empty)]), False),
        ("resource-not-at-the-as", _as_config([_entry(resources=["https://other.example/mcp"])]), False),
        ("no-resource", _as_config([_entry(resources=[])]), False),
        ("algorithm-hs256", _as_config([_entry(algorithms=["HS256"])]), False),
        ("algorithm-rs384", _as_config([_entry(algorithms=["RS384"])]), False),
        ("max-assertion-lifetime-59", _as_config([_entry(max_assertion_lifetime=59)]), False),
        ("max-assertion-lifetime-3601", _as_config([_entry(max_assertion_lifetime=3601)]), False),
        ("clock-skew-301", _as_config([_entry(clock_skew=301)]), False),
        ("access-token-ttl-59", _as_config([_entry(access_token_ttl=59)]), False),
        ("access-token-ttl-3601", _as_config([_entry(access_token_ttl=3601)]), False),
    ]
    wl = f'''
[[workload_issuers]]
id = "e1"
issuer = "https://wl.example"
jwks_file = "{os.path.join(W.workdir, 'test-idp.jwks.json')}"

[[workload_issuers.rules]]
when = 'claims.sub == "robot"'
principal = "robot"
resources = ["https://mcp.example.com/mcp"]
scopes = ["mcp:read"]
'''
    v.append(("control-workload-issuer", _as_config([_entry()]) + wl.replace('id = "e1"', 'id = "w1"'), True))
    v.append(("id-shared-with-workload-issuer", _as_config([_entry()]) + wl, False))
    v19 = [
        ("client-id-in-principal-space", _as_config([_entry()], f'''
[[clients]]
client_id = "e1:robot"
client_secret_sha256 = "{HASH}"
grant_types = ["client_credentials"]
scopes = ["mcp:read"]
'''), False),
    ]
    PRE["username-in-principal-space"] = [(["as", "user", "add", "--username", "e1:eve"], "pw-eve-12345\n")]
    v19.append(("username-in-principal-space", _as_config([_entry()]), False))
    v19.append(("workload-principal-in-principal-space",
                _as_config([_entry()]) + wl.replace('id = "e1"', 'id = "w1"').replace('principal = "robot"',
                                                                                       'principal = "e1:robot"'),
                False))
    res = _run_all(v + v19)
    _report("EMA-AS-20", v, res[:len(v)])
    _report("EMA-AS-19", v19, res[len(v):])
    # while running: the admin commands refuse names in an entry's principal space
    as_data = os.path.join(W.workdir, "as-data")
    rc, out, err = run_cli(["as", "user", "add", "--config", "as.toml", "--data-dir", as_data,
                            "--username", "acme:mallory"], stdin_text="pw-mallory-1234\n")
    check("EMA-AS-19.user-add-refused", rc != 0, f"`as user add --username acme:mallory` exited {rc}: {out.strip()}")
    rc, out, err = run_cli(["as", "client", "add", "--config", "as.toml", "--data-dir", as_data,
                            "--id", "test:robot"])
    check("EMA-AS-19.client-add-refused", rc != 0, f"`as client add --id test:robot` exited {rc}: {out.strip()}")


# ---------------------------------------------------------------- the IdP


def _idp_config(client_ids=None, targets=None, clients=None, top=""):
    clients = clients if clients is not None else f'''[[clients]]
client_id = "desktop"
client_secret_sha256 = "{HASH}"
grant_types = ["authorization_code", "{GT_EXCHANGE}"]
redirect_uris = ["http://127.0.0.1:9/cb"]
scopes = ["openid"]

[[clients]]
client_id = "plain"
client_secret_sha256 = "{HASH}"
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1:9/cb"]
scopes = ["openid"]

[[clients]]
client_id = "public"
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1:9/cb"]
scopes = ["openid"]
'''
    if targets is None:
        targets = [_target()]
    return (f'issuer = "http://127.0.0.1:{{PORT}}"\nlisten = "127.0.0.1:{{PORT}}"\n{top}\n' + clients + "\n"
            + "\n".join(targets))


def _target(id="t1", audience="https://as.example.com", ttl=None, client_ids='"desktop" = "agent"', rules=None):
    rules = rules if rules is not None else [_rule()]
    t = f'[[id_jag_targets]]\nid = "{id}"\naudience = "{audience}"\n'
    if ttl is not None:
        t += f"id_jag_ttl = {ttl}\n"
    t += f"\n[id_jag_targets.client_ids]\n{client_ids}\n\n"
    return t + "\n".join(rules)


def _rule(when="client.id == \"desktop\"", resources='["https://mcp.example.com/mcp"]', scopes='["mcp:read"]',
          default='["mcp:read"]'):
    r = f"[[id_jag_targets.rules]]\nwhen = '{when}'\nresources = {resources}\nscopes = {scopes}\n"
    if default is not None:
        r += f"default_scopes = {default}\n"
    return r


def check_idp_startup():
    PRE["control-cli-added-client-in-client-ids"] = [
        ["as", "client", "add", "--id", "cli-client", "--grant", "authorization_code", "--grant", GT_EXCHANGE,
         "--redirect-uri", "http://127.0.0.1:9/cb", "--scope", "openid"]]
    v = [
        ("control", _idp_config(), True),
        ("control-cli-added-client-in-client-ids",
         _idp_config(targets=[_target(client_ids='"desktop" = "agent"\n"cli-client" = "agent-2"')]), True),
        ("control-loopback-http-audience", _idp_config(targets=[_target(audience="http://127.0.0.1:9")]), True),
        ("target-id-repeated", _idp_config(targets=[_target(), _target(audience="https://as2.example.com")]), False),
        ("audience-repeated", _idp_config(targets=[_target(), _target(id="t2")]), False),
        ("audience-http-not-loopback", _idp_config(targets=[_target(audience="http://as.example.com")]), False),
        ("audience-not-absolute", _idp_config(targets=[_target(audience="as.example.com")]), False),
        ("audience-is-the-idp", _idp_config(targets=[_target(audience="http://127.0.0.1:{PORT}")]), False),
        ("client-ids-unknown-client", _idp_config(targets=[_target(client_ids='"ghost" = "agent"')]), False),
        ("client-ids-without-exchange-grant", _idp_config(targets=[_target(client_ids='"plain" = "agent"')]), False),
        ("client-ids-public-client", _idp_config(targets=[_target(client_ids='"public" = "agent"')]), False),
        ("client-ids-empty-value", _idp_config(targets=[_target(client_ids='"desktop" = ""')]), False),
        ("client-ids-256-characters", _idp_config(targets=[_target(client_ids=f'"desktop" = "{"a" * 256}"')]), False),
        ("no-rule", _idp_config(targets=[_target(rules=[])]), False),
        ("when-does-not-compile", _idp_config(targets=[_target(rules=[_rule(when="client.id ==")])]), False),
        ("when-constant-true", _idp_config(targets=[_target(rules=[_rule(when="true")])]), False),
        ("when-constant-expression", _idp_config(targets=[_target(rules=[_rule(when="1 == 1")])]), False),
        ("rule-no-resource", _idp_config(targets=[_target(rules=[_rule(resources="[]")])]), False),
        ("resource-with-fragment", _idp_config(targets=[_target(rules=[
            _rule(resources='["https://mcp.example.com/mcp#x"]')])]), False),
        ("resource-not-absolute", _idp_config(targets=[_target(rules=[_rule(resources='["/mcp"]')])]), False),
        ("default-scope-not-in-scopes", _idp_config(targets=[_target(rules=[_rule(default='["mcp:write"]')])]),
         False),
        ("id-jag-ttl-59", _idp_config(targets=[_target(ttl=59)]), False),
        ("id-jag-ttl-301", _idp_config(targets=[_target(ttl=301)]), False),
        ("id-token-ttl-299", _idp_config(top="id_token_ttl = 299"), False),
        ("id-token-ttl-86401", _idp_config(top="id_token_ttl = 86401"), False),
    ]
    _report("EMA-IDP-13", v, _run_all(v))


STEPS = [check_as_startup]
IDP_STEPS = [check_idp_startup]
