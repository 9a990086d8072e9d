"""Set-up: ports, the two `mcp-auth as` configurations (Appendix A.1 and A.2 of the profile),
users, the demo MCP server and the gateway, and the suite's own key server.

Processes run on loopback; their stdout/stderr and configurations stay in the work directory.
Only processes started here are stopped (by their Popen object).
"""

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from . import keys as K
from .common import GT_EXCHANGE, GT_JWT_BEARER, W, sha256_b64
from .report import log

START_WAIT = 40.0


# ------------------------------------------------------------------ processes and ports


def free_ports(n):
    held = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        held.append(s)
    ports = [s.getsockname()[1] for s in held]
    for s in held:
        s.close()
    return ports


def start(name, argv, env=None, append=False):
    mode = "a" if append else "w"
    out = open(os.path.join(W.workdir, f"{name}.stdout"), mode)
    err = open(os.path.join(W.workdir, f"{name}.stderr"), mode)
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=e,
                         cwd=W.workdir)
    W.procs[name] = p
    return p


def tail(name, n=15):
    p = os.path.join(W.workdir, f"{name}.stderr")
    try:
        return "".join(open(p, errors="replace").readlines()[-n:]).strip()
    except OSError:
        return ""


def wait_http(url, proc, seconds=START_WAIT):
    """True once url answers any HTTP status; False when proc exits or the time runs out."""
    end = time.time() + seconds
    while time.time() < end:
        try:
            requests.get(url, timeout=2, allow_redirects=False)
            return True
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def stop(name):
    p = W.procs.pop(name, None)
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def stop_procs():
    for name in list(W.procs):
        stop(name)
    if getattr(W, "keyserver", None):
        W.keyserver.shutdown()


def run_cli(args, stdin_text=None, timeout=30):
    """Run `mcp-auth ARGS` to completion: (exit status, stdout, stderr)."""
    p = subprocess.run([W.binary, *args], input=stdin_text, capture_output=True, text=True,
                       timeout=timeout, cwd=W.workdir)
    return p.returncode, p.stdout, p.stderr


# ------------------------------------------------------------------ the suite's key server


class KeyServer:
    """Serves JWK Sets on loopback and counts requests per path: the `served` trust entry's
    jwks_uri (key rotation, refetch window) and an attacker's key set for `jku`/`x5u` (which
    the AS must never read)."""

    def __init__(self, port):
        self.routes = {}
        self.hits = {}
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                with outer.lock:
                    outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                    route = outer.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps(route).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self, path):
        with self.lock:
            return self.hits.get(path, 0)

    def shutdown(self):
        self.httpd.shutdown()


# ------------------------------------------------------------------ configurations


def _toml_list(xs):
    return "[" + ", ".join(json.dumps(x) for x in xs) + "]"


def as_config():
    """Appendix A.2, with the suite's extra trust entries and clients."""
    W.secrets.update({("as", c): f"{c}-secret-{os.urandom(6).hex()}"
                      for c in ("acme-agent", "other-agent", "limited-agent", "cc-agent")})
    sec = lambda c: sha256_b64(W.secrets[("as", c)])  # noqa: E731
    p = W.ports
    lines = [
        f'issuer = "{W.as_issuer}"',
        f'listen = "127.0.0.1:{p["as"]}"',
        "",
        "[danger]",
        "# the IdP, the suite's key server and its client metadata documents are on loopback http",
        "allow_http_loopback_fetches = true",
        "",
        "[[resources]]",
        f'uri = "{W.r1}"',
        'scopes = ["mcp:read", "mcp:write"]',
        'default_scopes = ["mcp:read"]',
        "",
        "[[resources]]",
        f'uri = "{W.r2}"',
        'scopes = ["mcp:read", "other:scope"]',
        'default_scopes = ["mcp:read"]',
        "",
        "[[resources]]",
        f'uri = "{W.r3}"',
        'scopes = ["mcp:read"]',
        'default_scopes = ["mcp:read"]',
        "",
    ]
    clients = [
        ("acme-agent", [GT_JWT_BEARER], ["mcp:read", "mcp:write", "other:scope"]),
        ("other-agent", [GT_JWT_BEARER], ["mcp:read", "mcp:write"]),
        ("limited-agent", [GT_JWT_BEARER], ["mcp:read"]),
        ("cc-agent", ["client_credentials"], ["mcp:read"]),
    ]
    for cid, grants, scopes in clients:
        lines += ["[[clients]]", f'client_id = "{cid}"', f'client_secret_sha256 = "{sec(cid)}"',
                  f"grant_types = {_toml_list(grants)}", f"scopes = {_toml_list(scopes)}", ""]
    lines += ["[[clients]]", 'client_id = "public-app"', 'grant_types = ["authorization_code"]',
              f'redirect_uris = ["{W.callback}"]', 'scopes = ["mcp:read"]', ""]
    jwks_file = os.path.join(W.workdir, "test-idp.jwks.json")
    with open(jwks_file, "w") as f:
        json.dump(W.keys.file_jwks(), f)
    entries = [
        dict(id="acme", issuer=W.idp_issuer, discovery=True, algorithms=["RS256"], resources=[W.r1, W.r2]),
        dict(id="test", issuer=W.test_iss, jwks_file=jwks_file, resources=[W.r1, W.r2], access_token_ttl=120),
        dict(id="strict", issuer="https://strict-idp.example", jwks_file=jwks_file, algorithms=["ES256"],
             clock_skew=0, max_assertion_lifetime=60, resources=[W.r1]),
        dict(id="tenant-a", issuer="https://tenants-idp.example", tenant="tenant-a-9188040d",
             jwks_file=jwks_file, resources=[W.r1]),
        dict(id="tenant-b", issuer="https://tenants-idp.example", tenant="tenant-b-36a304b6",
             jwks_file=jwks_file, resources=[W.r1]),
        dict(id="served", issuer=f"http://127.0.0.1:{p['keys']}/served",
             jwks_uri=f"http://127.0.0.1:{p['keys']}/served/jwks", resources=[W.r1]),
        dict(id="down", issuer=f"http://127.0.0.1:{p['dead']}/down",
             jwks_uri=f"http://127.0.0.1:{p['dead']}/down/jwks", resources=[W.r1]),
    ]
    # the test entry's issuer is also a workload issuer (WIF): its ID-JAGs must never reach the
    # workload rules, and its workload assertions never this profile's checks (D6, §12.2)
    lines += ["[[workload_issuers]]", 'id = "wl"', f'issuer = "{W.test_iss}"', f'jwks_file = "{jwks_file}"', "",
              "[[workload_issuers.rules]]", "when = 'claims.sub == \"robot\"'", 'principal = "wl-robot"',
              f"resources = {_toml_list([W.r1])}", 'scopes = ["mcp:read"]', ""]
    for e in entries:
        lines.append("[[id_jag_issuers]]")
        for k, v in e.items():
            if isinstance(v, bool):
                lines.append(f"{k} = {'true' if v else 'false'}")
            elif isinstance(v, list):
                lines.append(f"{k} = {_toml_list(v)}")
            elif isinstance(v, int):
                lines.append(f"{k} = {v}")
            else:
                lines.append(f"{k} = {json.dumps(v)}")
        lines.append("")
    return "\n".join(lines)


IDP_CLIENTS = {
    # client id: (grant types, confidential)
    "desktop-agent": (["authorization_code", "refresh_token", GT_EXCHANGE], True),
    "second-agent": (["authorization_code", "refresh_token", GT_EXCHANGE], True),
    "stranger-agent": (["authorization_code", GT_EXCHANGE], True),
    "no-exchange": (["authorization_code"], True),
    "public-app": (["authorization_code"], False),
}


def idp_config(with_pk=True):
    """Appendix A.1: the IdP, its clients, one target (the MCP AS) with its rules."""
    for cid, (_, conf) in IDP_CLIENTS.items():
        if conf:
            W.secrets[("idp", cid)] = f"{cid}-secret-{os.urandom(6).hex()}"
    lines = [
        f'issuer = "{W.idp_issuer}"',
        f'listen = "127.0.0.1:{W.ports["idp"]}"',
        "id_token_ttl = 3600",
        "",
    ]
    for cid, (grants, conf) in IDP_CLIENTS.items():
        lines += ["[[clients]]", f'client_id = "{cid}"']
        if cid == "desktop-agent":
            lines.append('client_name = "Desktop Agent"')
        if conf:
            lines.append(f'client_secret_sha256 = "{sha256_b64(W.secrets[("idp", cid)])}"')
        lines += [f"grant_types = {_toml_list(grants)}", f'redirect_uris = ["{W.callback}"]',
                  'scopes = ["openid"]', ""]
    lines += [
        "[[id_jag_targets]]",
        'id = "mcp-as"',
        f'audience = "{W.as_issuer}"',
        "id_jag_ttl = 300",
        "",
        "[id_jag_targets.client_ids]",
        '"desktop-agent" = "acme-agent"',
        '"second-agent" = "other-agent"',
    ]
    if with_pk:
        lines.append('"pk-desktop" = "pkjwt-agent"   # a private_key_jwt client added by `as client add --jwks`')
    lines += [
        "",
        "# 1: an evaluation error (index out of range) is no match, never a match",
        "[[id_jag_targets.rules]]",
        "when = 'user.groups[7] == \"x\"'",
        f"resources = {_toml_list([W.r1, W.r2, W.r3])}",
        'scopes = ["mcp:read", "mcp:write", "other:scope"]',
        'default_scopes = ["mcp:write"]',
        "",
        "# 2: engineering on the desktop agent: read and write",
        "[[id_jag_targets.rules]]",
        "when = 'client.id == \"desktop-agent\" && \"engineering\" in user.groups'",
        f"resources = {_toml_list([W.r1, W.r2])}",
        'scopes = ["mcp:read", "mcp:write", "other:scope"]',
        'default_scopes = ["mcp:read"]',
        "",
        "# 3: dave: only the second resource (first match decides, even against rule 4)",
        "[[id_jag_targets.rules]]",
        "when = 'user.username == \"dave\"'",
        f"resources = {_toml_list([W.r2])}",
        'scopes = ["mcp:read"]',
        'default_scopes = ["mcp:read"]',
        "",
        "# carol through client.name, gina through user.sub (the other CEL fields of §6.1)",
        "[[id_jag_targets.rules]]",
        "when = 'client.name == \"Desktop Agent\" && user.username == \"carol\"'",
        f"resources = {_toml_list([W.r1, W.r2])}",
        'scopes = ["mcp:read", "other:scope"]',
        'default_scopes = ["other:scope"]',
        "",
        "[[id_jag_targets.rules]]",
        "when = 'user.username == \"gina\" && size(user.sub) > 0 && user.sub != user.username'",
        f"resources = {_toml_list([W.r2])}",
        'scopes = ["mcp:read"]',
        'default_scopes = ["mcp:read"]',
        "",
        "# 4: everyone else on the desktop agent: read only",
        "[[id_jag_targets.rules]]",
        "when = 'client.id == \"desktop-agent\"'",
        f"resources = {_toml_list([W.r1])}",
        'scopes = ["mcp:read"]',
        'default_scopes = ["mcp:read"]',
        "",
        "# 5: the second agent, engineering only, no default scope",
        "[[id_jag_targets.rules]]",
        "when = 'client.id == \"second-agent\" && \"engineering\" in user.groups'",
        f"resources = {_toml_list([W.r1])}",
        'scopes = ["mcp:read"]',
        "",
        "# 6: the private_key_jwt client: read",
        "[[id_jag_targets.rules]]",
        "when = 'client.id == \"pk-desktop\"'",
        f"resources = {_toml_list([W.r1])}",
        'scopes = ["mcp:read"]',
        'default_scopes = ["mcp:read"]',
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------ set-up


def _ports():
    names = ["as", "idp", "gw", "demo", "keys", "dead", "cb"]
    W.ports = dict(zip(names, free_ports(len(names))))


def setup(binary, workdir):
    W.binary, W.workdir = binary, workdir
    _ports()
    p = W.ports
    W.as_issuer = f"http://127.0.0.1:{p['as']}"
    W.idp_issuer = f"http://127.0.0.1:{p['idp']}"
    W.r1 = f"http://127.0.0.1:{p['gw']}/mcp"
    W.r2 = f"http://127.0.0.1:{p['gw']}/other"
    W.r3 = f"http://127.0.0.1:{p['gw']}/closed"
    W.r_unknown = f"http://127.0.0.1:{p['gw']}/unknown"
    W.test_iss = "https://test-idp.example"
    W.callback = f"http://127.0.0.1:{p['cb']}/callback"
    W.keys = K.Keys()
    W.keyserver = KeyServer(p["keys"])
    W.keyserver.routes["/served/jwks"] = W.keys.served_jwks()
    W.keyserver.routes["/attacker/jwks"] = W.keys.attacker_jwks()
    W.cimd_base = f"http://127.0.0.1:{p['keys']}/cimd"
    for d in ("as-data", "idp-data"):
        shutil.rmtree(os.path.join(workdir, d), ignore_errors=True)

    # --- the MCP AS (Appendix A.2): must start, or nothing can be tested
    with open(os.path.join(workdir, "as.toml"), "w") as f:
        f.write(as_config())
    as_data = os.path.join(workdir, "as-data")
    # a private_key_jwt client with the jwt-bearer grant, added with the admin command
    pk_jwks = os.path.join(workdir, "pkjwt-agent.jwks.json")
    W.pk_key = K._rsa()
    with open(pk_jwks, "w") as f:
        json.dump({"keys": [K.public_jwk(W.pk_key, "pk-1", "RS256")]}, f)
    rc, out, err = run_cli(["as", "client", "add", "--data-dir", as_data, "--id", "pkjwt-agent",
                            "--jwks", pk_jwks, "--grant", GT_JWT_BEARER, "--scope", "mcp:read"])
    W.pkjwt_ok = rc == 0
    if rc != 0:
        log(f"setup: as client add pkjwt-agent: {err.strip()}")
    proc = start("as", [binary, "as", "--config", "as.toml", "--data-dir", as_data])
    if not wait_http(f"{W.as_issuer}/.well-known/oauth-authorization-server", proc):
        raise SystemExit(f"mcp-auth as (MCP AS) did not start:\n{tail('as')}")
    W.as_meta = requests.get(f"{W.as_issuer}/.well-known/oauth-authorization-server", timeout=10).json()

    # --- the IdP (Appendix A.1): may not exist yet in this build
    start_idp()

    # --- the demo MCP server and the gateway in front of it (R1)
    proc = start("demo-server", [binary, "demo-server", "--listen", f"127.0.0.1:{p['demo']}"])
    if not wait_http(f"http://127.0.0.1:{p['demo']}/mcp", proc):
        raise SystemExit(f"mcp-auth demo-server did not start:\n{tail('demo-server')}")
    with open(os.path.join(workdir, "gateway.toml"), "w") as f:
        f.write('[scopes]\nrequired = ["mcp:read"]\n\n[[scopes.rules]]\nmethod = "tools/call"\n'
                'name = "write_note"\nscopes = ["mcp:write"]\n')
    proc = start("gateway", [binary, "gateway", "--config", "gateway.toml",
                             "--upstream", f"http://127.0.0.1:{p['demo']}/mcp", "--resource", W.r1,
                             "--issuer", W.as_issuer, "--listen", f"127.0.0.1:{p['gw']}",
                             "--allow-bearer", "--dpop"])
    if not wait_http(f"http://127.0.0.1:{p['gw']}/healthz", proc):
        raise SystemExit(f"mcp-auth gateway did not start:\n{tail('gateway')}")


def idp_supported():
    """Whether this build has the IdP role's admin flag (`as user add --group`)."""
    rc, out, err = run_cli(["as", "user", "add", "--help"])
    return "--group" in out


USERS = {
    # username: groups
    "alice": ["engineering"],
    "bob": [],
    "dave": [],
    "erin": ["engineering"],
    "frank": ["engineering"],
    "carol": [],
    "gina": [],
}


def start_idp():
    with open(os.path.join(W.workdir, "idp.toml"), "w") as f:
        f.write(idp_config(with_pk=False))
    if not idp_supported():
        W.idp_why = "this build's `mcp-auth as user add` has no --group (the IdP role is not implemented yet)"
    idp_data = os.path.join(W.workdir, "idp-data")
    for user, groups in USERS.items():
        W.users[user] = f"pw-{user}-{os.urandom(4).hex()}"
        args = ["as", "user", "add", "--config", "idp.toml", "--data-dir", idp_data, "--username", user]
        for g in groups:
            args += ["--group", g]
        rc, out, err = run_cli(args, stdin_text=W.users[user] + "\n")
        if rc != 0:
            W.idp_why = W.idp_why or f"`mcp-auth as user add --group` failed: {err.strip()[:300]}"
            log(f"setup: as user add {user}: {err.strip()[:300]}")
    if W.idp_why:
        return
    # a private_key_jwt client at the IdP (the config file has only secrets): `as client add --jwks`
    pk_jwks = os.path.join(W.workdir, "pkjwt-agent.jwks.json")
    rc, out, err = run_cli(["as", "client", "add", "--data-dir", idp_data, "--id", "pk-desktop", "--jwks", pk_jwks,
                            "--grant", "authorization_code", "--grant", GT_EXCHANGE, "--redirect-uri", W.callback,
                            "--scope", "openid"])
    W.idp_pk_why = "" if rc == 0 else f"`as client add --jwks F --grant token-exchange` failed: {err.strip()[:200]}"
    if not W.idp_pk_why:
        with open(os.path.join(W.workdir, "idp.toml"), "w") as f:
            f.write(idp_config(with_pk=True))
        proc = start("idp-pk-probe", [W.binary, "as", "--config", "idp.toml", "--data-dir", idp_data])
        ok = wait_http(f"{W.idp_issuer}/.well-known/openid-configuration", proc)
        if not ok:
            W.idp_pk_why = f"the IdP refused client_ids with a CLI-added private_key_jwt client: {tail('idp-pk-probe', 3)}"
        stop("idp-pk-probe")
    if W.idp_pk_why:
        with open(os.path.join(W.workdir, "idp.toml"), "w") as f:
            f.write(idp_config(with_pk=False))
    timed_sign_ins(idp_data)
    proc = start("idp", [W.binary, "as", "--config", "idp.toml", "--data-dir", idp_data])
    meta_url = f"{W.idp_issuer}/.well-known/openid-configuration"
    if not wait_http(meta_url, proc):
        W.idp_why = f"the IdP (`mcp-auth as` with [[id_jag_targets]]) did not start: {tail('idp', 5)}"
        return
    r = requests.get(meta_url, timeout=10)
    if r.status_code != 200:
        r = requests.get(f"{W.idp_issuer}/.well-known/oauth-authorization-server", timeout=10)
    W.idp_meta = r.json() if r.status_code == 200 else {}
    W.idp_up = True
    rotate_idp_keys(idp_data)


def rotate_idp_keys(idp_data):
    """EMA-IDP-14: an ID token signed before `as rotate-keys` (kept in W.pre_rotation), then the
    rotation; the IdP picks the new key up within 10 s (checked in checks_idp_policy). Done before
    the MCP AS first reads the IdP's keys, so that its refetch window plays no part."""
    from .oidc import sign_in
    W.pre_rotation = sign_in("setup.pre-rotation", "alice", "desktop-agent", quiet=True)
    W.pre_rotation_jwks = requests.get(W.idp_meta["jwks_uri"], timeout=10).json()
    rc, out, err = run_cli(["as", "rotate-keys", "--config", "idp.toml", "--data-dir", idp_data])
    W.rotated_at = time.time() if rc == 0 else None
    W.rotate_why = "" if rc == 0 else f"`as rotate-keys` failed: {err.strip()[:200]}"


FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/faketime/libfaketime.so.1", "/usr/local/lib/faketime/libfaketime.so.1")


def timed_sign_ins(idp_data):
    """ID tokens the IdP signed on a clock two hours behind (expired now) and one hour ahead
    (iat in the future), for EMA-IDP-5: the IdP itself runs briefly under libfaketime, on the
    same data directory (same keys) and issuer, before the real IdP starts."""
    from .oidc import authorize, redeem_code
    W.timed_id_tokens = {}
    lib = os.environ.get("EMA_FAKETIME_LIB") or next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)
    if not lib:
        W.timed_why = "libfaketime is not installed (apt-get install faketime), so no expired ID token can be made"
        return
    W.timed_why = ""
    for key, offset in (("expired", "-7200"), ("future", "+3600"), ("nearly-expired", "-3500")):
        name = f"idp-{key}"
        proc = start(name, [W.binary, "as", "--config", "idp.toml", "--data-dir", idp_data],
                     env={"LD_PRELOAD": lib, "FAKETIME": offset, "DONT_FAKE_MONOTONIC": "1"})
        try:
            url = f"{W.idp_issuer}/.well-known/openid-configuration"
            if not wait_http(url, proc):
                W.timed_why += f" the IdP under faketime {offset} did not start: {tail(name, 3)};"
                continue
            W.idp_meta = requests.get(url, timeout=10).json()
            query, verifier, _ = authorize("desktop-agent", "alice", scope="openid", nonce="timed")
            r = redeem_code("desktop-agent", query.get("code", ""), verifier)
            tok = r.json().get("id_token") if r.status_code == 200 else None
            if tok:
                W.timed_id_tokens[key] = tok
            else:
                W.timed_why += f" sign-in under faketime {offset}: {r.status_code} {r.text[:200]};"
        except Exception as e:
            W.timed_why += f" sign-in under faketime {offset}: {e!r};"
        finally:
            stop(name)
