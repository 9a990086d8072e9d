"""The loopback HTTP servers (Python http.server, every request counted per path) and the
platform issuers they play: a Kubernetes-shaped issuer with OpenID Connect discovery, a
GitHub-shaped issuer configured by `jwks_uri`, a SPIFFE bundle endpoint, a "misc" server hosting
JWK Sets and discovery documents for the edge cases, an unconfigured issuer and an attacker's key
server."""

import http.server
import json
import secrets
import socket
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives.asymmetric import ec

from .common import W, log
from .minting import Key
from .report import FORBIDDEN_IN_DESC


# --------------------------------------------------------------------------- loopback servers


class Req:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body
        self.t = time.time()

    def form(self):
        return urllib.parse.parse_qsl(self.body.decode(), keep_blank_values=True)


class Site:
    """One loopback HTTP/1.0 server (one connection per request, so stopping it really takes it
    down). Routes map a path to a function(Req) -> (status, headers, body). Every request is
    recorded."""

    def __init__(self, name):
        self.name = name
        self.routes = {}
        self.hits = []
        self.lock = threading.Lock()
        self.port = 0
        self.server = None
        self.start()

    def start(self):
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                site._serve(self, "GET")

            def do_POST(self):
                site._serve(self, "POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self, h, method):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(h.path).path
        req = Req(method, path, h.headers, body)
        with self.lock:
            self.hits.append(req)
        fn = self.routes.get(path)
        try:
            status, headers, out = fn(req) if fn else (404, {"Content-Type": "text/plain"}, b"not found")
        except Exception as e:  # a bug in a route: answer 500, say it
            log(f"{self.name}: route {path} failed: {e!r}")
            status, headers, out = 500, {}, b"route error"
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(out)))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(out)
        except OSError:
            pass

    def json(self, path, obj_or_fn, status=200, headers=None, delay=0.0):
        def route(req):
            if delay:
                time.sleep(delay)
            obj = obj_or_fn() if callable(obj_or_fn) else obj_or_fn
            body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
            return status, {"Content-Type": "application/json", **(headers or {})}, body
        self.routes[path] = route

    def count(self, path=None):
        with self.lock:
            return sum(1 for r in self.hits if path is None or r.path == path)

    def times(self, path):
        with self.lock:
            return [r.t for r in self.hits if r.path == path]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------- the test issuers


def start_issuers():
    """The issuers of setup(), with their keys; the values no description may carry."""
    # --- the issuers
    W.k8s = Site("k8s")
    W.gh = Site("github")
    W.sp = Site("spiffe")
    W.misc = Site("misc")
    W.uncfg = Site("unconfigured")
    W.attacker = Site("attacker")

    # Kubernetes-shaped: OIDC discovery, RS256 keys with alg and use, long max-age so that only
    # unknown-kid refetches happen during the run.
    W.k8s_iss = W.k8s.url()
    W.k8s_key1 = Key("RSA", kid="k8s-" + secrets.token_hex(4), jwk_alg="RS256", use="sig")
    W.k8s_key2 = Key("RSA", kid="k8s-" + secrets.token_hex(4), jwk_alg="RS256", use="sig")
    W.k8s_keys = [W.k8s_key1]
    W.k8s.json("/.well-known/openid-configuration", {
        "issuer": W.k8s_iss, "jwks_uri": W.k8s.url("/openid/v1/jwks"),
        "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"]},
        headers={"Cache-Control": "max-age=3600"})
    W.k8s.json("/openid/v1/jwks", lambda: {"keys": [k.jwk() for k in W.k8s_keys]},
               headers={"Cache-Control": "max-age=3600"})

    # GitHub-shaped: configured jwks_uri (no discovery). One RSA key without `alg`; the entry
    # allows RS256 only. It also serves a discovery document the AS must not read.
    W.gh_iss = W.gh.url()
    W.gh_key = Key("RSA", kid="gh-" + secrets.token_hex(4), use="sig")
    W.gh_jwks_path = "/.well-known/jwks"
    W.gh_jwks_mode = "ok"

    def gh_jwks(req):
        if W.gh_jwks_mode == "down":
            return 503, {"Content-Type": "text/plain"}, b"outage"
        return 200, {"Content-Type": "application/json", "Cache-Control": "max-age=3600"}, \
            json.dumps({"keys": [W.gh_key.jwk()]}).encode()
    W.gh.routes[W.gh_jwks_path] = gh_jwks
    W.gh.json("/.well-known/openid-configuration", {"issuer": W.gh_iss, "jwks_uri": W.gh.url("/discovered-jwks")})
    W.gh.json("/discovered-jwks", {"keys": [W.gh_key.jwk()]})

    # SPIFFE bundle endpoint: ES256 jwt-svid key with kid; plus keys that must be ignored (no
    # kid; use x509-svid) and keys of algorithms to test (RSA, Ed25519). Refresh hint 5 s, no
    # Cache-Control: cached 60 s (the clamp).
    W.sp_ec = Key("EC", kid="sp-" + secrets.token_hex(8), use="jwt-svid")
    W.sp_rsa = Key("RSA", kid="sp-rsa-" + secrets.token_hex(4), use="jwt-svid")
    W.sp_ed = Key("OKP", kid="sp-ed-" + secrets.token_hex(4), use="jwt-svid")
    W.sp_nokid = Key("EC", kid=None, use="jwt-svid")
    W.sp_x509 = Key("EC", kid="sp-x509-" + secrets.token_hex(4), use="x509-svid")
    W.sp_sig = Key("EC", kid="sp-sig-" + secrets.token_hex(4), use="sig")
    W.sp_nouse = Key("EC", kid="sp-nouse-" + secrets.token_hex(4))
    W.sp.json("/bundle", {
        "keys": [W.sp_ec.jwk(), W.sp_rsa.jwk(), W.sp_ed.jwk(), W.sp_nokid.jwk(), W.sp_x509.jwk(),
                 W.sp_sig.jwk(), W.sp_nouse.jwk()],
        "spiffe_refresh_hint": 5, "spiffe_sequence": 1})

    # keysel: key selection and algorithms (default algorithm list).
    W.ks_iss = "https://keysel.example.test"
    W.ks = {
        "rsa_a": Key("RSA", kid="rsa-a-" + secrets.token_hex(3), jwk_alg="RS256", use="sig"),
        "rsa_b": Key("RSA", kid="rsa-b-" + secrets.token_hex(3), jwk_alg="RS256"),
        "noalg": Key("RSA", kid="noalg-" + secrets.token_hex(3)),
        "ec256": Key("EC", kid="ec256-" + secrets.token_hex(3), jwk_alg="ES256"),
        "ec256_noalg": Key("EC", kid="ec256n-" + secrets.token_hex(3)),
        "ec384": Key("EC", kid="ec384-" + secrets.token_hex(3), curve=ec.SECP384R1(), jwk_alg="ES384"),
        "ed": Key("OKP", kid="ed-" + secrets.token_hex(3), jwk_alg="EdDSA"),
        "ops_verify": Key("RSA", kid="opsv-" + secrets.token_hex(3), key_ops=["verify"]),
    }
    W.misc.json("/keysel/jwks", {"keys": [k.jwk() for k in W.ks.values()]})
    W.misc.json("/rsa8192/jwks", lambda: {"keys": [W.rsa8192["key"].jwk()]})

    # One odd key beside a good one per entry: the odd key must be unusable, the set still usable.
    W.odd = {}
    good = lambda: Key("RSA", kid="good-" + secrets.token_hex(3), jwk_alg="RS256")
    weak = Key("RSA", kid="weak-" + secrets.token_hex(3), bits=1024, jwk_alg="RS256")
    enc = Key("RSA", kid="enc-" + secrets.token_hex(3), use="enc")
    opsign = Key("RSA", kid="opsign-" + secrets.token_hex(3), key_ops=["sign"])
    dup_kid = "dup-" + secrets.token_hex(3)
    dup1, dup2 = Key("RSA", kid=dup_kid), Key("RSA", kid=dup_kid)
    priv = Key("RSA", kid="priv-" + secrets.token_hex(3))
    for name, odd, jwks_odd in (
        ("weak", weak, [weak.jwk()]),
        ("enc", enc, [enc.jwk()]),
        ("opsign", opsign, [opsign.jwk()]),
        ("dup", dup1, [dup1.jwk(), dup2.jwk()]),
        ("priv", priv, [priv.private_jwk()]),
    ):
        g = good()
        W.odd[name] = (f"https://odd-{name}.example.test", g, odd)
        W.misc.json(f"/odd-{name}/jwks", {"keys": [g.jwk()] + jwks_odd})

    # Fetch guard and cache behaviour entries (misc server).
    W.simple_key = Key("RSA", kid="simple-" + secrets.token_hex(3), jwk_alg="RS256")
    simple_jwks = {"keys": [W.simple_key.jwk()]}
    W.simple_jwks = simple_jwks
    W.misc.json("/burst/jwks", simple_jwks, delay=1.0)
    W.misc.routes["/redir/jwks"] = lambda req: (302, {"Location": W.misc.url("/redir/target")}, b"")
    W.misc.json("/redir/target", simple_jwks)
    pad = lambda n: dict(simple_jwks, **{"x-padding": "p" * n})
    W.misc.json("/big/jwks", pad(70 * 1024))
    W.misc.json("/bigok/jwks", pad(60 * 1024))
    W.misc.json("/slow/jwks", simple_jwks, delay=7.0)
    W.misc.json("/slowok/jwks", simple_jwks, delay=2.0)
    W.misc.json("/flaky/jwks", {"error": "x"}, status=500)
    W.misc.json("/maxage/jwks", simple_jwks, headers={"Cache-Control": "max-age=1"})
    W.misc.routes["/notjson/jwks"] = lambda req: (200, {"Content-Type": "application/json"}, b"keys: none")
    W.misc.json("/status201/jwks", simple_jwks, status=201)
    W.dead_port = free_port()  # nothing listens there

    # Discovery: RFC 8414 fallback on 404, and no fallback on 500; issuer mismatch.
    W.r8414_iss = W.misc.url("/tenant")
    W.misc.json("/.well-known/oauth-authorization-server/tenant",
                {"issuer": W.r8414_iss, "jwks_uri": W.misc.url("/tenant/jwks")})
    W.misc.json("/tenant/jwks", simple_jwks)
    W.t500_iss = W.misc.url("/t500")
    W.misc.json("/t500/.well-known/openid-configuration", {"error": "boom"}, status=500)
    W.misc.json("/.well-known/oauth-authorization-server/t500",
                {"issuer": W.t500_iss, "jwks_uri": W.misc.url("/t500/jwks")})
    W.misc.json("/t500/jwks", simple_jwks)
    W.badiss_iss = W.misc.url("/badiss")
    W.misc.json("/badiss/.well-known/openid-configuration",
                {"issuer": W.badiss_iss + "/", "jwks_uri": W.misc.url("/badiss/jwks")})
    W.misc.json("/badiss/jwks", simple_jwks)

    # An issuer nobody configured, and an attacker's key server.
    W.uncfg_key = Key("RSA", kid="uncfg-" + secrets.token_hex(3), jwk_alg="RS256")
    W.uncfg.json("/.well-known/openid-configuration",
                 {"issuer": W.uncfg.url(), "jwks_uri": W.uncfg.url("/jwks")})
    W.uncfg.json("/jwks", {"keys": [W.uncfg_key.jwk()]})
    W.att_key = Key("RSA", kid="att-" + secrets.token_hex(3), jwk_alg="RS256")
    W.att_ec = Key("EC", kid=None)
    W.attacker.json("/jwks", {"keys": [W.att_key.jwk()]})
    W.attacker.json("/x5u", {"keys": [W.att_key.jwk()]})

    # Claim values and fetched URLs (WIF-AS-24). Request parameters (resource, scope) and
    # principals are neither, so they are not listed.
    for site in (W.k8s, W.gh, W.sp, W.misc, W.uncfg, W.attacker):
        FORBIDDEN_IN_DESC.add(site.url())
    FORBIDDEN_IN_DESC.update({"spiffe://", "system:serviceaccount:", "repo:acme", "89012345", "1234567",
                              "octo-person-4711", "wl-7f3a", "planner-6d5f9c7b8", "node-7",
                              "other-rp.example.test", "keysel.example.test", "dead.example.test",
                              "burst.example", "redir.example", "big.example", "bigok.example",
                              "slow.example", "slowok.example", "flaky.example", "maxage.example",
                              "rsa8192.example"})
    for k in [W.k8s_key1, W.k8s_key2, W.gh_key, W.sp_ec, W.sp_rsa, W.sp_ed, W.sp_x509, W.sp_sig, W.sp_nouse,
              W.att_key, W.uncfg_key, W.simple_key, *W.ks.values()]:
        FORBIDDEN_IN_DESC.add(k.kid)
