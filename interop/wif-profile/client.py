#!/usr/bin/env python3
"""Independent black-box client and test suite for profiles/workload-identity-federation.md.

Written from the profile document alone (plus README.md, docs/*.md and `mcp-auth ... --help`);
the project's Rust sources were not read. Section numbers (§) refer to the profile document.

usage: client.py <mcp-auth binary> <workdir>

It plays everything outside the authorization server:
  * platform issuers on loopback (Python http.server): a Kubernetes-shaped issuer with OpenID
    Connect discovery, a GitHub-shaped issuer configured by `jwks_uri`, a SPIFFE bundle endpoint,
    and a "misc" server hosting JWK Sets and discovery documents for the edge cases; every request
    they receive is counted per path;
  * the AS's TOML configuration (Appendix A / §6), then `mcp-auth as` on a free port;
  * assertions minted with PyJWT (never with the project's code);
  * a client of §7.7 (WIF-C-*), run against a mock AS and, end to end, against the real AS with
    `mcp-auth gateway` + `mcp-auth demo-server` as the protected MCP endpoint.

Prints `PASS <name>` / `FAIL <name>: <why>` per check and `interop: N passed, M failed`;
exits 1 when a check failed. INTEROP_VERBOSE=1 prints every token-endpoint answer to stderr.
"""

import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
import warnings

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, get_default_algorithms
from jwt.utils import der_to_raw_signature

warnings.filterwarnings("ignore", message=".*below the minimum recommended size.*")  # the 1024-bit test key
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
VERBOSE = os.environ.get("INTEROP_VERBOSE") == "1"
PYJWT_ALGS = get_default_algorithms()
DEL = object()  # "remove this claim" marker for the claim builders


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------- results

PASSED = 0
FAILED = 0
FAILURES = []


def check(name, ok, why=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}", flush=True)
    else:
        FAILED += 1
        FAILURES.append(name)
        print(f"FAIL {name}: {why}", flush=True)
    return ok


# --------------------------------------------------------------------------- keys and JWS


class Key:
    """A signing key pair and its public JWK."""

    def __init__(self, kind, kid=None, bits=2048, curve=None, jwk_alg=None, **jwk_extra):
        self.kind = kind
        self.kid = kid
        if kind == "RSA":
            self.priv = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            self.pyjwt = RSAAlgorithm
        elif kind == "EC":
            self.priv = ec.generate_private_key(curve or ec.SECP256R1())
            self.pyjwt = ECAlgorithm
        elif kind == "OKP":
            self.priv = ed25519.Ed25519PrivateKey.generate()
            self.pyjwt = OKPAlgorithm
        else:
            raise ValueError(kind)
        self.pub = self.priv.public_key()
        self.jwk_alg = jwk_alg
        self.jwk_extra = jwk_extra

    def jwk(self, **extra):
        d = json.loads(self.pyjwt.to_jwk(self.pub))
        if self.kid is not None:
            d["kid"] = self.kid
        if self.jwk_alg:
            d["alg"] = self.jwk_alg
        d.update(self.jwk_extra)
        d.update(extra)
        return {k: v for k, v in d.items() if v is not None}

    def private_jwk(self, **extra):
        d = json.loads(self.pyjwt.to_jwk(self.priv))
        if self.kid is not None:
            d["kid"] = self.kid
        if self.jwk_alg:
            d["alg"] = self.jwk_alg
        d.update(extra)
        return d


def sign_raw(alg, key, signing_input: bytes) -> bytes:
    """A JWS signature computed with PyJWT's algorithm implementations."""
    if alg == "none":
        return b""
    algo = PYJWT_ALGS[alg]
    k = key.priv if isinstance(key, Key) else key
    if isinstance(k, ec.EllipticCurvePrivateKey):
        # PyJWT refuses a key of another curve than the algorithm's; a refused-key case needs one.
        return der_to_raw_signature(k.sign(signing_input, ec.ECDSA(algo.hash_alg())), k.curve)
    return algo.sign(signing_input, algo.prepare_key(k) if isinstance(k, (bytes, str)) else k)


def compact(header=None, claims=None, key=None, alg=None, raw_header=None, raw_claims=None,
            sig=None):
    """A compact JWS built by hand (for malformed cases PyJWT's encoder refuses to make)."""
    hb = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    pb = raw_claims if raw_claims is not None else json.dumps(claims, separators=(",", ":")).encode()
    signing_input = (b64u(hb) + "." + b64u(pb)).encode()
    if sig is None:
        sig = sign_raw(alg or header["alg"], key, signing_input)
    return signing_input.decode() + "." + b64u(sig)


def mint(claims, key, alg, kid="__key__", typ=None, headers=None):
    """The regular way: PyJWT's encoder. typ None means no `typ` header."""
    h = {"typ": typ}
    if kid == "__key__":
        kid = key.kid
    if kid is not None:
        h["kid"] = kid
    if headers:
        h.update(headers)
    return jwt.encode(claims, key.priv, algorithm=alg, headers=h)


def jwk_thumbprint(jwk):
    """RFC 7638."""
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
    canon = {k: jwk[k] for k in members[jwk["kty"]]}
    return b64u(hashlib.sha256(json.dumps(canon, separators=(",", ":"), sort_keys=True).encode()).digest())


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


# --------------------------------------------------------------------------- the world


class World:
    pass


W = World()
HTTP = requests.Session()
DESCRIPTIONS = []          # (check name, status, error, description) of every error answer
STEP_678 = []              # (check name, description) of answers refused at steps 6 to 8
FORBIDDEN_IN_DESC = set()  # claim values, kids, URLs that must never appear in a description


class Resp:
    def __init__(self, r):
        self.status = r.status_code
        self.headers = r.headers
        self.text = r.text
        try:
            self.json = r.json()
        except ValueError:
            self.json = None
        j = self.json if isinstance(self.json, dict) else {}
        self.error = j.get("error")
        self.desc = j.get("error_description")

    def brief(self):
        return f"{self.status} {self.text[:300]}"


def post_token(form=None, headers=None, body=None):
    if body is None:
        body = urllib.parse.urlencode(form).encode()
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    h.update(headers or {})
    r = HTTP.post(W.token_endpoint, data=body, headers=h, timeout=30)
    resp = Resp(r)
    if VERBOSE:
        log(f"  token endpoint -> {resp.brief()}")
    return resp


def grant_form(assertion, resource=None, scope=None, extra=()):
    f = [("grant_type", JWT_BEARER), ("assertion", assertion), ("resource", resource or W.R1)]
    if scope is not None:
        f.append(("scope", scope))
    f.extend(extra)
    return f


def request(assertion, resource=None, scope=None, extra=(), headers=None):
    return post_token(grant_form(assertion, resource, scope, extra), headers=headers)


def no_store(resp):
    return "no-store" in (resp.headers.get("Cache-Control") or "").lower()


def expect_error(name, resp, status, error, step678=False):
    problems = []
    if resp.status != status:
        problems.append(f"status {resp.status}, expected {status}")
    if resp.error != error:
        problems.append(f"error {resp.error!r}, expected {error!r}")
    if not no_store(resp):
        problems.append(f"Cache-Control {resp.headers.get('Cache-Control')!r}, expected no-store")
    if "json" not in (resp.headers.get("Content-Type") or ""):
        problems.append(f"Content-Type {resp.headers.get('Content-Type')!r}")
    if resp.error is not None:
        DESCRIPTIONS.append((name, resp.status, resp.error, resp.desc))
    if step678 and resp.status == 400 and resp.error == "invalid_grant":
        STEP_678.append((name, resp.desc))
    return check(name, not problems, "; ".join(problems) + f" [got {resp.brief()}]")


def as_jwks_key(kid):
    for attempt in range(2):
        for k in W.as_jwks.get("keys", []):
            if k.get("kid") == kid:
                return k
        W.as_jwks = HTTP.get(W.as_meta["jwks_uri"], timeout=10).json()
    return None


def verify_access_token(at, resource):
    """Verify with PyJWT against the AS's jwks_uri (RFC 9068). Returns (header, claims)."""
    hdr = jwt.get_unverified_header(at)
    jwk = as_jwks_key(hdr.get("kid"))
    if jwk is None:
        raise ValueError(f"kid {hdr.get('kid')!r} not in the AS's JWKS")
    key = jwt.PyJWK(jwk, algorithm=hdr["alg"]).key
    claims = jwt.decode(at, key, algorithms=[hdr["alg"]], audience=resource, issuer=W.issuer,
                        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
                        leeway=5)
    return hdr, claims


RFC9068_CLAIMS = {"iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope", "cnf", "nbf",
                  "auth_time", "acr", "amr"}


def expect_token(name, resp, principal, resource, scope=None, token_type="Bearer",
                 assertion_claims=None):
    """The token response of §7.4 and the access token of WIF-AS-21. Returns the claims or None."""
    problems = []
    if resp.status != 200:
        return check(name, False, f"no token: {resp.brief()}") and None
    j = resp.json or {}
    if not no_store(resp):
        problems.append(f"Cache-Control {resp.headers.get('Cache-Control')!r}")
    if str(j.get("token_type", "")).lower() != token_type.lower():
        problems.append(f"token_type {j.get('token_type')!r}, expected {token_type}")
    if "refresh_token" in j:
        problems.append("a refresh_token was issued (D11)")
    claims = None
    try:
        hdr, claims = verify_access_token(j.get("access_token", ""), resource)
    except Exception as e:
        problems.append(f"access token does not verify: {e}")
    if claims is not None:
        typ = str(hdr.get("typ", "")).lower()
        if typ not in ("at+jwt", "application/at+jwt"):
            problems.append(f"access token typ {hdr.get('typ')!r}, expected at+jwt")
        if claims.get("sub") != principal:
            problems.append(f"sub {claims.get('sub')!r}, expected {principal!r}")
        if claims.get("client_id") != principal:
            problems.append(f"client_id {claims.get('client_id')!r}, expected {principal!r}")
        aud = claims.get("aud")
        if aud != resource and aud != [resource]:
            problems.append(f"aud {aud!r}, expected {resource!r}")
        if "act" in claims:
            problems.append("act present")
        if scope is not None and set(str(claims.get("scope", "")).split()) != set(scope.split()):
            problems.append(f"scope {claims.get('scope')!r}, expected {scope!r}")
        if scope is not None and set(str(j.get("scope", "")).split()) != set(scope.split()):
            problems.append(f"response scope {j.get('scope')!r}, expected {scope!r}")
        if not isinstance(j.get("expires_in"), int):
            problems.append(f"expires_in {j.get('expires_in')!r}")
        elif abs((claims["exp"] - now()) - j["expires_in"]) > 3:
            problems.append(f"expires_in {j['expires_in']} vs exp - now {claims['exp'] - now()}")
        if assertion_claims:
            for k in claims:
                if k not in RFC9068_CLAIMS and k in assertion_claims:
                    problems.append(f"claim {k!r} copied from the assertion")
            if "jti" in assertion_claims and claims.get("jti") == assertion_claims["jti"]:
                problems.append("jti copied from the assertion")
            if claims.get("sub") == assertion_claims.get("sub") and principal != assertion_claims.get("sub"):
                problems.append("sub copied from the assertion")
        if token_type == "DPoP" and not (claims.get("cnf") or {}).get("jkt"):
            problems.append(f"cnf {claims.get('cnf')!r}: no jkt")
    check(name, not problems, "; ".join(problems))
    return claims if not problems else None


# --------------------------------------------------------------------------- assertions


def k8s_claims(sub="system:serviceaccount:mcp-agents:planner", namespace="mcp-agents", **over):
    t = now()
    c = {
        "aud": [W.issuer],
        "exp": t + 3600,
        "iat": t,
        "nbf": t,
        "iss": W.k8s_iss,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": {
            "namespace": namespace,
            "node": {"name": "node-7", "uid": str(uuid.uuid4())},
            "pod": {"name": "planner-6d5f9c7b8-x2k4q", "uid": str(uuid.uuid4())},
            "serviceaccount": {"name": sub.rsplit(":", 1)[-1] if isinstance(sub, str) else "x", "uid": "3c1f2b7a-9d4e-4f7a-8b2c-5e6f7a8b9c0d"},
        },
        "sub": sub,
    }
    return apply(c, over)


def gh_claims(**over):
    t = now()
    c = {
        "jti": str(uuid.uuid4()),
        "sub": "repo:acme/deploy-tools:environment:production",
        "environment": "production",
        "aud": W.issuer,
        "ref": "refs/heads/main",
        "repository": "acme/deploy-tools",
        "repository_id": "89012345",
        "repository_owner": "acme",
        "repository_owner_id": "1234567",
        "actor": "octo-person-4711",
        "event_name": "workflow_dispatch",
        "iss": W.gh_iss,
        "nbf": t - 5,
        "iat": t,
        "exp": t + 600,
    }
    return apply(c, over)


SPIFFE_ID = "spiffe://prod.example/ns/mcp-agents/sa/indexer"


def svid_claims(sub=SPIFFE_ID, **over):
    t = now()
    return apply({"aud": [W.issuer], "exp": t + 300, "iat": t, "sub": sub}, over)


def wl_claims(iss, sub="wl-7f3a-workload", **over):
    t = now()
    return apply({"iss": iss, "sub": sub, "aud": W.issuer, "iat": t, "exp": t + 600}, over)


def apply(c, over):
    c.update(over)
    return {k: v for k, v in c.items() if v is not DEL}


def k8s(claims=None, **kw):
    return mint(claims or k8s_claims(), W.k8s_key1, "RS256", **kw)


def gh(claims=None, **kw):
    kw.setdefault("typ", "JWT")
    return mint(claims or gh_claims(), W.gh_key, "RS256", **kw)


def svid(claims=None, key=None, alg="ES256", **kw):
    kw.setdefault("typ", "JWT")
    return mint(claims or svid_claims(), key or W.sp_ec, alg, **kw)


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
    W.demo_port = free_port()
    W.issuer = f"http://127.0.0.1:{W.as_port}"
    W.R1 = f"http://127.0.0.1:{W.gw_port}/mcp"        # the gateway's protected endpoint
    W.R2 = "https://mcp2.example.test/mcp"
    W.R3 = "https://mcp3.example.test/mcp"
    W.R_UNKNOWN = "https://unknown.example.test/mcp"

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
    W.misc.json("/short/jwks", simple_jwks)
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
    W.demo_proc = spawn("demo-server", [binary, "demo-server", "--listen", f"127.0.0.1:{W.demo_port}",
                                        "--stateless", "--json-response"], workdir)
    W.gw_proc = spawn("gateway", [binary, "gateway", "--upstream", f"http://127.0.0.1:{W.demo_port}/mcp",
                                  "--resource", W.R1, "--issuer", W.issuer,
                                  "--listen", f"127.0.0.1:{W.gw_port}", "--allow-bearer", "--dpop"], workdir)
    try:
        wait_url(f"http://127.0.0.1:{W.gw_port}/healthz", W.gw_proc, "mcp-auth gateway", seconds=60)
        W.gateway_ok = True
    except SystemExit as e:
        log(f"client.py: the gateway did not start ({e}); end-to-end checks will fail")
        W.gateway_ok = False


# --------------------------------------------------------------------------- DPoP and HTTPSig


class DPoPKey:
    def __init__(self):
        self.key = Key("EC")
        self.public_jwk = {k: v for k, v in self.key.jwk().items() if k in ("kty", "crv", "x", "y")}
        self.jkt = jwk_thumbprint(self.public_jwk)

    def proof(self, htm, htu, ath=None, nonce=None, iat=None, typ="dpop+jwt"):
        claims = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu, "iat": iat or now()}
        if ath:
            claims["ath"] = ath
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.key.priv, algorithm="ES256",
                          headers={"typ": typ, "jwk": self.public_jwk})


def post_with_dpop(form, dpop, extra_headers=None, **proof_kw):
    """RFC 9449 §8: one retry with the server's nonce when it asks for one."""
    resp = post_token(form, headers={"DPoP": dpop.proof("POST", W.token_endpoint, **proof_kw),
                                     **(extra_headers or {})})
    if resp.error == "use_dpop_nonce" and resp.headers.get("DPoP-Nonce"):
        resp = post_token(form, headers={"DPoP": dpop.proof("POST", W.token_endpoint,
                                                            nonce=resp.headers["DPoP-Nonce"], **proof_kw),
                                         **(extra_headers or {})})
    return resp


def httpsig_headers(body: bytes, target_uri, keyid=None, bogus=False):
    """An RFC 9421 token-request signature with a runtime Ed25519 key: tag
    httpsig-oauth-token-request, `alg` and `pub` (the shape shown in
    interop/httpsig-profile/README.md; not in the WIF document)."""
    key = ed25519.Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    params = (f'("@method" "@target-uri" "content-digest");created={now()};'
              f'nonce="{secrets.token_urlsafe(16)}";tag="httpsig-oauth-token-request";alg="ed25519";')
    params += f'keyid="{keyid}"' if keyid else "pub=:" + base64.b64encode(pub).decode() + ":"
    base = (f'"@method": POST\n"@target-uri": {target_uri}\n"content-digest": {digest}\n'
            f'"@signature-params": {params}')
    sig = key.sign(base.encode()) if not bogus else secrets.token_bytes(64)
    return {"Content-Digest": digest, "Signature-Input": f"sig={params}",
            "Signature": "sig=:" + base64.b64encode(sig).decode() + ":"}, b64u(pub)


# =========================================================================== checks


def check_metadata():
    m = W.as_meta
    check("WIF-AS-1.metadata-lists-jwt-bearer", JWT_BEARER in (m.get("grant_types_supported") or []),
          f"grant_types_supported {m.get('grant_types_supported')}")
    text = json.dumps(m)
    leaked = [s for s in (W.k8s_iss, W.gh_iss, "prod.example", W.ks_iss, "example.test") if s in text]
    check("S5.1.metadata-names-no-trusted-issuer", not leaked, f"metadata mentions {leaked}")


def warmup():
    """Valid assertions of the three presets (WIF-AS-1, WIF-AS-21); the key sets get cached."""
    c = k8s_claims()
    a = k8s(c)
    r = request(a)
    W.k8s_token = expect_token("WIF-AS-1.k8s-assertion-gets-token", r, PLANNER, W.R1, scope="mcp:read",
                               assertion_claims=c)
    log(f"client.py: the Kubernetes preset's access token: {W.k8s_token}")
    check("WIF-AS-21.k8s-token-carries-principal-not-claims", W.k8s_token is not None and
          not any(k in W.k8s_token for k in ("kubernetes.io", "namespace", "pod")),
          f"claims {W.k8s_token}")
    c = gh_claims()
    r = request(gh(c, headers={"x5t": b64u(secrets.token_bytes(20))}))
    t = expect_token("WIF-AS-1.github-assertion-gets-token", r, GH_PROD, W.R1, scope="mcp:read",
                     assertion_claims=c)
    check("WIF-AS-21.github-token-carries-principal-not-claims", t is not None and
          not any(k in t for k in ("repository", "repository_id", "actor", "ref", "environment")), f"claims {t}")
    check("WIF-AS-6.x5t-header-ignored", r.status == 200, r.brief())
    c = svid_claims()
    r = request(svid(c))
    t = expect_token("WIF-AS-1.spiffe-svid-gets-token", r, SPIFFE_ID, W.R1, scope="mcp:read", assertion_claims=c)
    check("WIF-AS-21.spiffe-token-fresh-jti-and-iss", t is not None and t.get("iss") == W.issuer, f"claims {t}")
    r = request(mint(wl_claims(W.ks_iss), W.ks["rsa_a"], "RS256"))
    expect_token("WIF-AS-1.keysel-jwks-uri-entry-gets-token", r, "keysel-principal", W.R1)
    r = request(mint(wl_claims(W.plain["maxage"]), W.simple_key, "RS256"))
    check("WIF-AS-1.max-age-1-entry-gets-token", r.status == 200, r.brief())
    c = k8s_claims(iss=W.lab_iss)
    r = request(mint(c, W.lab_key, "RS256"))
    expect_token("WIF-AS-1.jwks-file-entry-gets-token", r, "k8s-lab:mcp-agents/planner", W.R1, scope="mcp:read",
                 assertion_claims=c)
    # A few more valid requests: each key set was read once (cache, §6.2).
    before = (W.k8s.count("/openid/v1/jwks"), W.gh.count(W.gh_jwks_path), W.sp.count("/bundle"),
              W.k8s.count("/.well-known/openid-configuration"))
    for _ in range(3):
        request(k8s())
        request(gh())
        request(svid())
    after = (W.k8s.count("/openid/v1/jwks"), W.gh.count(W.gh_jwks_path), W.sp.count("/bundle"),
             W.k8s.count("/.well-known/openid-configuration"))
    check("WIF-AS-13.key-sets-cached", before == after and all(x >= 1 for x in after),
          f"fetch counts (k8s jwks, gh jwks, bundle, k8s discovery) before {before}, after {after}")
    check("WIF-AS-9.oidc-discovery-read", W.k8s.count("/.well-known/openid-configuration") >= 1
          and W.k8s.count("/openid/v1/jwks") >= 1,
          f"discovery {W.k8s.count('/.well-known/openid-configuration')}, jwks {W.k8s.count('/openid/v1/jwks')}")
    check("S6.2.jwks-uri-entry-does-no-discovery",
          W.gh.count("/.well-known/openid-configuration") == 0 and W.gh.count("/discovered-jwks") == 0,
          f"GitHub-shaped issuer saw {[r.path for r in W.gh.hits]}")


def rotation_begin():
    """WIF-AS-12/13: a new kid is published; its first use; a flood of unknown kids."""
    W.k8s_keys.append(W.k8s_key2)
    W.rot_count0 = W.k8s.count("/openid/v1/jwks")
    W.rot_t0 = time.time()
    r = request(mint(k8s_claims(), W.k8s_key2, "RS256"))
    W.rot_first = r
    W.rot_accepted_at = time.time() if r.status == 200 else None
    for _ in range(20):
        request(mint(k8s_claims(), W.k8s_key1, "RS256", kid="rand-" + secrets.token_hex(6)))
    inc = W.k8s.count("/openid/v1/jwks") - W.rot_count0
    check("WIF-AS-13.unknown-kid-flood-at-most-one-refetch", inc <= 1,
          f"{inc} key-set fetches for one new kid and 20 unknown kids within {time.time() - W.rot_t0:.1f} s")


def rotation_finish():
    # §12.2: "The AS finds a new key within a minute of its first use". Polled every second
    # from 50 s on (2 s of slack for the poll and the request).
    deadline = W.rot_t0 + 62
    r = W.rot_first
    while W.rot_accepted_at is None and time.time() < deadline:
        time.sleep(1 if time.time() - W.rot_t0 > 50 else 5)
        r = request(mint(k8s_claims(), W.k8s_key2, "RS256"))
        if r.status == 200:
            W.rot_accepted_at = time.time()
    check("WIF-AS-12.rotated-kid-accepted-within-a-minute", W.rot_accepted_at is not None,
          f"kid {W.k8s_key2.kid} still refused {time.time() - W.rot_t0:.0f} s after its first use: {r.brief()}")
    if W.rot_accepted_at is not None:
        log(f"client.py: new kid accepted {W.rot_accepted_at - W.rot_t0:.1f} s after its first use; "
            f"k8s key-set fetches at {[round(t - W.rot_t0, 1) for t in W.k8s.times('/openid/v1/jwks')]} s")
    c0 = W.k8s.count("/openid/v1/jwks")
    for _ in range(20):
        request(mint(k8s_claims(), W.k8s_key1, "RS256", kid="rand-" + secrets.token_hex(6)))
    times = W.k8s.times("/openid/v1/jwks")
    inc = len(times) - c0
    check("WIF-AS-13.second-unknown-kid-flood-at-most-one-refetch", inc <= 1, f"{inc} fetches")
    gaps = [round(b - a, 1) for a, b in zip(times[1:], times[2:])]
    check("WIF-AS-13.refetches-at-least-60s-apart", all(g >= 59 for g in gaps),
          f"k8s key-set fetch times (s after the first): {[round(t - times[0], 1) for t in times]}")
    r = request(k8s())
    check("WIF-AS-12.old-kid-still-accepted-after-rotation", r.status == 200, r.brief())


def check_form():
    """§10.1 step 1 rows, WIF-AS-2."""
    a = k8s()
    expect_error("S10.1.unsupported-grant-type", post_token(
        [("grant_type", "urn:example:not-a-grant"), ("assertion", a), ("resource", W.R1)]),
        400, "unsupported_grant_type")
    expect_error("WIF-AS-2.assertion-missing", post_token(
        [("grant_type", JWT_BEARER), ("resource", W.R1)]), 400, "invalid_request")
    expect_error("WIF-AS-2.assertion-repeated", post_token(grant_form(a, extra=[("assertion", a)])),
                 400, "invalid_request")
    expect_error("WIF-AS-2.assertion-repeated-different", post_token(grant_form(a, extra=[("assertion", k8s())])),
                 400, "invalid_request")
    expect_error("WIF-AS-2.resource-missing", post_token(
        [("grant_type", JWT_BEARER), ("assertion", a)]), 400, "invalid_request")
    expect_error("WIF-AS-2.resource-repeated-same", post_token(grant_form(a, extra=[("resource", W.R1)])),
                 400, "invalid_target")
    expect_error("WIF-AS-2.resource-repeated-different", post_token(grant_form(a, extra=[("resource", W.R2)])),
                 400, "invalid_target")
    expect_error("S10.1.scope-repeated", post_token(grant_form(a, scope="mcp:read", extra=[("scope", "mcp:read")])),
                 400, "invalid_request")
    expect_error("S10.1.grant-type-repeated", post_token(grant_form(a, extra=[("grant_type", JWT_BEARER)])),
                 400, "invalid_request")


def check_structure():
    """§7.3 step 2 and WIF-AS-6: compact JWS, size, JSON objects without repeated members."""
    a = k8s()
    h, p, s = a.split(".")
    rsa_sign = lambda raw_h, raw_c: compact(raw_header=raw_h, raw_claims=raw_c, key=W.k8s_key1, alg="RS256")
    cases = [
        ("not-a-jws", "not-a-jws"),
        ("two-parts", f"{h}.{p}"),
        ("four-parts", f"{a}.{s}"),
        ("jwe-five-parts", ".".join([b64u(b'{"alg":"RSA-OAEP","enc":"A256GCM"}'), b64u(b"k"), b64u(b"iv"),
                                     b64u(b"ct"), b64u(b"tag")])),
        ("json-serialization", json.dumps({"payload": p, "signatures": [{"protected": h, "signature": s}]})),
        ("header-not-base64url", f"!!{h}.{p}.{s}"),
        ("header-not-object", rsa_sign(b'["alg","RS256"]', json.dumps(k8s_claims()).encode())),
        ("header-repeated-member", rsa_sign(
            ('{"alg":"RS256","kid":"%s","kid":"%s"}' % (W.k8s_key1.kid, W.k8s_key1.kid)).encode(),
            json.dumps(k8s_claims()).encode())),
    ]
    for name, assertion in cases:
        expect_error(f"WIF-AS-6.{name}-refused", request(assertion), 400, "invalid_grant")
    # Claims: not an object, repeated member (validly signed).
    hdr = json.dumps({"alg": "RS256", "kid": W.k8s_key1.kid}).encode()
    expect_error("WIF-AS-6.claims-not-object-refused", request(rsa_sign(hdr, b'[1,2]')), 400, "invalid_grant")
    c = json.dumps(k8s_claims(sub="system:serviceaccount:other:nobody"))
    dup = c[:-1] + ', "sub": "system:serviceaccount:mcp-agents:planner"}'
    expect_error("WIF-AS-6.claims-repeated-member-refused", request(rsa_sign(hdr, dup.encode())), 400, "invalid_grant")

    # 16 KiB exactly: accepted; one byte more: refused.
    def exact(target):
        """An assertion of exactly `target` bytes (a padding claim, and an ignored header
        parameter for the last few bytes)."""
        probe = mint(dict(k8s_claims(), padding=""), W.k8s_key1, "RS256")
        base_pad = int((target - len(probe)) * 3 / 4) - 12
        for extra in range(0, 40):
            for m in range(0, 6):
                cl = k8s_claims()
                cl["padding"] = "x" * (base_pad + extra)
                out = mint(cl, W.k8s_key1, "RS256", headers={"xp": "y" * m} if m else None)
                if len(out) == target:
                    return out
        raise RuntimeError(f"cannot build an assertion of {target} bytes")
    at_limit = exact(16384)
    over = exact(16385)
    r = request(at_limit)
    check("WIF-AS-6.assertion-of-16384-bytes-accepted", r.status == 200, f"len {len(at_limit)}: {r.brief()}")
    expect_error("WIF-AS-6.assertion-of-16385-bytes-refused", request(over), 400, "invalid_grant")


def check_typ():
    """WIF-AS-3."""
    for typ in (None, "JWT", "jwt", "JOSE", "jose", "application/jwt", "application/JOSE", "Application/Jwt"):
        r = request(k8s(typ=typ))
        check(f"WIF-AS-3.typ-{typ or 'absent'}-accepted", r.status == 200, r.brief())
    for typ in ("at+jwt", "application/at+jwt", "dpop+jwt", "wit+jwt", "JWT+x", "secevent+jwt", "jwt "):
        expect_error(f"WIF-AS-3.typ-{typ.replace(' ', '_')}-refused", request(k8s(typ=typ)), 400, "invalid_grant")
    expect_error("WIF-AS-3.typ-number-refused", request(compact(
        {"alg": "RS256", "kid": W.k8s_key1.kid, "typ": 1}, k8s_claims(), W.k8s_key1)), 400, "invalid_grant")
    # §12.8: an access token of this AS cannot come back as an assertion.
    own = request(k8s())
    if own.status == 200:
        expect_error("WIF-AS-3.own-access-token-refused", request(own.json["access_token"]), 400, "invalid_grant")
    # An ID-JAG-typed token signed by a trusted workload issuer, with claims a rule matches: the AS
    # does not implement the enterprise profile (README: planned), so invalid_grant (§10.1).
    for typ in ("oauth-id-jag+jwt", "application/OAUTH-ID-JAG+JWT"):
        c = k8s_claims()
        c["client_id"] = "some-client"
        c["resource"] = W.R1
        expect_error(f"WIF-AS-3.id-jag-typ-{typ.replace('/', '-').lower()}-not-a-workload-assertion",
                     request(k8s(c, typ=typ)), 400, "invalid_grant")


def check_no_client():
    """WIF-AS-4, §7.3 step 3."""
    basic = "Basic " + base64.b64encode(b"some-client:some-secret").decode()
    expect_error("WIF-AS-4.authorization-basic-refused", request(k8s(), headers={"Authorization": basic}),
                 400, "invalid_request")
    expect_error("WIF-AS-4.authorization-bearer-refused", request(k8s(), headers={"Authorization": "Bearer abc"}),
                 400, "invalid_request")
    for param, value in (("client_id", "some-client"), ("client_secret", "s3cret"),
                         ("client_assertion", k8s()),
                         ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")):
        expect_error(f"WIF-AS-4.{param}-refused", request(k8s(), extra=[(param, value)]), 400, "invalid_request")
    # A principal is not a client: its name as client_id is still client authentication.
    expect_error("WIF-AS-4.principal-as-client-id-refused", request(k8s(), extra=[("client_id", PLANNER)]),
                 400, "invalid_request")


def check_binding():
    """WIF-AS-5, §7.5: DPoP and runtime-key HTTPSig on this grant."""
    dp = DPoPKey()
    c = k8s_claims()
    r = post_with_dpop(grant_form(k8s(c)), dp)
    t = expect_token("WIF-AS-5.dpop-bound-token", r, PLANNER, W.R1, scope="mcp:read", token_type="DPoP",
                     assertion_claims=c)
    check("WIF-AS-5.dpop-cnf-jkt-is-rfc7638-thumbprint",
          t is not None and (t.get("cnf") or {}).get("jkt") == dp.jkt,
          f"cnf {t and t.get('cnf')}, expected jkt {dp.jkt}")
    bad = post_token(grant_form(k8s()), headers={"DPoP": dp.proof("GET", W.token_endpoint)})
    ok = bad.status == 400 and bad.error in ("invalid_dpop_proof", "use_dpop_nonce") and no_store(bad)
    DESCRIPTIONS.append(("WIF-AS-5.dpop-proof-wrong-htm", bad.status, bad.error, bad.desc))
    check("WIF-AS-5.dpop-proof-wrong-htm-refused", ok, bad.brief())
    bad = post_token(grant_form(k8s()), headers={"DPoP": dp.proof("POST", W.issuer + "/elsewhere")})
    check("WIF-AS-5.dpop-proof-wrong-htu-refused",
          bad.status == 400 and bad.error in ("invalid_dpop_proof", "use_dpop_nonce"), bad.brief())
    W.dpop_key = dp

    # Runtime-key token-request signature.
    body = urllib.parse.urlencode(grant_form(k8s(c2 := k8s_claims()))).encode()
    hs, pub = httpsig_headers(body, W.token_endpoint)
    r = post_token(body=body, headers=hs)
    t = expect_token("WIF-AS-5.httpsig-runtime-key-bound-token", r, PLANNER, W.R1, scope="mcp:read",
                     token_type="httpsig", assertion_claims=c2)
    check("WIF-AS-5.httpsig-cnf-htsk-present", t is not None and "htsk" in (t.get("cnf") or {}),
          f"cnf {t and t.get('cnf')}")
    if t is not None and VERBOSE:
        log(f"  cnf.htsk {t['cnf'].get('htsk')!r}, pub b64url {pub}")
    body = urllib.parse.urlencode(grant_form(k8s())).encode()
    hs, _ = httpsig_headers(body, W.token_endpoint, keyid="some-registered-key")
    expect_error("WIF-AS-5.httpsig-keyid-refused", post_token(body=body, headers=hs), 400, "invalid_signature")
    # Both a valid signature and a valid DPoP proof.
    body = urllib.parse.urlencode(grant_form(k8s())).encode()
    hs, _ = httpsig_headers(body, W.token_endpoint)
    hs["DPoP"] = dp.proof("POST", W.token_endpoint)
    expect_error("WIF-AS-5.dpop-and-signature-refused", post_token(body=body, headers=hs), 400, "invalid_request")
    # A signature that does not verify, alone (§10.1 step 4 row 1).
    body = urllib.parse.urlencode(grant_form(k8s())).encode()
    hs, _ = httpsig_headers(body, W.token_endpoint, bogus=True)
    expect_error("S10.1.signature-fails-invalid-signature", post_token(body=body, headers=hs),
                 400, "invalid_signature")
    # Both, the signature bogus (signature bytes random).
    body = urllib.parse.urlencode(grant_form(k8s())).encode()
    hs, _ = httpsig_headers(body, W.token_endpoint, bogus=True)
    hs["DPoP"] = dp.proof("POST", W.token_endpoint)
    expect_error("WIF-AS-5.dpop-and-bogus-signature-refused", post_token(body=body, headers=hs),
                 400, "invalid_request")


def check_algorithms():
    """WIF-AS-7 and §7.3 step 5."""
    ks = W.ks
    wl = lambda **o: wl_claims(W.ks_iss, **o)
    accepted = [("RS256", ks["noalg"]), ("PS256", ks["noalg"]), ("PS384", ks["noalg"]), ("PS512", ks["noalg"]),
                ("ES256", ks["ec256"]), ("ES384", ks["ec384"]), ("EdDSA", ks["ed"])]
    for alg, key in accepted:
        r = request(mint(wl(), key, alg))
        check(f"WIF-AS-7.{alg}-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-7.alg-none-refused", request(compact(
        {"alg": "none", "kid": ks["noalg"].kid}, wl(), None, alg="none")), 400, "invalid_grant")
    expect_error("WIF-AS-7.HS256-refused", request(compact(
        {"alg": "HS256", "kid": ks["noalg"].kid}, wl(), b"a-shared-secret-of-enough-length!!", alg="HS256")),
        400, "invalid_grant")
    for alg in ("RS384", "RS512"):
        expect_error(f"WIF-AS-7.{alg}-refused", request(mint(wl(), ks["noalg"], alg)), 400, "invalid_grant")
    p521 = Key("EC", kid=ks["ec256"].kid, curve=ec.SECP521R1())
    expect_error("WIF-AS-7.ES512-refused", request(mint(wl(), p521, "ES512")), 400, "invalid_grant")
    expect_error("WIF-AS-7.fully-specified-Ed25519-refused", request(compact(
        {"alg": "Ed25519", "kid": ks["ed"].kid}, wl(), ks["ed"], alg="EdDSA")), 400, "invalid_grant")
    # The entry's allow-list: the GitHub entry allows RS256 only; its key has no `alg`.
    expect_error("WIF-AS-7.alg-outside-entry-list-refused", request(mint(gh_claims(), W.gh_key, "PS256", typ="JWT")),
                 400, "invalid_grant", step678=True)
    # A trust-domain entry never accepts EdDSA, even with an Ed25519 jwt-svid key in its bundle.
    expect_error("WIF-AS-7.spiffe-EdDSA-refused", request(svid(key=W.sp_ed, alg="EdDSA")),
                 400, "invalid_grant", step678=True)
    r = request(svid(key=W.sp_rsa, alg="RS256"))
    expect_token("WIF-AS-7.spiffe-RS256-accepted", r, SPIFFE_ID, W.R1)


def check_keys():
    """WIF-AS-12 (key selection), WIF-AS-10 (bundle keys), WIF-AS-6 (keys never from the header)."""
    ks = W.ks
    wl = lambda **o: wl_claims(W.ks_iss, **o)
    expect_error("WIF-AS-12.unknown-kid-refused", request(mint(wl(), ks["noalg"], "RS256", kid="nope-" + secrets.token_hex(4))),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-12.key-alg-differs-from-header-refused", request(mint(wl(), ks["rsa_a"], "PS256")),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-12.P256-key-for-ES384-refused", request(compact(
                 {"alg": "ES384", "kid": ks["ec256_noalg"].kid}, wl(), ks["ec256_noalg"])),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-12.RSA-kid-for-ES256-refused", request(mint(wl(), ks["ec256"], "ES256", kid=ks["noalg"].kid)),
                 400, "invalid_grant", step678=True)
    r = request(mint(wl(), ks["ops_verify"], "RS256"))
    check("WIF-AS-12.key-ops-verify-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-12.no-kid-ambiguous-RS256-refused", request(mint(wl(), ks["noalg"], "RS256", kid=None)),
                 400, "invalid_grant", step678=True)
    r = request(mint(wl(), ks["ec384"], "ES384", kid=None))
    check("WIF-AS-12.no-kid-single-ES384-key-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-12.no-kid-two-P256-keys-refused", request(mint(wl(), ks["ec256"], "ES256", kid=None)),
                 400, "invalid_grant", step678=True)
    r = request(mint(gh_claims(), W.gh_key, "RS256", kid=None, typ="JWT"))
    check("WIF-AS-12.no-kid-single-key-set-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-12.bad-signature-refused", request(mint(wl(), Key("RSA"), "RS256", kid=ks["noalg"].kid)),
                 400, "invalid_grant", step678=True)
    W.rsa8192_thread.join()
    r = request(mint(wl_claims(W.plain["rsa8192"]), W.rsa8192["key"], "RS256"))
    check("WIF-AS-12.rsa-8192-bit-key-accepted", r.status == 200, r.brief())
    for name, (iss, good, odd) in W.odd.items():
        r = request(mint(wl_claims(iss), good, "RS256"))
        check(f"WIF-AS-12.set-with-{name}-key-still-usable", r.status == 200, r.brief())
        expect_error(f"WIF-AS-12.{name}-key-refused", request(mint(wl_claims(iss), odd, "RS256")),
                     400, "invalid_grant", step678=True)

    # SPIFFE bundle: only jwt-svid keys with a kid.
    expect_error("WIF-AS-10.bundle-key-without-kid-unused", request(svid(key=W.sp_nokid, kid=None)),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-10.bundle-x509-svid-key-unused", request(svid(key=W.sp_x509)),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-10.bundle-use-sig-key-unused", request(svid(key=W.sp_sig)),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-10.bundle-key-without-use-unused", request(svid(key=W.sp_nouse)),
                 400, "invalid_grant", step678=True)
    r = request(svid(kid=None))
    check("WIF-AS-10.no-kid-svid-uses-the-one-jwt-svid-ES256-key", r.status == 200, r.brief())
    c = svid_claims()
    c["iss"] = W.k8s_iss
    r = request(mint(c, W.k8s_key1, "RS256"))
    expect_error("WIF-AS-10.spiffe-sub-signed-by-issuer-key-refused", r, 400, "invalid_grant", step678=True)

    # Keys from the header are never used; jku/x5u never fetched.
    expect_error("WIF-AS-6.jku-not-followed", request(mint(wl(), W.att_key, "RS256",
                 headers={"jku": W.attacker.url("/jwks")})), 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-6.x5u-not-followed", request(mint(wl(), W.att_key, "RS256",
                 headers={"x5u": W.attacker.url("/x5u")})), 400, "invalid_grant", step678=True)
    att_jwk = {k: v for k, v in W.att_ec.jwk().items() if k in ("kty", "crv", "x", "y")}
    expect_error("WIF-AS-6.embedded-jwk-not-used", request(mint(wl(), W.att_ec, "ES256", kid=None,
                 headers={"jwk": att_jwk})), 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-6.crit-refused", request(mint(wl(), ks["noalg"], "RS256",
                 headers={"crit": ["x-ext"], "x-ext": 1})), 400, "invalid_grant")
    expect_error("WIF-AS-6.crit-exp-refused", request(mint(wl(), ks["noalg"], "RS256",
                 headers={"crit": ["exp"], "exp": now() + 60})), 400, "invalid_grant")


def check_selection():
    """WIF-AS-8, §7.3 step 6, D2."""
    c = svid_claims()
    c["iss"] = W.k8s_iss
    r = request(svid(c))
    expect_token("WIF-AS-8.spiffe-sub-selects-trust-domain-whatever-iss", r, SPIFFE_ID, W.R1)
    c = k8s_claims(sub="spiffe://other.example/ns/x/sa/y")
    expect_error("WIF-AS-8.unconfigured-trust-domain-falls-back-to-iss",
                 request(k8s(c)), 400, "unauthorized_client")
    c = wl_claims(W.uncfg.url())
    expect_error("WIF-AS-8.unconfigured-issuer-refused", request(mint(c, W.uncfg_key, "RS256")),
                 400, "invalid_grant", step678=True)
    c = k8s_claims(sub="system:serviceaccount:mcp-agents:planner", iss=DEL)
    expect_error("WIF-AS-8.no-iss-no-spiffe-sub-refused", request(k8s(c)), 400, "invalid_grant", step678=True)
    c = k8s_claims(iss=W.k8s_iss + "/")
    expect_error("WIF-AS-8.iss-trailing-slash-refused", request(k8s(c)), 400, "invalid_grant", step678=True)
    c = k8s_claims(iss=[W.k8s_iss])
    expect_error("WIF-AS-8.iss-not-a-string-refused", request(compact(
        {"alg": "RS256", "kid": W.k8s_key1.kid}, c, W.k8s_key1)), 400, "invalid_grant", step678=True)
    c = svid_claims(sub="spiffe://PROD.example/ns/mcp-agents/sa/indexer")
    expect_error("WIF-AS-8.trust-domain-compared-exactly", request(svid(c)), 400, "invalid_grant", step678=True)


def check_discovery_entries():
    """WIF-AS-9 and WIF-AS-11 (with the tester's server)."""
    key = W.simple_key
    r = request(mint(wl_claims(W.r8414_iss), key, "RS256"))
    expect_token("WIF-AS-9.rfc8414-location-after-oidc-404", r, "rfc8414-principal", W.R1)
    oidc = W.misc.times("/tenant/.well-known/openid-configuration")
    r8414 = W.misc.times("/.well-known/oauth-authorization-server/tenant")
    check("WIF-AS-9.oidc-location-read-first", oidc and r8414 and min(oidc) <= min(r8414),
          f"OIDC location hits {len(oidc)}, RFC 8414 location hits {len(r8414)}")

    # The OIDC location answers 500: a failed fetch (no RFC 8414 fallback), so no key set: 503.
    r = request(mint(wl_claims(W.t500_iss), key, "RS256"))
    expect_error("WIF-AS-9.oidc-500-is-a-failed-fetch", r, 503, "temporarily_unavailable")
    check("WIF-AS-9.no-rfc8414-fallback-on-500", W.misc.count("/.well-known/oauth-authorization-server/t500") == 0,
          f"RFC 8414 location read {W.misc.count('/.well-known/oauth-authorization-server/t500')} times")
    # §6.2: a document whose issuer differs "is not the issuer's": invalid_grant, steps 6–8's text.
    r = request(mint(wl_claims(W.badiss_iss), key, "RS256"))
    expect_error("WIF-AS-9.discovery-issuer-mismatch-refused", r, 400, "invalid_grant", step678=True)
    check("WIF-AS-9.mismatched-document-jwks-uri-never-read", W.misc.count("/badiss/jwks") == 0,
          f"read {W.misc.count('/badiss/jwks')} times")

    # Fetch guard (WIF-AS-11): redirect, size, time. With no key set cached: 503.
    r = request(mint(wl_claims(W.plain["redir"]), key, "RS256"))
    expect_error("WIF-AS-11.redirect-not-followed", r, 503, "temporarily_unavailable")
    check("WIF-AS-11.redirect-target-never-fetched", W.misc.count("/redir/target") == 0,
          f"{W.misc.count('/redir/target')} hits")
    expect_error("WIF-AS-11.key-set-over-64KiB-refused",
                 request(mint(wl_claims(W.plain["big"]), key, "RS256")), 503, "temporarily_unavailable")
    r = request(mint(wl_claims(W.plain["bigok"]), key, "RS256"))
    check("WIF-AS-11.key-set-of-60KiB-accepted", r.status == 200, r.brief())
    t0 = time.time()
    r = request(mint(wl_claims(W.plain["slow"]), key, "RS256"))
    took = time.time() - t0
    expect_error("WIF-AS-11.key-set-slower-than-5s-refused", r, 503, "temporarily_unavailable")
    check("WIF-AS-11.slow-fetch-abandoned-after-about-5s", took < 6.8, f"the request took {took:.1f} s")
    r = request(mint(wl_claims(W.plain["slowok"]), key, "RS256"))
    check("WIF-AS-11.key-set-in-2s-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-11.key-set-not-json-refused",
                 request(mint(wl_claims(W.plain["notjson"]), key, "RS256")), 503, "temporarily_unavailable")
    expect_error("WIF-AS-11.key-set-status-201-refused",
                 request(mint(wl_claims(W.plain["status201"]), key, "RS256")), 503, "temporarily_unavailable")

    # WIF-AS-13: no key set → 503; failed fetches retried at most once per 60 s.
    for i in range(4):
        r = request(mint(wl_claims(W.plain["flaky"]), key, "RS256"))
        if i == 0:
            expect_error("WIF-AS-13.no-key-set-is-503", r, 503, "temporarily_unavailable")
    check("WIF-AS-13.failed-fetch-retried-at-most-once-per-60s", W.misc.count("/flaky/jwks") <= 1,
          f"{W.misc.count('/flaky/jwks')} fetches for 4 requests within a few seconds")
    expect_error("WIF-AS-13.unreachable-key-source-is-503",
                 request(mint(wl_claims(W.dead_iss), key, "RS256")), 503, "temporarily_unavailable")

    # Single flight: concurrent first requests of an entry wait for one fetch.
    results = []
    def one():
        try:
            results.append(request(mint(wl_claims(W.plain["burst"]), key, "RS256")).status)
        except Exception as e:
            results.append(repr(e))
    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check("WIF-AS-13.concurrent-requests-share-one-fetch",
          results == [200] * 8 and W.misc.count("/burst/jwks") == 1,
          f"statuses {results}, key-set fetches {W.misc.count('/burst/jwks')}")


def check_aud():
    """WIF-AS-14."""
    r = request(k8s(k8s_claims(aud=W.issuer)))
    check("WIF-AS-14.aud-string-accepted", r.status == 200, r.brief())
    r = request(k8s(k8s_claims(aud=[W.issuer])))
    check("WIF-AS-14.aud-one-element-array-accepted", r.status == 200, r.brief())
    cases = [
        ("trailing-slash", W.issuer + "/"),
        ("token-endpoint", W.token_endpoint),
        ("two-audiences", [W.issuer, "https://other-rp.example.test"]),
        ("issuer-twice", [W.issuer, W.issuer]),
        ("upper-case-host", W.issuer.replace("http://127.0.0.1", "HTTP://127.0.0.1")),
        ("other-rp", "https://other-rp.example.test"),
        ("empty-array", []),
        ("missing", DEL),
        ("not-a-string", 12345),
    ]
    for name, aud in cases:
        r = request(k8s(k8s_claims(aud=aud)))
        expect_error(f"WIF-AS-14.aud-{name}-refused", r, 400, "invalid_grant")
        if name == "other-rp":
            W.aud_desc = r.desc


def check_times():
    """WIF-AS-15 with margins around the defaults (skew 60 s, lifetime 3660 s)."""
    t = now()
    ok = lambda n, c: check(n, (r := request(k8s(c))).status == 200, r.brief())
    bad = lambda n, c: expect_error(n, request(k8s(c)), 400, "invalid_grant")
    ok("WIF-AS-15.exp-45s-ago-within-skew-accepted", k8s_claims(iat=t - 600, nbf=t - 600, exp=t - 45))
    bad("WIF-AS-15.exp-75s-ago-refused", k8s_claims(iat=t - 600, nbf=t - 600, exp=t - 75))
    bad("WIF-AS-15.exp-missing-refused", k8s_claims(exp=DEL))
    bad("WIF-AS-15.exp-not-a-number-refused", k8s_claims(exp=str(t + 600)))
    ok("WIF-AS-15.nbf-45s-ahead-accepted", k8s_claims(nbf=t + 45))
    bad("WIF-AS-15.nbf-75s-ahead-refused", k8s_claims(nbf=t + 75))
    ok("WIF-AS-15.iat-45s-ahead-accepted", k8s_claims(iat=t + 45, nbf=DEL, exp=t + 1800))
    bad("WIF-AS-15.iat-75s-ahead-refused", k8s_claims(iat=t + 75, nbf=DEL, exp=t + 1800))
    ok("WIF-AS-15.lifetime-3660s-accepted", k8s_claims(iat=t - 10, nbf=DEL, exp=t - 10 + 3660))
    bad("WIF-AS-15.lifetime-3661s-refused", k8s_claims(iat=t - 10, nbf=DEL, exp=t - 10 + 3661))
    ok("WIF-AS-15.kubernetes-3607s-accepted", k8s_claims(iat=t, nbf=t, exp=t + 3607))
    ok("WIF-AS-15.no-iat-exp-in-3700s-accepted", k8s_claims(iat=DEL, nbf=DEL, exp=t + 3700))
    bad("WIF-AS-15.no-iat-exp-in-3740s-refused", k8s_claims(iat=DEL, nbf=DEL, exp=t + 3740))
    bad("WIF-AS-15.one-year-refused", k8s_claims(iat=t, exp=t + 31536000))


def check_entry_numbers():
    """WIF-AS-15 / WIF-AS-18 with an entry's own clock_skew (0) and max_assertion_lifetime (600)."""
    key = W.simple_key
    t = now()
    send = lambda **o: request(mint(wl_claims(W.short_iss, **o), key, "RS256"))
    r = send(iat=t - 10, exp=t - 10 + 600)
    check("WIF-AS-15.entry-lifetime-600-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-15.entry-lifetime-601-refused", send(iat=t - 10, exp=t - 10 + 601), 400, "invalid_grant")
    expect_error("WIF-AS-15.entry-skew-0-exp-5s-ago-refused", send(iat=t - 300, exp=t - 5), 400, "invalid_grant")
    expect_error("WIF-AS-15.entry-skew-0-nbf-5s-ahead-refused", send(nbf=t + 5), 400, "invalid_grant")
    expect_error("WIF-AS-15.entry-skew-0-iat-5s-ahead-refused", send(iat=t + 5, exp=t + 300), 400, "invalid_grant")
    r = send(iat=DEL, exp=t + 590)
    check("WIF-AS-15.entry-no-iat-exp-in-590s-accepted", r.status == 200, r.brief())
    expect_error("WIF-AS-15.entry-no-iat-exp-in-610s-refused", send(iat=DEL, exp=t + 610), 400, "invalid_grant")
    t = now()
    r = send(iat=t, exp=t + 500)
    if r.status == 200:
        _, cl = verify_access_token(r.json["access_token"], W.R1)
        check("WIF-AS-18.entry-skew-0-token-ends-at-assertion-exp", abs(cl["exp"] - (t + 500)) <= 2,
              f"exp {cl['exp'] - t} s after iat, expected 500 (ttl 900, skew 0)")
    else:
        check("WIF-AS-18.entry-skew-0-token-ends-at-assertion-exp", False, r.brief())


def check_sub():
    """WIF-AS-16."""
    for name, sub in (("missing", DEL), ("empty", ""), ("number", 42), ("null", None)):
        c = k8s_claims()
        if sub is DEL:
            del c["sub"]
        else:
            c["sub"] = sub
        expect_error(f"WIF-AS-16.sub-{name}-refused", request(compact(
            {"alg": "RS256", "kid": W.k8s_key1.kid}, c, W.k8s_key1)), 400, "invalid_grant")
    for name, sub in (("dot-segment", "spiffe://prod.example/ns/../sa/indexer"),
                      ("empty-segment", "spiffe://prod.example/ns//indexer"),
                      ("trailing-slash", "spiffe://prod.example/ns/mcp-agents/sa/indexer/"),
                      ("query", "spiffe://prod.example/ns/mcp-agents?sa=indexer"),
                      ("fragment", "spiffe://prod.example/ns/mcp-agents#indexer"),
                      ("percent-encoded", "spiffe://prod.example/ns/mcp%2Dagents"),
                      ("space", "spiffe://prod.example/ns/mcp agents")):
        r = request(svid(svid_claims(sub=sub)))
        expect_error(f"WIF-AS-16.spiffe-id-{name}-refused", r, 400, "invalid_grant")
        W.__dict__.setdefault("spiffe_id_descs", []).append((name, r.desc))


def check_reuse_and_lifetime():
    """WIF-AS-17, WIF-AS-18."""
    c = k8s_claims()
    a = k8s(c)
    rs = [request(a, W.R1), request(a, W.R2), request(a, W.R1)]
    ok = all(r.status == 200 for r in rs)
    jtis = set()
    problems = []
    for r, res in zip(rs, (W.R1, W.R2, W.R1)):
        if r.status != 200:
            problems.append(r.brief())
            continue
        if "refresh_token" in (r.json or {}):
            problems.append("refresh_token issued")
        try:
            _, cl = verify_access_token(r.json["access_token"], res)
            jtis.add(cl["jti"])
        except Exception as e:
            problems.append(f"token for {res}: {e}")
    check("WIF-AS-17.one-assertion-three-requests-two-resources", ok and not problems and len(jtis) == 3,
          "; ".join(problems) or f"distinct jti {len(jtis)}")

    def at_exp(name, claims, expected, resource=None, mint_fn=k8s, principal=PLANNER):
        r = request(mint_fn(claims), resource or W.R1)
        if r.status != 200:
            return check(name, False, r.brief())
        _, cl = verify_access_token(r.json["access_token"], resource or W.R1)
        return check(name, abs(cl["exp"] - expected) <= 2 and abs(r.json.get("expires_in", -99) - (expected - now())) <= 3,
                     f"exp {cl['exp'] - now()} s from now (expires_in {r.json.get('expires_in')}), "
                     f"expected {expected - now()}")
    t = now()
    at_exp("WIF-AS-18.rule-ttl-600-when-assertion-lives-longer", k8s_claims(exp=t + 3000), t + 600)
    t = now()
    at_exp("WIF-AS-18.assertion-exp-plus-skew-when-earlier", k8s_claims(exp=t + 120), t + 120 + 60)
    t = now()
    at_exp("WIF-AS-18.expired-within-skew-gets-remaining-skew", k8s_claims(iat=t - 600, nbf=t - 600, exp=t - 30),
           t - 30 + 60)
    t = now()
    at_exp("WIF-AS-18.rule-ttl-300-github", gh_claims(exp=t + 3000, iat=t), t + 300, mint_fn=gh)
    t = now()
    at_exp("WIF-AS-18.default-ttl-300-spiffe", svid_claims(exp=t + 1200), t + 300, mint_fn=svid)


def check_rules():
    """WIF-AS-19, WIF-AS-20."""
    sa = lambda s: k8s_claims(sub=f"system:serviceaccount:{s}", namespace=s.split(":")[0])
    r = request(k8s(sa("ordered:exact")), W.R2)
    expect_token("WIF-AS-19.first-matching-rule-decides", r, "k8s:ordered-exact", W.R2)
    expect_error("WIF-AS-19.first-match-not-skipped-for-resource", request(k8s(sa("ordered:exact")), W.R1),
                 400, "invalid_target")
    r = request(k8s(sa("ordered:other")), W.R1)
    expect_token("WIF-AS-19.later-rule-when-earlier-false", r, "k8s:ordered-any", W.R1)
    c = sa("evalerr:svc")
    r = request(k8s(c))
    expect_token("WIF-AS-19.evaluation-error-is-no-match", r, "k8s:evalerr", W.R1)
    c = sa("evalerr:svc")
    c["team"] = {"name": "blue"}
    r = request(k8s(c))
    expect_token("WIF-AS-19.nested-claim-condition", r, "k8s:team-blue", W.R1)
    expect_error("WIF-AS-19.no-rule-matches", request(k8s(sa("other:nobody"))), 400, "unauthorized_client")
    W.no_rule_desc = DESCRIPTIONS[-1][3]
    c = k8s_claims(namespace="elsewhere")  # right sub, wrong namespace
    expect_error("WIF-AS-19.all-conditions-needed", request(k8s(c)), 400, "unauthorized_client")
    c = gh_claims(repository_owner_id="7654321")
    expect_error("WIF-AS-19.github-owner-id-pinned", request(gh(c)), 400, "unauthorized_client")
    c = gh_claims(sub="repo:acme/deploy-tools:ref:refs/heads/main")
    expect_token("WIF-AS-19.github-second-rule", request(gh(c)), "github:acme/deploy-tools@main", W.R1, scope=None)

    expect_error("WIF-AS-20.resource-unknown", request(k8s(), W.R_UNKNOWN), 400, "invalid_target")
    expect_error("WIF-AS-20.resource-not-in-rule", request(k8s(), W.R3), 400, "invalid_target")
    expect_error("WIF-AS-20.resource-with-trailing-slash", request(k8s(), W.R1 + "/"), 400, "invalid_target")
    expect_token("WIF-AS-20.default-scopes-within-rule", request(k8s()), PLANNER, W.R1, scope="mcp:read")
    expect_token("WIF-AS-20.requested-scopes-granted", request(k8s(), scope="mcp:read mcp:write"),
                 PLANNER, W.R1, scope="mcp:read mcp:write")
    expect_token("WIF-AS-20.second-resource", request(k8s(), W.R2), PLANNER, W.R2, scope="mcp:read")
    expect_error("WIF-AS-20.scope-defined-not-allowed-by-rule", request(k8s(), scope="mcp:admin"),
                 400, "invalid_scope")
    expect_error("WIF-AS-20.scope-allowed-not-defined-by-resource", request(k8s(), W.R2, scope="mcp:write"),
                 400, "invalid_scope")
    expect_error("WIF-AS-20.scope-unknown", request(k8s(), scope="mcp:read mcp:nope"), 400, "invalid_scope")


def check_order():
    """WIF-AS-23: requests failing two checks get the first (§7.3 order)."""
    garbage = "not-a-jws"
    expect_error("WIF-AS-23.step1-before-step2-unsupported-grant", post_token(
        [("grant_type", "urn:example:nope"), ("assertion", garbage), ("resource", W.R1)]), 400, "unsupported_grant_type")
    expect_error("WIF-AS-23.step1-before-step2-resource-missing", post_token(
        [("grant_type", JWT_BEARER), ("assertion", garbage)]), 400, "invalid_request")
    expect_error("WIF-AS-23.step1-before-step2-resource-repeated", post_token(
        grant_form(garbage, extra=[("resource", W.R2)])), 400, "invalid_target")
    expect_error("WIF-AS-23.step1-before-step3", post_token(
        grant_form(k8s(), extra=[("resource", W.R2), ("client_id", "x")])), 400, "invalid_target")
    expect_error("WIF-AS-23.step2-before-step3", request(k8s(typ="at+jwt"), headers={"Authorization": "Bearer x"}),
                 400, "invalid_grant")
    expect_error("WIF-AS-23.step3-before-step4", post_token(
        grant_form(k8s(), extra=[("client_id", "x")]),
        headers={"DPoP": W.dpop_key.proof("GET", W.token_endpoint)}), 400, "invalid_request")
    expect_error("WIF-AS-23.step3-before-step5", request(k8s(headers={"crit": ["x"], "x": 1}),
                 extra=[("client_secret", "s")]), 400, "invalid_request")
    r = post_token(grant_form(compact({"alg": "none"}, k8s_claims(), None, alg="none")),
                   headers={"DPoP": W.dpop_key.proof("GET", W.token_endpoint)})
    check("WIF-AS-23.step4-before-step5", r.status == 400 and r.error in ("invalid_dpop_proof", "use_dpop_nonce"),
          r.brief())
    ks = W.ks
    wl = lambda iss, **o: wl_claims(iss, **o)
    expect_error("WIF-AS-23.step7-alg-before-key-source", request(mint(wl(W.dead_iss), W.simple_key, "PS256")),
                 400, "invalid_grant", step678=True)
    expect_error("WIF-AS-23.step7-keys-unavailable-before-step9",
                 request(mint(wl(W.dead_iss, aud="https://other-rp.example.test"), W.simple_key, "RS256")),
                 503, "temporarily_unavailable")
    r = request(mint(wl(W.ks_iss, aud="https://other-rp.example.test"), Key("RSA"), "RS256", kid=ks["noalg"].kid))
    expect_error("WIF-AS-23.step8-before-step9", r, 400, "invalid_grant", step678=True)
    r = request(mint(wl(W.uncfg.url(), aud="https://other-rp.example.test"), W.uncfg_key, "RS256"))
    expect_error("WIF-AS-23.step6-before-step9", r, 400, "invalid_grant", step678=True)
    t = now()
    r = request(k8s(k8s_claims(aud="https://other-rp.example.test", exp=t - 600, iat=t - 1200, nbf=t - 1200)))
    ok = r.status == 400 and r.error == "invalid_grant" and r.desc == getattr(W, "aud_desc", object())
    DESCRIPTIONS.append(("WIF-AS-23.aud-before-exp", r.status, r.error, r.desc))
    check("WIF-AS-23.aud-before-exp", ok, f"{r.brief()} (aud-only description: {getattr(W, 'aud_desc', None)!r})")
    r_exp = request(k8s(k8s_claims(exp=t - 600, iat=t - 1200, nbf=t - 1200)))
    r_both = request(k8s(k8s_claims(exp=t - 600, iat=t - 1200, nbf=t - 1200, sub=DEL)))
    r_sub = request(k8s(k8s_claims(sub=DEL)))
    norm = lambda d: re.sub(r"\d+", "#", d or "")
    ok = r_both.error == "invalid_grant" and norm(r_both.desc) == norm(r_exp.desc) and norm(r_both.desc) != norm(r_sub.desc)
    check("WIF-AS-23.exp-before-sub", ok,
          f"expired+no sub: {r_both.desc!r}; expired: {r_exp.desc!r}; no sub: {r_sub.desc!r}")
    for resp, n in ((r_exp, "exp"), (r_both, "exp+sub"), (r_sub, "sub")):
        DESCRIPTIONS.append((f"WIF-AS-23.{n}", resp.status, resp.error, resp.desc))
    expect_error("WIF-AS-23.step9-before-step10", request(k8s(k8s_claims(
        sub="system:serviceaccount:other:nobody", aud="https://other-rp.example.test"))), 400, "invalid_grant")
    expect_error("WIF-AS-23.step10-before-step11", request(k8s(k8s_claims(
        sub="system:serviceaccount:other:nobody")), W.R_UNKNOWN), 400, "unauthorized_client")
    expect_error("WIF-AS-23.step11-before-step12", request(k8s(), W.R3, scope="mcp:nope"), 400, "invalid_target")
    # A SPIFFE ID malformed in its path reaches step 9 (own description), not the 6–8 one.
    same = [n for n, d in getattr(W, "spiffe_id_descs", []) if d in {d2 for _, d2 in STEP_678}]
    check("WIF-AS-23.invalid-spiffe-id-refused-at-step9-not-6-8", not same and getattr(W, "spiffe_id_descs", None),
          f"these got the step 6–8 description: {same}")


def check_outage():
    """WIF-AS-13: the GitHub-shaped issuer goes down; cached keys keep working."""
    W.gh_jwks_mode = "down"
    c0 = W.gh.count(W.gh_jwks_path)
    r = request(gh())
    check("WIF-AS-13.cached-keys-used-while-issuer-answers-503", r.status == 200, r.brief())
    for _ in range(5):
        rr = request(mint(gh_claims(), W.gh_key, "RS256", kid="gone-" + secrets.token_hex(4), typ="JWT"))
    expect_error("WIF-AS-13.unknown-kid-during-outage-is-invalid-grant-not-503", rr, 400, "invalid_grant", step678=True)
    check("WIF-AS-13.outage-refetch-at-most-once", W.gh.count(W.gh_jwks_path) - c0 <= 1,
          f"{W.gh.count(W.gh_jwks_path) - c0} fetches during the outage")
    r = request(gh())
    check("WIF-AS-13.cached-keys-used-after-a-failed-refetch", r.status == 200, r.brief())
    W.gh.stop()
    r = request(gh())
    check("WIF-AS-13.cached-keys-used-while-issuer-unreachable", r.status == 200, r.brief())


def cache_probes():
    """§6.2: a key set's lifetime is max-age (for a bundle: the smaller refresh hint) clamped to
    60 to 3600 s. Probed with a bundle whose hint is 5 s and a JWK Set with max-age=1."""
    return [("bundle-refresh-hint-5s", W.sp, "/bundle", lambda: request(svid())),
            ("max-age-1s", W.misc, "/maxage/jwks",
             lambda: request(mint(wl_claims(W.plain["maxage"]), W.simple_key, "RS256")))]


def cache_probe_clamp(final=False):
    """Once per probe, when its last fetch is 15 to 50 s old (between other steps), or at the
    end after a wait: a valid request must not make the AS read the key set again."""
    for name, site, path, send in cache_probes():
        key = "clamp-" + name
        if key in W.__dict__:
            continue
        times = site.times(path)
        if not times:
            continue
        age = time.time() - max(times)
        if final and age < 15:
            time.sleep(15 - age)
            age = time.time() - max(times)
        if not (15 <= age <= 50):
            if final:
                check(f"WIF-AS-13.{name}-clamped-to-60s", False, f"could not probe (age {age:.0f} s)")
            continue
        W.__dict__[key] = True
        c = site.count(path)
        r = send()
        time.sleep(1)
        check(f"WIF-AS-13.{name}-clamped-to-60s", r.status == 200 and site.count(path) == c,
              f"key set read again {age:.0f} s after the last read: {site.count(path) - c} fetch(es); "
              f"{r.brief()[:80]}")


def check_no_kid_never_refetches():
    """§6.2: "An assertion without kid never causes a refetch", while an unknown kid does once
    the entry's 60 s window allows. Run when keysel's last fetch is over 60 s old."""
    times = W.misc.times("/keysel/jwks")
    wait = max(times) + 62 - time.time()
    if wait > 0:
        time.sleep(wait)
    c = W.misc.count("/keysel/jwks")
    wl = lambda: wl_claims(W.ks_iss)
    for _ in range(3):
        request(mint(wl(), W.ks["noalg"], "PS256", kid=None))        # ambiguous: two usable keys
        request(mint(wl(), Key("OKP"), "EdDSA", kid=None))           # the one Ed25519 key: bad signature
        request(mint(wl(), Key("EC", curve=ec.SECP384R1()), "ES384", kid=None))
    time.sleep(0.5)
    check("WIF-AS-13.assertion-without-kid-never-refetches", W.misc.count("/keysel/jwks") == c,
          f"{W.misc.count('/keysel/jwks') - c} key-set fetches for 9 refused assertions without kid, "
          f"{time.time() - max(times):.0f} s after the last fetch")
    request(mint(wl(), W.ks["noalg"], "RS256", kid="unknown-" + secrets.token_hex(4)))
    time.sleep(0.5)
    check("WIF-AS-13.unknown-kid-refetches-after-the-window", W.misc.count("/keysel/jwks") == c + 1,
          f"{W.misc.count('/keysel/jwks') - c} fetches for one unknown kid, over 60 s after the last fetch")


def check_cache_expiry():
    """After 60 s (the clamped lifetime) the key set is read again on the next request."""
    for name, site, path, send in cache_probes():
        c = site.count(path)
        wait = max(site.times(path)) + 66 - time.time()
        if wait > 0:
            time.sleep(wait)
        t_last = max(site.times(path))
        r = send()
        for _ in range(30):
            if site.count(path) > c:
                break
            time.sleep(0.1)
        check(f"WIF-AS-13.{name}-read-again-after-60s", r.status == 200 and site.count(path) > c,
              f"{site.count(path) - c} fetches {time.time() - t_last:.0f} s after the last one; {r.brief()[:80]}")


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


def check_descriptions():
    """WIF-AS-24, §10.2."""
    descs = {d for _, d in STEP_678}
    check("WIF-AS-24.steps-6-to-8-share-one-description", len(descs) == 1 and len(STEP_678) >= 10,
          f"{len(STEP_678)} answers, descriptions {sorted(map(str, descs))}")
    if len(descs) == 1:
        d = next(iter(descs))
        log(f"client.py: the step 6–8 description is {d!r}"
            + ("" if d == "the assertion is not signed by an issuer this server trusts" else " (§10.2's example differs)"))
    leaks = []
    for name, status, error, desc in DESCRIPTIONS:
        for s in FORBIDDEN_IN_DESC:
            if s and desc and s in desc:
                leaks.append(f"{name}: {desc!r} contains {s!r}")
        if desc and re.search(r"eyJ[A-Za-z0-9_-]{10,}", desc):
            leaks.append(f"{name}: {desc!r} contains a JWS part")
        if desc and re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", desc):
            leaks.append(f"{name}: {desc!r} contains a uuid (jti, uid claim)")
    check("WIF-AS-24.no-claim-values-or-urls-in-descriptions", not leaks, "; ".join(leaks[:6]))
    missing = [n for n, s, e, d in DESCRIPTIONS if s in (400, 503) and not d]
    check("S10.1.every-error-has-a-description", not missing, f"{missing[:6]}")
    bad_chars = [f"{n}: {d!r}" for n, s, e, d in DESCRIPTIONS if d and re.search(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]', d)]
    check("S10.1.descriptions-rfc6749-charset", not bad_chars, "; ".join(bad_chars[:4]))
    path = os.path.join(W.workdir, "descriptions.txt")
    with open(path, "w") as f:
        seen = set()
        for name, status, error, desc in DESCRIPTIONS:
            if (status, error, desc) not in seen:
                seen.add((status, error, desc))
                f.write(f"{status} {error} {desc!r}  ({name})\n")
    log(f"client.py: {len(seen)} distinct error answers in {path}")


def check_never_contacted():
    check("WIF-AS-8.unconfigured-issuer-never-contacted", W.uncfg.count() == 0,
          f"{[r.path for r in W.uncfg.hits]}")
    check("WIF-AS-6.attacker-jku-x5u-never-fetched", W.attacker.count() == 0, f"{[r.path for r in W.attacker.hits]}")


# =========================================================================== Appendix B

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "profiles",
                   "workload-identity-federation.md")


def check_vectors():
    """Appendix B against the document's own rules, offline: signatures verify with the given
    keys (PyJWT), the shown header and claims are the assertion's, the token requests carry it
    with §7.1's parameters, and the access tokens follow §7.4/§7.6 with Appendix A's rules."""
    text = open(DOC, encoding="utf-8").read()
    m = re.search(r"<!-- BEGIN GENERATED: wif-vectors.*?-->(.*)<!-- END GENERATED: wif-vectors -->", text, re.S)
    if not m or "### B." not in m.group(1):
        check("VEC.appendix-b-present", False, "no generated vectors between the markers")
        return
    sections = {}
    chunks = re.split(r"^### (B\.\d)[^\n]*$", m.group(1), flags=re.M)
    for i in range(1, len(chunks), 2):
        sections[chunks[i]] = chunks[i + 1]
    blocks = lambda sec: re.findall(r"```(\w*)\n(.*?)\n```", sections.get(sec, ""), re.S)
    b1 = blocks("B.1")
    jwks, bundle = json.loads(b1[0][1]), json.loads(b1[1][1])
    as_issuer, resource = "https://as.example.com", "https://mcp.example.com/mcp"
    # (preset, key set, principal of the matching Appendix A rule, its ttl, rule check)
    presets = [
        ("B.2", jwks, "k8s-prod:mcp-agents/planner", 600,
         lambda c: c["sub"] == "system:serviceaccount:mcp-agents:planner"
         and c["kubernetes.io"]["namespace"] == "mcp-agents"
         and c["kubernetes.io"]["serviceaccount"]["uid"] == "3c1f2b7a-9d4e-4f7a-8b2c-5e6f7a8b9c0d"),
        ("B.3", jwks, "github:acme/deploy-tools@main", 300,
         lambda c: c["repository_owner_id"] == "1234567" and c["repository_id"] == "89012345"
         and c["sub"] == "repo:acme/deploy-tools:ref:refs/heads/main"),
        ("B.4", bundle, "spiffe://prod.example/ns/mcp-agents/sa/indexer", 300,
         lambda c: c["sub"] == "spiffe://prod.example/ns/mcp-agents/sa/indexer"),
    ]
    for sec, keyset, principal, ttl, rule in presets:
        bl = blocks(sec)
        try:
            hdr, claims, assertion = json.loads(bl[0][1]), json.loads(bl[1][1]), bl[2][1].strip()
            req, resp = bl[3][1], json.loads(bl[4][1])
            at_hdr, at = json.loads(bl[5][1]), json.loads(bl[6][1])
        except (IndexError, ValueError) as e:
            check(f"VEC.{sec}.parsed", False, repr(e))
            continue
        problems = []
        jwk = next((k for k in keyset["keys"] if k.get("kid") == hdr.get("kid")), None)
        try:
            key = jwt.PyJWK(jwk, algorithm=hdr["alg"]).key
            got = jwt.decode(assertion, key, algorithms=[hdr["alg"]],
                             options={"verify_exp": False, "verify_aud": False, "verify_nbf": False,
                                      "verify_iat": False})
            if got != claims:
                problems.append("the shown claims are not the assertion's")
            if jwt.get_unverified_header(assertion) != hdr:
                problems.append(f"the shown header is not the assertion's: {jwt.get_unverified_header(assertion)}")
        except Exception as e:
            problems.append(f"the assertion does not verify with the B.1 key: {e!r}")
        check(f"VEC.{sec}.assertion-verifies-with-B.1-keys", not problems, "; ".join(problems))
        problems = []
        t = claims.get("iat", 1767225600)
        aud = claims.get("aud")
        if not (aud == as_issuer or aud == [as_issuer]):
            problems.append(f"aud {aud}")
        if claims["exp"] - t > 3660 or claims["exp"] < 1767225600 - 60:
            problems.append("lifetime or exp outside §7.2 at the vectors' clock")
        try:
            if not rule(claims):
                problems.append("the Appendix A rule does not match")
        except KeyError as e:
            problems.append(f"the Appendix A rule reads a missing claim {e}")
        check(f"VEC.{sec}.assertion-valid-and-matches-appendix-a-rule", not problems, "; ".join(problems))
        head, _, body = req.partition("\n\n")
        form = urllib.parse.parse_qsl(body.strip(), keep_blank_values=True)
        fd = dict(form)
        problems = []
        if sorted(k for k, _ in form) != ["assertion", "grant_type", "resource", "scope"]:
            problems.append(f"parameters {sorted(k for k, _ in form)}")
        if fd.get("grant_type") != JWT_BEARER or fd.get("assertion") != assertion or fd.get("resource") != resource:
            problems.append("grant_type, assertion or resource differ")
        if re.search(r"^authorization:", head, re.I | re.M):
            problems.append("an Authorization header")
        check(f"VEC.{sec}.token-request-is-section-7.1", not problems, "; ".join(problems))
        problems = []
        exp = min(1767225600 + ttl, claims["exp"] + 60)
        want = {"aud": resource, "client_id": principal, "sub": principal, "iss": as_issuer,
                "exp": exp, "iat": 1767225600, "scope": fd.get("scope")}
        for k, v in want.items():
            if at.get(k) != v:
                problems.append(f"{k} {at.get(k)!r}, expected {v!r} (§7.4, §7.6)")
        if set(at) - RFC9068_CLAIMS - {"jti"}:
            problems.append(f"extra claims {set(at) - RFC9068_CLAIMS}")
        if at_hdr.get("typ") != "at+jwt":
            problems.append(f"typ {at_hdr.get('typ')}")
        if resp.get("expires_in") != exp - 1767225600 or resp.get("token_type") != "Bearer" or "refresh_token" in resp:
            problems.append(f"response {resp}")
        check(f"VEC.{sec}.access-token-follows-7.4-and-7.6", not problems, "; ".join(problems))
    # B.5: every row's error is the one §10.1 gives for its step.
    allowed = {"1": {"invalid_request", "invalid_target", "unsupported_grant_type"}, "2": {"invalid_grant"},
               "3": {"invalid_request"}, "4": {"invalid_signature", "invalid_dpop_proof", "use_dpop_nonce",
                                              "invalid_request"},
               "5": {"invalid_grant"}, "6": {"invalid_grant"}, "7": {"invalid_grant"}, "8": {"invalid_grant"},
               "9": {"invalid_grant"}, "10": {"unauthorized_client"}, "11": {"invalid_target"},
               "12": {"invalid_scope"}}
    rows = re.findall(r"^\| (\d+): ([^|]*)\| (\d+) \| `([a-z_]+)` \| ([^|]*)\|$", sections.get("B.5", ""), re.M)
    bad = [f"step {s_}: {what.strip()} -> {err}" for s_, what, st, err, d in rows
           if err not in allowed.get(s_, set()) or st != "400"]
    check("VEC.B.5.refusals-match-section-10.1", rows and not bad, f"{len(rows)} rows; {bad}")
    same = {d.strip() for s_, what, st, err, d in rows if s_ in ("6", "7", "8")}
    check("VEC.B.5.steps-6-to-8-one-description", len(same) == 1, f"{same}")
    leaks = [d.strip() for *_, d in rows if any(v in d for v in ("system:serviceaccount", "oidc.cluster.example.com",
                                                                  "1a6e0c52", "test-key", "planner"))]
    check("VEC.B.5.descriptions-carry-no-claim-values", not leaks, f"{leaks}")


# =========================================================================== the client (§7.7)


class NotUsable(Exception):
    """The client refuses to send anything (WIF-C-1, WIF-C-4)."""


class TokenError(Exception):
    def __init__(self, code, description=None):
        super().__init__(code)
        self.code, self.description = code, description


def well_known(url, suffix):
    """RFC 8414 §3.1 / RFC 9728 §3.1: the well-known segment inserted before the path."""
    u = urllib.parse.urlsplit(url)
    path = u.path.rstrip("/") if u.path != "/" else ""
    return f"{u.scheme}://{u.netloc}/.well-known/{suffix}{path}"


def no_repeated_members(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("a member is repeated")
    return dict(pairs)


class WifClient:
    """The client of §7.7: a workload with a platform token file, for MCP resources."""

    def __init__(self, token_file, dpop=None):
        self.token_file = token_file
        self.dpop = dpop              # a DPoPKey: a bound token is asked for (WIF-C-6)
        self.http = requests.Session()
        self.cache = {}               # (resource, scope) -> (response json, expiry)
        self.token_requests = 0
        self.last_error = None

    def discover(self, mcp_url):
        """Item 1: the resource's metadata (from the 401 challenge, else the well-known URL),
        then the AS metadata (RFC 8414, issuer compared exactly)."""
        r = self.http.post(mcp_url, json={"jsonrpc": "2.0", "id": 0, "method": "ping"},
                           headers={"Accept": "application/json, text/event-stream"}, timeout=10)
        prm_url = None
        m = re.search(r'resource_metadata="([^"]+)"', r.headers.get("WWW-Authenticate", ""))
        if r.status_code == 401 and m:
            prm_url = m.group(1)
        prm_url = prm_url or well_known(mcp_url, "oauth-protected-resource")
        prm = self.http.get(prm_url, timeout=10).json()
        if prm.get("resource") != mcp_url:
            raise NotUsable(f"protected resource metadata names {prm.get('resource')!r}")
        issuer = prm["authorization_servers"][0]
        meta = None
        for url in (well_known(issuer, "oauth-authorization-server"), well_known(issuer, "openid-configuration")):
            rr = self.http.get(url, timeout=10)
            if rr.status_code == 200:
                meta = rr.json()
                break
        if meta is None or meta.get("issuer") != issuer:
            raise NotUsable(f"no AS metadata with issuer {issuer!r}")
        return prm["resource"], meta

    def token(self, mcp_url, scope=None):
        resource, meta = self.discover(mcp_url)
        key = (resource, scope)
        hit = self.cache.get(key)
        if hit and hit[1] > time.time() + 5:          # item 6
            return hit[0]
        if JWT_BEARER not in (meta.get("grant_types_supported") or []):   # WIF-C-1
            raise NotUsable("the AS does not list the jwt-bearer grant")
        with open(self.token_file) as f:               # WIF-C-3: read for every request
            assertion = f.read().strip()
        try:                                           # item 3, WIF-C-4
            parts = assertion.split(".")
            if len(parts) != 3:
                raise ValueError("not three parts")
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)),
                                object_pairs_hook=no_repeated_members)
            if not isinstance(claims, dict):
                raise ValueError("claims not an object")
            aud = claims.get("aud")
        except Exception as e:
            raise NotUsable(f"the platform token is not a compact JWS with a claims object: {e}")
        if not (aud == meta["issuer"] or (isinstance(aud, list) and aud == [meta["issuer"]])):
            raise NotUsable(f"the platform token's aud is not the AS issuer")
        form = [("grant_type", JWT_BEARER), ("assertion", assertion), ("resource", resource)]
        if scope:
            form.append(("scope", scope))
        headers = {}
        use_dpop = self.dpop is not None                 # WIF-C-6: asked for, so advertised or nothing
        if use_dpop and "ES256" not in (meta.get("dpop_signing_alg_values_supported") or []):
            raise NotUsable("a DPoP-bound token was asked for, and the AS does not advertise ES256 DPoP")
        if use_dpop:
            headers["DPoP"] = self.dpop.proof("POST", meta["token_endpoint"])
        self.token_requests += 1
        r = self.http.post(meta["token_endpoint"], data=form, headers=headers, timeout=30)   # WIF-C-1
        if r.status_code == 400 and use_dpop and r.json().get("error") == "use_dpop_nonce":
            # RFC 9449 §8: the nonce retry is part of the one DPoP request, not a new grant attempt.
            headers["DPoP"] = self.dpop.proof("POST", meta["token_endpoint"], nonce=r.headers.get("DPoP-Nonce"))
            r = self.http.post(meta["token_endpoint"], data=form, headers=headers, timeout=30)
        body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}
        if r.status_code != 200:                        # WIF-C-5: report, never retry
            self.last_error = body.get("error", f"http-{r.status_code}")
            raise TokenError(self.last_error, body.get("error_description"))
        self.cache[key] = (body, time.time() + int(body.get("expires_in", 60)))
        return body

    def call(self, mcp_url, method, params=None, name=None, scope=None):
        """One stateless MCP request (protocol 2026-07-28, as `mcp-auth demo-server` serves)."""
        for attempt in range(2):
            tok = self.token(mcp_url, scope)
            at, tt = tok["access_token"], tok.get("token_type", "Bearer")
            p = dict(params or {})
            p["_meta"] = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": {},
                          "io.modelcontextprotocol/clientInfo": {"name": "wif-profile-interop", "version": "1"}}
            headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
                       "Mcp-Method": method}
            if name:
                headers["Mcp-Name"] = name
            if tt.lower() == "dpop":
                headers["Authorization"] = f"DPoP {at}"
                ath = b64u(hashlib.sha256(at.encode()).digest())
                headers["DPoP"] = self.dpop.proof("POST", mcp_url, ath=ath)
            else:
                headers["Authorization"] = f"Bearer {at}"
            r = self.http.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": p},
                               headers=headers, timeout=30)
            if r.status_code == 401 and "invalid_token" in r.headers.get("WWW-Authenticate", "") and attempt == 0:
                self.cache.pop((mcp_url, scope), None)   # item 6: a new token after 401 invalid_token
                continue
            return r
        return r


def parse_mcp(r):
    text = r.text
    if "text/event-stream" in r.headers.get("Content-Type", ""):
        data = [l[5:].strip() for l in text.splitlines() if l.startswith("data:")]
        text = data[-1] if data else "{}"
    return json.loads(text)


def check_client():
    """WIF-C-1 .. WIF-C-7 against a mock AS and RS this suite controls."""
    rs, mas = Site("mock-rs"), Site("mock-as")
    mock = {"grants": [JWT_BEARER], "token_path": "/oauth2/v9/tok", "error": None, "dpop_algs": None,
            "n": 0, "rs_reject_once": False}
    res_url = rs.url("/mcp")
    prm_url = rs.url("/.well-known/oauth-protected-resource/mcp")
    rs.json("/.well-known/oauth-protected-resource/mcp", lambda: {"resource": res_url,
                                                                  "authorization_servers": [mas.url()]})

    def rs_mcp(req):
        auth = req.headers.get("Authorization") or ""
        if not auth.startswith("Bearer mock-at-") or mock["rs_reject_once"]:
            mock["rs_reject_once"] = False if auth else mock["rs_reject_once"]
            err = ', error="invalid_token"' if auth else ""
            return 401, {"WWW-Authenticate": f'Bearer resource_metadata="{prm_url}"{err}'}, b""
        return 200, {"Content-Type": "application/json"}, b'{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}'
    rs.routes["/mcp"] = rs_mcp

    def as_meta():
        m = {"issuer": mas.url(), "token_endpoint": mas.url(mock["token_path"]),
             "grant_types_supported": mock["grants"]}
        if mock["dpop_algs"]:
            m["dpop_signing_alg_values_supported"] = mock["dpop_algs"]
        return m
    mas.json("/.well-known/oauth-authorization-server", as_meta)

    def as_token(req):
        if mock["error"]:
            return 400, {"Content-Type": "application/json", "Cache-Control": "no-store"}, \
                json.dumps({"error": mock["error"]}).encode()
        mock["n"] += 1
        return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(
            {"access_token": f"mock-at-{mock['n']}", "token_type": "Bearer", "expires_in": 300}).encode()
    mas.routes[mock["token_path"]] = as_token
    token_hits = lambda: [r for r in mas.hits if r.method == "POST"]

    tf = os.path.join(W.workdir, "platform-token")
    def write_token(aud, sub="system:serviceaccount:mcp-agents:planner", ws=""):
        c = k8s_claims(sub=sub, aud=aud)
        tok = k8s(c)
        with open(tf, "w") as f:
            f.write(ws + tok + ws)
        return tok

    try:
        # WIF-C-1: no jwt-bearer in grant_types_supported: nothing sent.
        mock["grants"] = ["authorization_code", "client_credentials"]
        write_token(mas.url())
        cl = WifClient(tf)
        try:
            cl.token(res_url)
            got = "a token"
        except NotUsable as e:
            got = f"refused: {e}"
        check("WIF-C-1.grant-not-listed-nothing-sent", got.startswith("refused") and not token_hits(),
              f"{got}; {len(token_hits())} token requests")
        mock["grants"] = [JWT_BEARER]

        # WIF-C-1 / WIF-C-2: the request goes to metadata's token_endpoint with §7.1's parameters.
        tok = write_token(mas.url(), ws="\n  ")
        cl = WifClient(tf)
        cl.token(res_url, scope="mcp:read")
        hits = token_hits()
        ok = len(hits) == 1 and hits[0].path == mock["token_path"]
        check("WIF-C-1.posts-to-metadata-token-endpoint", ok, f"{[h.path for h in hits]}")
        form = hits[0].form() if hits else []
        names = sorted(k for k, _ in form)
        fd = dict(form)
        problems = []
        if names != ["assertion", "grant_type", "resource", "scope"]:
            problems.append(f"parameters {names}")
        if fd.get("grant_type") != JWT_BEARER:
            problems.append(f"grant_type {fd.get('grant_type')}")
        if fd.get("assertion") != tok:
            problems.append("assertion is not the file's token with whitespace removed")
        if fd.get("resource") != res_url:
            problems.append(f"resource {fd.get('resource')}")
        if hits and hits[0].headers.get("Authorization"):
            problems.append("Authorization header sent")
        check("WIF-C-2.request-is-section-7.1", not problems, "; ".join(problems))
        check("WIF-C-6.bearer-request-carries-no-proof", hits and not hits[0].headers.get("DPoP")
              and not hits[0].headers.get("Signature"), "a proof was sent")
        # WIF-C-6: a DPoP-bound token asked of an AS that does not advertise DPoP (or not for the
        # key's algorithm): nothing is sent, no fallback to Bearer.
        for name, algs in (("not-advertised", None), ("other-algorithm", ["EdDSA"])):
            mock["dpop_algs"] = algs
            n = len(token_hits())
            try:
                WifClient(tf, dpop=DPoPKey()).token(res_url)
                got = "a token"
            except NotUsable:
                got = "refused"
            check(f"WIF-C-6.dpop-{name}-nothing-sent", got == "refused" and len(token_hits()) == n,
                  f"{got}; {len(token_hits()) - n} token requests")
        mock["dpop_algs"] = ["ES256"]
        n = len(token_hits())
        WifClient(tf, dpop=DPoPKey()).token(res_url)
        hits = token_hits()
        check("WIF-C-6.dpop-advertised-proof-sent", len(hits) == n + 1 and hits[-1].headers.get("DPoP"),
              "no DPoP proof in the request")
        mock["dpop_algs"] = None
        write_token(mas.url())
        cl = WifClient(tf)
        cl.token(res_url, scope="mcp:read")

        # WIF-C-7: kept until expiry; a 401 invalid_token gets a new one; other scopes too.
        n0 = len(token_hits())
        r1 = cl.call(res_url, "tools/list")
        r2 = cl.call(res_url, "tools/list")
        check("WIF-C-7.token-reused-for-its-resource", r1.status_code == 200 and r2.status_code == 200
              and len(token_hits()) == n0 + 1, f"statuses {r1.status_code} {r2.status_code}, "
              f"{len(token_hits()) - n0} token requests for two calls")
        mock["rs_reject_once"] = True
        n1 = len(token_hits())
        r3 = cl.call(res_url, "tools/list")
        check("WIF-C-7.new-token-after-401-invalid-token", r3.status_code == 200 and len(token_hits()) == n1 + 1,
              f"status {r3.status_code}, {len(token_hits()) - n1} token requests")

        # WIF-C-3: the file is read for every token request.
        tok2 = write_token(mas.url(), sub="system:serviceaccount:mcp-agents:planner")
        n2 = len(token_hits())
        cl.token(res_url, scope="mcp:write")
        hits = token_hits()
        check("WIF-C-3.file-read-for-every-request", len(hits) == n2 + 1 and dict(hits[-1].form()).get("assertion") == tok2,
              "the second request did not carry the rewritten token")

        # WIF-C-4: wrong audiences: nothing sent.
        for name, aud in (("other", "https://other-rp.example.test"), ("trailing-slash", mas.url() + "/"),
                          ("two", [mas.url(), "https://other-rp.example.test"]), ("token-endpoint", mas.url(mock["token_path"]))):
            write_token(aud)
            n = len(token_hits())
            try:
                WifClient(tf).token(res_url)
                got = "a token"
            except NotUsable as e:
                got = "refused"
            check(f"WIF-C-4.aud-{name}-nothing-sent", got == "refused" and len(token_hits()) == n,
                  f"{got}; {len(token_hits()) - n} token requests")

        # §7.7 item 3: claims with a repeated member (aud twice, the last one right): nothing sent.
        c = json.dumps(k8s_claims(aud="https://other-rp.example.test"))[:-1] + f', "aud": "{mas.url()}"}}'
        with open(tf, "w") as f:
            f.write(compact({"alg": "RS256", "kid": W.k8s_key1.kid}, raw_claims=c.encode(), key=W.k8s_key1))
        n = len(token_hits())
        try:
            WifClient(tf).token(res_url)
            got = "a token"
        except NotUsable:
            got = "refused"
        check("WIF-C-4.claims-with-repeated-aud-nothing-sent", got == "refused" and len(token_hits()) == n,
              f"{got}; {len(token_hits()) - n} token requests")

        # WIF-C-5: an error: one request, the code reported, no retry, no other grant.
        write_token(mas.url())
        mock["error"] = "invalid_grant"
        n = len(token_hits())
        cl = WifClient(tf)
        try:
            cl.call(res_url, "tools/list")
            got = None
        except TokenError as e:
            got = e.code
        check("WIF-C-5.error-reported-no-retry", got == "invalid_grant" and len(token_hits()) == n + 1,
              f"reported {got!r}, {len(token_hits()) - n} token requests")
        mock["error"] = None
    finally:
        rs.stop()
        mas.stop()

    # End to end: the real AS, `mcp-auth gateway` in front of `mcp-auth demo-server`.
    if not W.gateway_ok:
        check("WIF-C.e2e-tools-list-bearer", False, "the gateway did not start")
        return
    write_token(W.issuer)
    cl = WifClient(tf)
    try:
        r = cl.call(W.R1, "tools/list")
        tools = [t.get("name") for t in parse_mcp(r).get("result", {}).get("tools", [])]
        check("WIF-C.e2e-tools-list-bearer", r.status_code == 200 and "whoami" in tools,
              f"{r.status_code} {r.text[:200]}")
        r = cl.call(W.R1, "tools/call", {"name": "whoami", "arguments": {}}, name="whoami")
        who = json.loads(parse_mcp(r)["result"]["content"][0]["text"])
        check("WIF-C.e2e-gateway-sees-principal", who.get("subject") == PLANNER and who.get("client_id") == PLANNER,
              f"whoami {who}")
    except Exception as e:
        check("WIF-C.e2e-tools-list-bearer", False, repr(e))
    cl = WifClient(tf, dpop=DPoPKey())
    try:
        r = cl.call(W.R1, "tools/call", {"name": "whoami", "arguments": {}}, name="whoami")
        who = json.loads(parse_mcp(r)["result"]["content"][0]["text"])
        check("WIF-C-6.e2e-dpop-when-advertised", r.status_code == 200 and who.get("profile") == "dpop"
              and who.get("subject") == PLANNER, f"{r.status_code} whoami {who}")
    except Exception as e:
        check("WIF-C-6.e2e-dpop-when-advertised", False, repr(e))


# =========================================================================== main


def main():
    if len(sys.argv) != 3:
        print("usage: client.py <mcp-auth binary> <workdir>", file=sys.stderr)
        return 2
    binary, workdir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(workdir, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    t0 = time.time()
    try:
        try:
            check_vectors()
        except Exception as e:
            import traceback
            traceback.print_exc(file=sys.stderr)
            check("crash.check_vectors", False, repr(e))
        try:
            setup(binary, workdir)
        except SystemExit as e:
            log(f"client.py: {e}")
            for name in ("as", "gateway", "demo-server"):
                p = os.path.join(workdir, f"{name}.stderr")
                if os.path.exists(p):
                    log(f"--- {p}")
                    log("".join(open(p, errors="replace").readlines()[-20:]))
            return 2
        # The rotation begins early and ends after its 60 s window; the checks between fill it.
        steps = [check_metadata, warmup, rotation_begin, check_form, check_structure, check_typ,
                 check_no_client, check_binding, check_algorithms, check_keys, check_selection,
                 check_aud, check_times, check_entry_numbers, check_sub, check_reuse_and_lifetime,
                 check_rules, check_order, check_discovery_entries, check_outage, check_client,
                 check_start_refusals, check_non_bool_when_at_runtime, rotation_finish,
                 check_no_kid_never_refetches,
                 check_cache_expiry, lambda: cache_probe_clamp(final=True), check_descriptions,
                 check_never_contacted]
        for step in steps:
            try:
                step()
                cache_probe_clamp()
            except Exception as e:
                import traceback
                traceback.print_exc(file=sys.stderr)
                check(f"crash.{getattr(step, '__name__', 'step')}", False, repr(e))
        if W.as_proc.poll() is not None:
            check("setup.as-still-running", False, f"mcp-auth as exited with {W.as_proc.returncode}")
    finally:
        stop_procs()
    log(f"client.py: {time.time() - t0:.0f} s")
    print(f"interop: {PASSED} passed, {FAILED} failed", flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
