#!/usr/bin/env python3
"""Independent client for the `http-message-signatures` MCP auth profile.

Written from profiles/http-message-signatures.md only (the "document" below; section numbers
such as "§9.3" refer to it), without reading the project's Rust sources. It talks to a running
server over HTTP, starting from nothing but the URL of the MCP endpoint:

    usage: client.py <mcp-endpoint-url>

and prints one line per check, `PASS <name>` or `FAIL <name>: <why>`, then
`interop: N passed, M failed`. Exit status 1 if any check failed.

Libraries:
  - http-message-signatures (pyauth) 3.0.0: component resolution (the value of "@method",
    "@target-uri" and of header fields, RFC 9421 §2.1/§2.2), Content-Digest generation
    (RFC 9530), the signature algorithms (Ed25519, ECDSA P-256 with r||s output), and its
    own signer to produce the `keyid` variant and to cross-check the base our builder makes.
    The library's signer always writes a `keyid` parameter and cannot write `pub`, both of
    which the profile forbids or requires (§7.3, §9.3; see §9.5), so the `Signature-Input`
    value and the signature base are assembled here by hand, per RFC 9421 §2.5 and the
    recipe of §9.5.
  - PyJWT: verification of the RFC 9068 access token against the AS's JWKS.
  - cryptography: key generation.
HTTP uses the standard library (http.client), so every header is sent exactly as built.
"""

import base64
import datetime
import hashlib
import http.client
import json
import os
import secrets
import sys
import time
import urllib.parse

import http_sf
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSigner,
    HTTPSignatureComponentResolver,
    MappingKeyResolver,
    algorithms,
)
from http_sf.compat import Item

VERBOSE = os.environ.get("INTEROP_VERBOSE") == "1"
PROTOCOL_VERSION = "2026-07-28"
TOKEN_REQUEST_TAG = "httpsig-oauth-token-request"  # §7.2
PRESENTATION_TAG = "httpsig-oauth"  # §9.3
NAMED_METHODS = ("tools/call", "prompts/get", "resources/read")  # §9.2, §9.3
RUNTIME_ALGS = ("ed25519", "ecdsa-p256-sha256", "ecdsa-p384-sha384")  # §5.1, §7.3

# --------------------------------------------------------------------------------------------
# reporting

PASSED = 0
FAILED = 0


SECOND_INSTANCE = None


class Fail(Exception):
    pass


def report(name, ok, why=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"PASS {name}", flush=True)
    else:
        FAILED += 1
        why = " ".join(str(why).split())
        if len(why) > 600:
            why = why[:600] + "..."
        print(f"FAIL {name}: {why}", flush=True)


def check(name, fn, *args, **kwargs):
    """Run one check; return fn's value on success, None on failure."""
    try:
        value = fn(*args, **kwargs)
    except Fail as e:
        report(name, False, e)
        return None
    except Exception as e:  # an exception in the client is a failed check too
        report(name, False, f"{type(e).__name__}: {e}")
        return None
    report(name, True)
    return value


def need(value, what):
    if value is None:
        raise Fail(f"not run: {what} failed")
    return value


def expect(cond, why):
    if not cond:
        raise Fail(why)


# --------------------------------------------------------------------------------------------
# small helpers

def b64(data):
    return base64.b64encode(data).decode("ascii")


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_nonce():
    # HTTPSIG-C-3 / §7.2: 16 random octets, base64url without padding (22 characters).
    return b64u(secrets.token_bytes(16))


def now():
    return int(time.time())


class Message:
    """A request as the library's component resolver wants it: method, absolute url, headers."""

    def __init__(self, method, url, headers, body=b""):
        self.method = method
        self.url = url
        self.headers = dict(headers)
        self.body = body

    def copy(self):
        return Message(self.method, self.url, dict(self.headers), self.body)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value), as received
        self.body = body

    def get_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def get(self, name):
        values = self.get_all(name)
        return ", ".join(values) if values else None

    def json(self):
        ctype = (self.get("Content-Type") or "").lower()
        if ctype.startswith("text/event-stream"):
            # Streamable HTTP may answer with SSE: take the first `data:` event.
            data = []
            for line in self.body.decode("utf-8").splitlines():
                if line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
                elif not line and data:
                    break
            return json.loads("\n".join(data))
        return json.loads(self.body.decode("utf-8"))

    def describe(self):
        text = self.body.decode("utf-8", "replace")
        www = self.get("WWW-Authenticate")
        return f"HTTP {self.status} www-authenticate={www!r} body={text[:300]!r}"


def send(msg):
    u = urllib.parse.urlsplit(msg.url)
    cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = cls(u.hostname, u.port, timeout=15)
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    try:
        conn.request(msg.method, target, body=msg.body if msg.body else None, headers=msg.headers)
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def get_json(url):
    r = send(Message("GET", url, {"Accept": "application/json"}))
    expect(r.status == 200, f"GET {url}: {r.describe()}")
    return r.json()


def parse_challenges(value):
    """Parse a WWW-Authenticate value (RFC 9110 §11.6.1) into [(scheme, {param: value})]."""
    out = []
    i, n = 0, len(value)

    def skip(chars=" \t"):
        nonlocal i
        while i < n and value[i] in chars:
            i += 1

    def token():
        nonlocal i
        start = i
        while i < n and value[i] not in " \t,=\"":
            i += 1
        return value[start:i]

    while i < n:
        skip(" \t,")
        if i >= n:
            break
        scheme = token()
        params = {}
        out.append((scheme, params))
        while True:
            skip()
            save = i
            name = token()
            skip()
            if not name or i >= n or value[i] != "=":
                i = save  # the next challenge starts here (or token68: not used by HTTPSig)
                break
            i += 1
            skip()
            if i < n and value[i] == '"':
                i += 1
                buf = []
                while i < n and value[i] != '"':
                    if value[i] == "\\" and i + 1 < n:
                        i += 1
                    buf.append(value[i])
                    i += 1
                i += 1
                params[name.lower()] = "".join(buf)
            else:
                params[name.lower()] = token()
            skip()
            if i < n and value[i] == ",":
                i += 1
                continue
            break
    return out


def httpsig_challenge(resp):
    challenges = []
    for v in resp.get_all("WWW-Authenticate"):
        challenges += parse_challenges(v)
    for scheme, params in challenges:
        if scheme.lower() == "httpsig":
            return params
    raise Fail(f"no HTTPSig challenge in WWW-Authenticate: {resp.get_all('WWW-Authenticate')!r}")


# --------------------------------------------------------------------------------------------
# keys (§4 thumbprint, §7.3 pub, §7.5 signature octets)

class ClientKey:
    def __init__(self, alg, private_key=None):
        self.alg = alg
        if alg == "ed25519":
            self.priv = private_key or ed25519.Ed25519PrivateKey.generate()
            self.algorithm = algorithms.ED25519
            # §7.3: the 32-octet key A (RFC 8032 §5.1.5)
            self.pub = self.priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        elif alg == "ecdsa-p256-sha256":
            self.priv = private_key or ec.generate_private_key(ec.SECP256R1())
            self.algorithm = algorithms.ECDSA_P256_SHA256
            # §7.3: uncompressed SEC1 point 0x04 || X || Y, 65 octets for P-256
            self.pub = self.priv.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        else:
            raise ValueError(alg)

    def sign(self, base):
        # The library's algorithm classes produce RFC 9421 octets: 64 for Ed25519, r||s for ECDSA.
        return self.algorithm(private_key=self.priv).sign(base)

    @property
    def thumbprint(self):
        return runtime_thumbprint(self.alg, self.pub)


def runtime_thumbprint(alg, pub):
    """§4: RFC 7638 thumbprint of the runtime key's JWK form."""
    if alg == "ed25519":
        jwk = {"crv": "Ed25519", "kty": "OKP", "x": b64u(pub)}
    else:
        half = (len(pub) - 1) // 2
        crv = {32: "P-256", 48: "P-384"}[half]
        jwk = {"crv": crv, "kty": "EC", "x": b64u(pub[1:1 + half]), "y": b64u(pub[1 + half:])}
    canon = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return b64u(hashlib.sha256(canon).digest())


# --------------------------------------------------------------------------------------------
# signatures, built by hand per RFC 9421 §2.5 and §9.5 of the document, because the library
# cannot express the profile: its signer always adds `keyid` and has no way to add `pub`.

def serialize_params(components, params):
    """§9.5 step 2: Inner List of quoted identifiers, then `;name=value` (RFC 9651 §4)."""
    out = "(" + " ".join(f'"{c}"' for c in components) + ")"
    for name, value in params:
        if isinstance(value, bool):
            out += f";{name}" if value else f";{name}=?0"
        elif isinstance(value, int):
            out += f";{name}={value}"
        elif isinstance(value, bytes):  # Byte Sequence: standard base64 with padding
            out += f";{name}=:{b64(value)}:"
        else:
            out += ';%s="%s"' % (name, value.replace("\\", "\\\\").replace('"', '\\"'))
    return out


def signature_base(msg, components, params_text):
    """§9.5 step 3: one line per component, then "@signature-params", no final LF.

    Component values come from the library's resolver (RFC 9421 §2.1: field values trimmed;
    §2.2: derived components such as "@target-uri")."""
    resolver = HTTPSignatureComponentResolver(msg)
    lines = [f'"{c}": {resolver.resolve(Item(c))}' for c in components]
    lines.append(f'"@signature-params": {params_text}')
    return "\n".join(lines).encode("ascii")


def sign(msg, key, components, params, label="sig"):
    """§9.5 step 4: sign and set Signature-Input and Signature (replacing any)."""
    text = serialize_params(components, params)
    base = signature_base(msg, components, text)
    msg.headers["Signature-Input"] = f"{label}={text}"
    msg.headers["Signature"] = f"{label}=:{b64(key.sign(base))}:"
    return base


# --------------------------------------------------------------------------------------------
# Appendix A vectors: the hand-built bases must match the document byte for byte.

A_T = 1767225600
A_CLIENT_SEED = hashlib.sha256(b"mcp-auth httpsig profile vector: client key").digest()
A_AS_X = "_5KOL82ClyMAAROivnPR6KQEa0AiJzJCwli8SttH0Ek"
A_CLIENT_X = "KQn5-NfX6EzMEe51igZsJPPVM-SGU_mzxSOXIBCrxxw"
A_THUMBPRINT = "l7nC1GTz6nF1oBVFPcm33nJvFl1ZWQvQSur0vQ1jewY"
A_TOKEN = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6IjZDSjJiWlNrc2g4N1FIRG1BWl9uQ2N4QV9ZdkMxWkNfVFJ3ODNOT1ZPTjAiLCJ0eXAiOiJhdCtqd3QifQ"
    ".eyJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUuY29tIiwic3ViIjoidmVjdG9yLWNsaWVudCIsImF1ZCI6Imh0dHBzOi8vbWNwLmV4YW1wbGUuY29tL21jcCIsImV4cCI6MTc2NzIyNTkwMCwiaWF0IjoxNzY3MjI1NjAwLCJqdGkiOiJ2ZWN0b3ItdG9rZW4tMSIsImNsaWVudF9pZCI6InZlY3Rvci1jbGllbnQiLCJzY29wZSI6Im1jcDpyZWFkIiwiY25mIjp7Imh0c2siOnsiYWxnIjoiZWQyNTUxOSIsInB1YiI6IktRbjUtTmZYNkV6TUVlNTFpZ1pzSlBQVk0tU0dVX216eFNPWElCQ3J4eHcifX19"
    ".V-GQoJ7wjJk5tV2C9hDsTcwI1yMSYfXo_E171abilcpihV27KiOrD5bRX1gMxoi3EsnW92AYPykdZtvjOkW7Cg"
)
A2_BODY = b"grant_type=client_credentials&scope=mcp%3Aread&resource=https%3A%2F%2Fmcp.example.com%2Fmcp"
A2_DIGEST = "sha-256=:TPFZ/cBku4s1buzpzzRNvhWBiMK8B1KzBCZi8uR+Z0k=:"
A2_SIGNATURE = "sig=:8j7uMzUpYSxJE6eXnc38MyELzlSfTOsnhSva41B7q3BNgoZaQhzBW5jef2RwKNQNLuYhQgrxWLOHcRwMzN0pDQ==:"
A2_INPUT = (
    'sig=("@method" "@target-uri" "content-digest" "authorization");created=1767225600;nonce="dG9rZW4tcmVxdWVzdC0x"'
    ';alg="ed25519";tag="httpsig-oauth-token-request";pub=:KQn5+NfX6EzMEe51igZsJPPVM+SGU/mzxSOXIBCrxxw=:'
)
A2_BASE = (
    '"@method": POST\n'
    '"@target-uri": https://as.example.com/token\n'
    '"content-digest": sha-256=:TPFZ/cBku4s1buzpzzRNvhWBiMK8B1KzBCZi8uR+Z0k=:\n'
    '"authorization": Basic dmVjdG9yLWNsaWVudDp2ZWN0b3Itc2VjcmV0\n'
    '"@signature-params": ("@method" "@target-uri" "content-digest" "authorization");created=1767225600;'
    'nonce="dG9rZW4tcmVxdWVzdC0x";alg="ed25519";tag="httpsig-oauth-token-request";'
    "pub=:KQn5+NfX6EzMEe51igZsJPPVM+SGU/mzxSOXIBCrxxw=:"
)
A4_BODY = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Paris"}}}'
A4_DIGEST = "sha-256=:/N0GDCL6aWJpZRjqcpWbtMG8cmAwBrirsQvb/QGOt1k=:"
A4_SIGNATURE = "sig=:xMMpzlGbue16+Mtwcq4bacROdpkqxxsXcvkncRTgF4M5B872Ypc1TE30lGtg4J4i9Q/jhFW9NYlO2SeeXaHeCQ==:"
A4_INPUT = (
    'sig=("@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name" "mcp-protocol-version")'
    ';created=1767225605;nonce="cHJlc2VudGF0aW9uLTE";tag="httpsig-oauth"'
)
A4_BASE = (
    '"@method": POST\n'
    '"@target-uri": https://mcp.example.com/mcp\n'
    f'"authorization": HTTPSig {A_TOKEN}\n'
    '"content-digest": sha-256=:/N0GDCL6aWJpZRjqcpWbtMG8cmAwBrirsQvb/QGOt1k=:\n'
    '"mcp-method": tools/call\n'
    '"mcp-name": get_weather\n'
    '"mcp-protocol-version": 2026-07-28\n'
    '"@signature-params": ("@method" "@target-uri" "authorization" "content-digest" "mcp-method" "mcp-name" '
    '"mcp-protocol-version");created=1767225605;nonce="cHJlc2VudGF0aW9uLTE";tag="httpsig-oauth"'
)
PRESENTATION_COMPONENTS_ALL = ["@method", "@target-uri", "authorization", "content-digest",
                               "mcp-method", "mcp-name", "mcp-protocol-version"]


def vector_key():
    return ClientKey("ed25519", ed25519.Ed25519PrivateKey.from_private_bytes(A_CLIENT_SEED))


def vector_thumbprint():
    key = vector_key()
    expect(b64u(key.pub) == A_CLIENT_X, f"public key {b64u(key.pub)} != A.1 x {A_CLIENT_X}")
    expect(key.thumbprint == A_THUMBPRINT, f"thumbprint {key.thumbprint} != A.1 {A_THUMBPRINT}")


def vector_token_request():
    key = vector_key()
    msg = Message("POST", "https://as.example.com/token", {
        "Host": "as.example.com",
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "Basic " + b64(b"vector-client:vector-secret"),
        "Content-Digest": ContentDigest.create(A2_BODY),
    }, A2_BODY)
    expect(msg.headers["Content-Digest"] == A2_DIGEST, f"Content-Digest {msg.headers['Content-Digest']} != A.2")
    base = sign(msg, key, ["@method", "@target-uri", "content-digest", "authorization"],
                [("created", A_T), ("nonce", "dG9rZW4tcmVxdWVzdC0x"), ("alg", "ed25519"),
                 ("tag", TOKEN_REQUEST_TAG), ("pub", key.pub)])
    expect(base.decode() == A2_BASE, f"signature base differs from A.2:\n{base.decode()}")
    expect(msg.headers["Signature-Input"] == A2_INPUT, f"Signature-Input {msg.headers['Signature-Input']}")
    expect(msg.headers["Signature"] == A2_SIGNATURE, f"Signature {msg.headers['Signature']} != A.2")


def vector_access_token():
    as_key = ed25519.Ed25519PublicKey.from_public_bytes(b64u_decode(A_AS_X))
    header = jwt.get_unverified_header(A_TOKEN)
    expect(header.get("typ") == "at+jwt", f"typ {header.get('typ')}")
    claims = jwt.decode(A_TOKEN, as_key, algorithms=["EdDSA"], audience="https://mcp.example.com/mcp",
                        issuer="https://as.example.com", options={"verify_exp": False, "verify_iat": False})
    htsk = claims["cnf"]["htsk"]
    expect(list(claims["cnf"]) == ["htsk"], f"cnf {claims['cnf']}")
    expect(htsk == {"alg": "ed25519", "pub": A_CLIENT_X}, f"cnf.htsk {htsk}")
    expect(runtime_thumbprint("ed25519", b64u_decode(htsk["pub"])) == A_THUMBPRINT, "thumbprint of cnf.htsk")


def vector_presentation():
    key = vector_key()
    msg = Message("POST", "https://mcp.example.com/mcp", {
        "Host": "mcp.example.com",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Mcp-Protocol-Version": PROTOCOL_VERSION,
        "Authorization": f"HTTPSig {A_TOKEN}",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "get_weather",
        "Content-Digest": ContentDigest.create(A4_BODY),
    }, A4_BODY)
    expect(msg.headers["Content-Digest"] == A4_DIGEST, f"Content-Digest {msg.headers['Content-Digest']} != A.4")
    expect(required_components(msg) == PRESENTATION_COMPONENTS_ALL, f"§9.3 coverage {required_components(msg)}")
    base = sign(msg, key, PRESENTATION_COMPONENTS_ALL,
                [("created", A_T + 5), ("nonce", "cHJlc2VudGF0aW9uLTE"), ("tag", PRESENTATION_TAG)])
    expect(base.decode() == A4_BASE, f"signature base differs from A.4:\n{base.decode()}")
    expect(msg.headers["Signature-Input"] == A4_INPUT, f"Signature-Input {msg.headers['Signature-Input']}")
    expect(msg.headers["Signature"] == A4_SIGNATURE, f"Signature {msg.headers['Signature']} != A.4")


def vector_library_agrees():
    """The library's own signer, given the same inputs plus the `keyid` it always adds, must
    produce the same base as the hand-built one (so the hand-built base is plain RFC 9421)."""
    key = vector_key()
    msg = Message("POST", "https://mcp.example.com/mcp", {
        "Authorization": f"HTTPSig {A_TOKEN}", "Mcp-Method": "tools/call", "Mcp-Name": "get_weather",
        "Mcp-Protocol-Version": PROTOCOL_VERSION, "Content-Digest": A4_DIGEST,
    }, A4_BODY)
    signer = HTTPMessageSigner(signature_algorithm=key.algorithm)
    created = datetime.datetime.fromtimestamp(A_T + 5, tz=datetime.timezone.utc)
    prepared = signer.prepare(msg, key_id="k1", created=created, nonce="cHJlc2VudGF0aW9uLTE", label="sig",
                              tag=PRESENTATION_TAG, include_alg=False,
                              covered_component_ids=PRESENTATION_COMPONENTS_ALL,
                              body=A4_BODY, use_existing_digest=True)
    ours = signature_base(msg, PRESENTATION_COMPONENTS_ALL, serialize_params(
        PRESENTATION_COMPONENTS_ALL,
        [("created", A_T + 5), ("keyid", "k1"), ("nonce", "cHJlc2VudGF0aW9uLTE"), ("tag", PRESENTATION_TAG)]))
    expect(prepared.signature_base == ours, f"library base:\n{prepared.signature_base.decode()}\nours:\n{ours.decode()}")


# --------------------------------------------------------------------------------------------
# discovery, registration, token

class Context:
    pass


def discover(resource):
    ctx = Context()
    ctx.resource = resource
    # §11.3: a request without Authorization gets a challenge with only resource_metadata.
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    r = send(Message("POST", resource, {"Content-Type": "application/json",
                                         "Accept": "application/json, text/event-stream",
                                         "MCP-Protocol-Version": PROTOCOL_VERSION,
                                         "Mcp-Method": "tools/list"}, body))
    expect(r.status == 401, f"unauthenticated POST: expected 401, got {r.describe()}")
    params = httpsig_challenge(r)
    expect("resource_metadata" in params, f"challenge without resource_metadata: {params}")
    expect("error" not in params and "error_description" not in params,
           f"challenge to a request without Authorization carries error: {params}")
    ctx.prm_url = params["resource_metadata"]
    return ctx


def protected_resource_metadata(ctx):
    prm = get_json(ctx.prm_url)
    ctx.prm = prm
    expect(prm.get("resource") == ctx.resource, f"PRM resource {prm.get('resource')!r} != {ctx.resource!r}")
    expect(prm.get("httpsig_bound_access_tokens_required") is True,
           f"httpsig_bound_access_tokens_required = {prm.get('httpsig_bound_access_tokens_required')!r}")
    comps = prm.get("httpsig_required_components")
    expect(isinstance(comps, list) and set(comps) == set(PRESENTATION_COMPONENTS_ALL),
           f"httpsig_required_components = {comps!r}")
    servers = prm.get("authorization_servers")
    expect(isinstance(servers, list) and servers, f"authorization_servers = {servers!r}")
    ctx.issuer = servers[0]


def as_metadata_url(issuer):
    # RFC 8414 §3.1: insert the well-known segment between host and path.
    u = urllib.parse.urlsplit(issuer)
    path = u.path.rstrip("/")
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/.well-known/oauth-authorization-server" + path, "", ""))


def authorization_server_metadata(ctx, alg):
    md = get_json(as_metadata_url(ctx.issuer))
    ctx.as_md = md
    expect(md.get("issuer") == ctx.issuer, f"issuer {md.get('issuer')!r} != {ctx.issuer!r}")
    methods = md.get("httpsig_key_binding_methods_supported")
    expect(isinstance(methods, list) and "runtime" in methods,
           f"httpsig_key_binding_methods_supported = {methods!r}")
    algs = md.get("httpsig_signing_alg_values_supported")
    expect(isinstance(algs, list) and alg in algs, f"httpsig_signing_alg_values_supported = {algs!r} lacks {alg}")
    missing = [a for a in RUNTIME_ALGS if a not in algs]
    expect(not missing, f"httpsig_signing_alg_values_supported lacks the runtime algorithms {missing} (§5.1)")
    for name in ("token_endpoint", "registration_endpoint", "jwks_uri"):
        expect(isinstance(md.get(name), str), f"no {name} in AS metadata")
    ctx.token_endpoint = md["token_endpoint"]


def register(ctx, alg):
    """§6: a client registers its binding method with RFC 7591 and the AS echoes it. An
    anonymous registration gets no machine grant (the AS gives dynamically registered
    clients only grants a user consents to), so this registers a browser client; the
    machine client that the flow then uses was pre-registered by the operator and is
    named by run.sh (HTTPSIG_INTEROP_CLIENT_ID / _SECRET)."""
    req = {
        "client_name": f"httpsig-profile interop ({alg})",
        "grant_types": ["authorization_code"],
        "redirect_uris": ["http://127.0.0.1:9/callback"],
        "token_endpoint_auth_method": "client_secret_basic",
        "httpsig_key_binding_method": "runtime",
        "scope": "mcp:read mcp:write",
    }
    r = send(Message("POST", ctx.as_md["registration_endpoint"],
                     {"Content-Type": "application/json", "Accept": "application/json"}, json.dumps(req).encode()))
    expect(r.status in (200, 201), f"registration: {r.describe()}")
    reg = r.json()
    expect(isinstance(reg.get("client_id"), str) and isinstance(reg.get("client_secret"), str),
           f"registration response lacks client_id/client_secret: {reg}")
    # §6: the AS echoes the method in the registration response.
    expect(reg.get("httpsig_key_binding_method") == "runtime",
           f"httpsig_key_binding_method not echoed: {reg.get('httpsig_key_binding_method')!r}")
    ctx.client_id = os.environ.get("HTTPSIG_INTEROP_CLIENT_ID", "")
    ctx.client_secret = os.environ.get("HTTPSIG_INTEROP_CLIENT_SECRET", "")
    expect(ctx.client_id and ctx.client_secret,
           "run.sh must name the pre-registered machine client (HTTPSIG_INTEROP_CLIENT_ID/_SECRET)")


def register_machine_client_refused(ctx):
    """A machine client (client_credentials) cannot be registered anonymously."""
    req = {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic",
           "httpsig_key_binding_method": "runtime", "scope": "mcp:read"}
    r = send(Message("POST", ctx.as_md["registration_endpoint"],
                     {"Content-Type": "application/json", "Accept": "application/json"}, json.dumps(req).encode()))
    expect(r.status == 400, f"expected 400 invalid_client_metadata, got {r.describe()}")
    expect(r.json().get("error") == "invalid_client_metadata", f"got {r.describe()}")


def register_other_method(ctx):
    """§6, HTTPSIG-AS-2: any other value (comparison is case-sensitive, §5) is refused."""
    req = {"grant_types": ["authorization_code"], "redirect_uris": ["http://127.0.0.1:9/callback"],
           "token_endpoint_auth_method": "client_secret_basic",
           "httpsig_key_binding_method": "Runtime", "scope": "mcp:read"}
    r = send(Message("POST", ctx.as_md["registration_endpoint"],
                     {"Content-Type": "application/json", "Accept": "application/json"}, json.dumps(req).encode()))
    expect(r.status == 400, f"expected 400 invalid_client_metadata, got {r.describe()}")
    expect(r.json().get("error") == "invalid_client_metadata", f"got {r.describe()}")


def basic_auth(ctx):
    # RFC 6749 §2.3.1: form-urlencode id and secret, then Basic.
    q = urllib.parse.quote_plus
    return "Basic " + b64(f"{q(ctx.client_id)}:{q(ctx.client_secret)}".encode())


def token_message(ctx, key, *, signed=True, components=None, params=None):
    """§7: client_credentials with client_secret_basic, signed with a runtime key."""
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "mcp:read mcp:write",
                                   "resource": ctx.resource}).encode()
    msg = Message("POST", ctx.token_endpoint, {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
        "Authorization": basic_auth(ctx),
    }, body)
    if signed:
        msg.headers["Content-Digest"] = ContentDigest.create(body)  # §7.1
        # §7.2: "@target-uri" is the token_endpoint exactly as advertised; "authorization"
        # is covered because the request carries client_secret_basic.
        sign(msg, key, components or ["@method", "@target-uri", "content-digest", "authorization"],
             params or [("created", now()), ("nonce", new_nonce()), ("tag", TOKEN_REQUEST_TAG),
                        ("alg", key.alg), ("pub", key.pub)])
    return msg


def get_token(ctx, key):
    msg = token_message(ctx, key)
    ctx.token_msg = msg
    r = send(msg)
    expect(r.status == 200, f"token request: {r.describe()}")
    tok = r.json()
    expect(str(tok.get("token_type", "")).lower() == "httpsig", f"token_type {tok.get('token_type')!r}")  # §8.1
    expect(isinstance(tok.get("access_token"), str), "no access_token")
    ctx.token = tok["access_token"]


def verify_access_token(ctx, key):
    """§8.2: RFC 9068 JWT (typ at+jwt, kid) whose cnf carries exactly htsk {alg, pub}."""
    jwks = get_json(ctx.as_md["jwks_uri"])
    header = jwt.get_unverified_header(ctx.token)
    expect(header.get("typ") in ("at+jwt", "application/at+jwt"), f"JWT typ {header.get('typ')!r}")
    expect("kid" in header, f"JWT header without kid: {header}")
    keyset = jwt.PyJWKSet.from_dict(jwks)
    matches = [k for k in keyset.keys if k.key_id == header["kid"]]
    expect(len(matches) == 1, f"kid {header['kid']!r} names {len(matches)} keys of the JWKS")
    claims = jwt.decode(ctx.token, matches[0].key, algorithms=[header["alg"]], audience=ctx.resource,
                        issuer=ctx.issuer,
                        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "cnf"]})
    expect(claims.get("client_id") == ctx.client_id, f"client_id {claims.get('client_id')!r} != {ctx.client_id!r}")
    cnf = claims["cnf"]
    expect(isinstance(cnf, dict) and list(cnf) == ["htsk"], f"cnf {cnf!r} is not exactly one htsk member")
    htsk = cnf["htsk"]
    want = {"alg": key.alg, "pub": b64u(key.pub)}  # base64url WITHOUT padding in cnf (§8.2)
    expect(htsk == want, f"cnf.htsk {htsk!r} != {want!r}")
    ctx.claims = claims


# --------------------------------------------------------------------------------------------
# presentation (§9) and the RS's answers (§10, §11)

def mcp_message(ctx, *, method="tools/call", name="echo", rid=None, scheme="HTTPSig"):
    params = {"name": name, "arguments": {"text": "hello"}} if method in ("tools/call", "prompts/get") else {}
    params["_meta"] = {"io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION}  # as in the §9.4 example
    rid = rid if rid is not None else secrets.randbelow(1 << 30)
    body = json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params},
                      separators=(",", ":")).encode()
    msg = Message("POST", ctx.resource, {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": PROTOCOL_VERSION,
        "Authorization": f"{scheme} {ctx.token}",
        "Mcp-Method": method,
        "Content-Digest": ContentDigest.create(body),
    }, body)
    if method in NAMED_METHODS:
        msg.headers["Mcp-Name"] = mcp_name_header(name)
    msg.rid = rid
    return msg


def mcp_name_header(value):
    """§9.2 / SEP-2243 "Value Encoding": plain header-safe ASCII as is, otherwise base64."""
    plain = (value.isascii() and all(0x20 <= ord(c) < 0x7F for c in value)
             and value == value.strip(" \t") and not (value.startswith("=?base64?") and value.endswith("?=")))
    return value if plain else f"=?base64?{b64(value.encode('utf-8'))}?="


def required_components(msg):
    """The coverage table of §9.3 for this request."""
    comps = ["@method", "@target-uri", "authorization"]
    hdrs = {k.lower() for k in msg.headers}
    if msg.body:
        comps.append("content-digest")
    if msg.method == "POST":
        comps.append("mcp-method")
        doc = json.loads(msg.body)
        if isinstance(doc, dict) and doc.get("method") in NAMED_METHODS:
            comps.append("mcp-name")
        elif isinstance(doc, list) and "mcp-name" in hdrs:
            comps.append("mcp-name")  # a batch (refused anyway): cover what is sent
    if "mcp-protocol-version" in hdrs:
        comps.append("mcp-protocol-version")
    return comps


def presentation_params(created=None, tag=PRESENTATION_TAG):
    return [("created", now() if created is None else created), ("nonce", new_nonce()), ("tag", tag)]


def sign_presentation(msg, key, components=None, params=None):
    return sign(msg, key, components or required_components(msg), params or presentation_params())


def expect_result(resp, msg, name):
    expect(resp.status == 200, f"expected 200, got {resp.describe()}")
    doc = resp.json()
    expect(doc.get("id") == msg.rid, f"response id {doc.get('id')!r} != {msg.rid!r}")
    result = doc.get("result")
    expect(isinstance(result, dict), f"no result: {doc}")
    expect(result.get("name") == name, f"result.name {result.get('name')!r} != {name!r}: {result}")
    return result


CHALLENGE_PROBLEMS = []
DESCRIPTIONS = []  # every error_description received, checked against §11 / RFC 6749 §5.2


def note_description(where, text):
    if text is not None:
        DESCRIPTIONS.append((where, text))


def check_challenge(resp, msg, error):
    """§11.3: HTTPSig challenge with error and resource_metadata; for invalid_signature also
    Accept-Signature: sig=(<exactly the §9.3 components>);created;tag="httpsig-oauth", no nonce.
    Problems are collected and reported by one check per key, not per variant."""
    try:
        params = httpsig_challenge(resp)
        expect(params.get("error") == error, f"challenge error {params.get('error')!r}")
        expect(params.get("resource_metadata"), "challenge without resource_metadata")
        if error == "invalid_signature":
            acc = resp.get("Accept-Signature")
            expect(acc is not None, "no Accept-Signature")
            parsed = http_sf.parse(acc.encode(), tltype="dictionary")
            expect(list(parsed) == ["sig"], f"Accept-Signature labels {list(parsed)}")
            members, mparams = parsed["sig"]
            comps = [c for c, _ in members]
            want = required_components(msg)
            expect(sorted(comps) == sorted(want), f"Accept-Signature components {comps} != {want}")
            expect(mparams.get("created") is True and mparams.get("tag") == PRESENTATION_TAG
                   and "nonce" not in mparams, f"Accept-Signature parameters {dict(mparams)}")
    except Fail as e:
        CHALLENGE_PROBLEMS.append(f"{e} (HTTP {resp.status})")


def expect_rejected(resp, msg, status, error):
    expect(resp.status == status, f"expected {status} {error}, got {resp.describe()}")
    params = httpsig_challenge(resp)
    note_description("WWW-Authenticate", params.get("error_description"))
    expect(params.get("error") == error,
           f"expected error {error!r}, got {params.get('error')!r} ({params.get('error_description')!r})")
    if VERBOSE and resp.get("Accept-Signature"):
        print(f"  info: Accept-Signature: {resp.get('Accept-Signature')}", file=sys.stderr)
    if VERBOSE:  # descriptions are for humans only (§11): shown, never checked
        print(f"  info: {resp.status} {error}: {params.get('error_description')!r}", file=sys.stderr)
    check_challenge(resp, msg, error)
    return params


def run_flow(resource, alg):
    sfx = f" [{alg}]"
    key = ClientKey(alg)
    CHALLENGE_PROBLEMS.clear()
    DESCRIPTIONS.clear()

    ctx = check("discovery-401-challenge" + sfx, discover, resource)
    ok = ctx is not None
    if ok:
        ok = check("protected-resource-metadata" + sfx, lambda: protected_resource_metadata(ctx) or True)
    if ok:
        ok = check("authorization-server-metadata" + sfx, lambda: authorization_server_metadata(ctx, alg) or True)
    if ok:
        ok = check("dcr-register-runtime-client" + sfx, lambda: register(ctx, alg) or True)
    if ok:
        ok = check("token-request-signed" + sfx, lambda: get_token(ctx, key) or True)
    if ok:
        check("access-token-jwt-cnf-htsk" + sfx, lambda: verify_access_token(ctx, key) or True)
    if not ok:
        report("flow" + sfx, False, "not run: a discovery, registration or token step failed")
        return

    # ---- AS negative checks
    def token_error(r, error):
        """§11.1: HTTP 400 with a JSON body {"error", "error_description"}."""
        expect(r.status == 400, f"expected 400 {error}, got {r.describe()}")
        doc = r.json()
        note_description("token endpoint", doc.get("error_description"))
        expect(doc.get("error") == error, f"expected error {error!r}, got {r.describe()}")
        if VERBOSE:
            print(f"  info: 400 {error}: {doc.get('error_description')!r}", file=sys.stderr)

    def token_replay():
        # the same signed token request again: nonce replayed (§7.7 step 6)
        token_error(send(ctx.token_msg), "invalid_signature")

    def token_unsigned():
        token_error(send(token_message(ctx, key, signed=False)), "invalid_request")  # HTTPSIG-AS-11

    def token_authorization_not_covered():
        msg = token_message(ctx, key, components=["@method", "@target-uri", "content-digest"])  # §7.2
        token_error(send(msg), "invalid_signature")

    check("dcr-refuses-other-binding-method" + sfx, register_other_method, ctx)
    check("dcr-refuses-machine-client" + sfx, register_machine_client_refused, ctx)
    check("token-request-replayed-rejected" + sfx, token_replay)
    check("token-request-unsigned-rejected" + sfx, token_unsigned)
    check("token-request-authorization-not-covered-rejected" + sfx, token_authorization_not_covered)

    # ---- presentation
    accepted = {}

    def present_ok():
        msg = mcp_message(ctx)
        sign_presentation(msg, key)
        result = expect_result(send(msg), msg, "echo")
        accepted["msg"] = msg
        accepted["result"] = result

    def present_identity():
        result = need(accepted.get("result"), "the tools/call presentation")
        expect(result.get("client_id") == ctx.client_id, f"result.client_id {result.get('client_id')!r}")
        expect(result.get("thumbprint") == key.thumbprint,
               f"result.thumbprint {result.get('thumbprint')!r} != §4 thumbprint {key.thumbprint!r}")

    def present_tools_list():
        msg = mcp_message(ctx, method="tools/list")  # no Mcp-Name, no "mcp-name" coverage (§9.3)
        sign_presentation(msg, key)
        r = send(msg)
        expect(r.status == 200, f"expected 200, got {r.describe()}")
        doc = r.json()
        expect(isinstance(doc.get("result"), dict) and doc["result"].get("method") == "tools/list",
               f"unexpected response {doc}")

    def present_lowercase_scheme():
        msg = mcp_message(ctx, scheme="httpsig")  # §9.1, HTTPSIG-RS-2: any case, covered as sent
        sign_presentation(msg, key)
        expect_result(send(msg), msg, "echo")

    check("present-tools-call" + sfx, present_ok)
    check("present-result-identity" + sfx, present_identity)
    check("present-tools-list" + sfx, present_tools_list)
    check("present-lowercase-scheme" + sfx, present_lowercase_scheme)

    def present_base64_mcp_name():
        name = "écho résumé"  # not header-safe ASCII: sent as =?base64?...?= and signed encoded (§9.2, §9.5)
        msg = mcp_message(ctx, name=name)
        expect(msg.headers["Mcp-Name"].startswith("=?base64?"), f"Mcp-Name {msg.headers['Mcp-Name']}")
        sign_presentation(msg, key)
        expect_result(send(msg), msg, name)

    check("present-base64-mcp-name" + sfx, present_base64_mcp_name)

    # ---- tampered presentations: each built fresh, valid except for the one change
    def replayed():
        msg = need(accepted.get("msg"), "the tools/call presentation")
        expect_rejected(send(msg), msg, 401, "invalid_signature")  # §10 step 4

    def body_changed():
        msg = mcp_message(ctx)
        sign_presentation(msg, key)
        msg.body = msg.body.replace(b'"name":"echo"', b'"name":"other"')  # digest and signature kept
        expect_rejected(send(msg), msg, 401, "invalid_signature")  # §10 step 3

    def body_and_digest_changed():
        msg = mcp_message(ctx)
        sign_presentation(msg, key)
        msg.body = msg.body.replace(b'"name":"echo"', b'"name":"other"')
        msg.headers["Content-Digest"] = ContentDigest.create(msg.body)  # signature kept
        expect_rejected(send(msg), msg, 401, "invalid_signature")  # §10 step 2

    def mcp_name_changed():
        msg = mcp_message(ctx)
        sign_presentation(msg, key)
        msg.headers["Mcp-Name"] = "other"
        expect_rejected(send(msg), msg, 401, "invalid_signature")  # §10 step 2 (before step 5)

    def url_changed():
        msg = mcp_message(ctx)
        sign_presentation(msg, key)
        msg.url = msg.url + "?x=1"
        expect_rejected(send(msg), msg, 401, "invalid_signature")  # @target-uri includes the query

    def as_bearer():
        msg = mcp_message(ctx, scheme="Bearer")
        sign_presentation(msg, key)  # correctly signed, only the scheme is wrong
        expect_rejected(send(msg), msg, 401, "invalid_token")  # §10 step 1, HTTPSIG-RS-5

    def other_key():
        msg = mcp_message(ctx)
        sign_presentation(msg, ClientKey(alg))
        expect_rejected(send(msg), msg, 401, "invalid_signature")

    def created_stale():
        msg = mcp_message(ctx)
        sign_presentation(msg, key, params=presentation_params(created=now() - 60))  # max_age 30 s
        expect_rejected(send(msg), msg, 401, "invalid_signature")

    def mcp_name_not_covered():
        msg = mcp_message(ctx)
        sign_presentation(msg, key, components=[c for c in required_components(msg) if c != "mcp-name"])
        expect_rejected(send(msg), msg, 401, "invalid_signature")

    def keyid_added():
        # The pyauth signer as is: it always writes `keyid` (and `alg` unless include_alg=False).
        msg = mcp_message(ctx)
        resolver = MappingKeyResolver(public_keys={}, private_keys={key.thumbprint: key.priv})
        signer = HTTPMessageSigner(signature_algorithm=key.algorithm, key_resolver=resolver)
        signer.sign(msg, key_id=key.thumbprint, nonce=new_nonce(), label="sig", tag=PRESENTATION_TAG,
                    include_alg=False, covered_component_ids=required_components(msg),
                    body=msg.body, use_existing_digest=True)
        expect("keyid=" in msg.headers["Signature-Input"], f"library wrote {msg.headers['Signature-Input']}")
        expect_rejected(send(msg), msg, 401, "invalid_signature")  # HTTPSIG-RS-10

    def wrong_tag():
        msg = mcp_message(ctx)
        sign_presentation(msg, key, params=presentation_params(tag=TOKEN_REQUEST_TAG))
        expect_rejected(send(msg), msg, 401, "invalid_signature")  # no signature tagged httpsig-oauth

    def header_body_mismatch():
        msg = mcp_message(ctx)
        msg.headers["Mcp-Name"] = "other"  # signed as sent, but differs from params.name
        sign_presentation(msg, key)
        r = send(msg)
        expect(r.status == 400, f"expected 400 -32020, got {r.describe()}")  # §10 step 5
        doc = r.json()
        err = doc.get("error") or {}
        expect(err.get("code") == -32020, f"JSON-RPC error {err!r}")
        expect(doc.get("id") == msg.rid, f"error id {doc.get('id')!r} != request id {msg.rid!r}")

    def duplicate_label():
        msg = mcp_message(ctx)
        sign_presentation(msg, key)
        first = (msg.headers["Signature-Input"], msg.headers["Signature"])
        sign_presentation(msg, key)  # a second valid signature, same label
        msg.headers["Signature-Input"] = first[0] + ", " + msg.headers["Signature-Input"]
        msg.headers["Signature"] = first[1] + ", " + msg.headers["Signature"]
        expect_rejected(send(msg), msg, 400, "invalid_request")  # §10 step 2, §11.2, §11.3

    def batch():
        msg = mcp_message(ctx)
        msg.body = b"[" + msg.body + b"]"  # one tools/call, as a JSON-RPC batch
        msg.headers["Content-Digest"] = ContentDigest.create(msg.body)
        sign_presentation(msg, key)
        r = send(msg)
        expect(r.status == 400, f"expected 400 -32020, got {r.describe()}")  # §9.2, §10 step 5, §11.2
        doc = r.json()
        expect((doc.get("error") or {}).get("code") == -32020, f"JSON-RPC error {doc!r}")
        expect(doc.get("id", "absent") is None, f"error id {doc.get('id', 'absent')!r}, expected null (§11.3)")

    check("reject-replayed-request" + sfx, replayed)
    check("reject-body-changed" + sfx, body_changed)
    check("reject-body-and-digest-changed" + sfx, body_and_digest_changed)
    check("reject-mcp-name-header-changed" + sfx, mcp_name_changed)
    check("reject-url-changed" + sfx, url_changed)
    check("reject-token-as-bearer" + sfx, as_bearer)
    check("reject-signature-by-other-key" + sfx, other_key)
    check("reject-created-60s-ago" + sfx, created_stale)
    check("reject-mcp-name-not-covered" + sfx, mcp_name_not_covered)
    check("reject-keyid-parameter" + sfx, keyid_added)
    check("reject-wrong-tag" + sfx, wrong_tag)
    check("reject-signed-mcp-name-body-mismatch" + sfx, header_body_mismatch)

    def forged_keeps_nonce():
        # §10: steps 3 and 4 come after step 2, so a forged copy cannot consume the nonce.
        msg = mcp_message(ctx)
        sign_presentation(msg, key)
        forged = msg.copy()
        forged.headers["Mcp-Name"] = "other"
        expect_rejected(send(forged), forged, 401, "invalid_signature")
        expect_result(send(msg), msg, "echo")

    def challenges():
        expect(not CHALLENGE_PROBLEMS, "; ".join(CHALLENGE_PROBLEMS))

    check("reject-duplicate-label" + sfx, duplicate_label)
    check("reject-batch" + sfx, batch)
    check("forged-copy-does-not-consume-nonce" + sfx, forged_keeps_nonce)
    check("rejection-challenges-and-accept-signature" + sfx, challenges)

    def descriptions():
        # §11: "Descriptions contain no `"` or `\\`"; RFC 6749 §5.2 and RFC 6750 §3 allow only
        # %x20-21 / %x23-5B / %x5D-7E in error_description.
        expect(DESCRIPTIONS, "no error_description received")
        bad = [f"{where}: {text!r}" for where, text in DESCRIPTIONS
               if any(not (0x20 <= ord(c) <= 0x7E) or c in '"\\' for c in text)]
        expect(not bad, "error_description with characters outside %x20-21 / %x23-5B / %x5D-7E: " + "; ".join(bad))

    check("error-descriptions-charset" + sfx, descriptions)

    def replay_across_instances():
        # §10 step 4 / HTTPSIG-RS-13: the replay cache is shared by every instance serving
        # the resource. Accepted by the first process, the same bytes are a replay at the
        # second (another process, same resource identifier, same Redis).
        msg = mcp_message(ctx)
        sign_presentation(msg, key)
        expect_result(send(msg), msg, "echo")
        again = msg.copy()
        again.url = SECOND_INSTANCE
        r = send(again)
        expect_rejected(r, msg, 401, "invalid_signature")
        expect("replay" in (r.get("WWW-Authenticate") or ""), f"not a replay rejection: {r.describe()}")
        # and the second process does accept a fresh request for the same resource
        fresh = mcp_message(ctx)
        sign_presentation(fresh, key)
        fresh.url = SECOND_INSTANCE
        expect_result(send(fresh), fresh, "echo")

    if SECOND_INSTANCE:
        check("replay-across-two-resource-server-processes" + sfx, replay_across_instances)


def main():
    if len(sys.argv) not in (2, 3):
        print("usage: client.py <mcp-endpoint-url> [<second-instance-url>]", file=sys.stderr)
        return 2
    resource = sys.argv[1]
    global SECOND_INSTANCE
    SECOND_INSTANCE = sys.argv[2] if len(sys.argv) == 3 else None
    check("vector-a1-thumbprint", vector_thumbprint)
    check("vector-a2-token-request-base-and-signature", vector_token_request)
    check("vector-a3-access-token", vector_access_token)
    check("vector-a4-presentation-base-and-signature", vector_presentation)
    check("vector-library-base-agrees", vector_library_agrees)
    for alg in ("ed25519", "ecdsa-p256-sha256"):
        run_flow(resource, alg)
    print(f"interop: {PASSED} passed, {FAILED} failed", flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
