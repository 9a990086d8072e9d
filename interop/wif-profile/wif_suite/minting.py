"""Keys, JWS and assertions: key pairs and JWKs, JWS built by hand (for malformed cases) or with
PyJWT's encoder, the claim builders of the presets, DPoP proofs and runtime-key token-request
signatures. Assertions are minted with PyJWT, never with the project's code."""

import base64
import hashlib
import json
import secrets
import uuid
import warnings

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, get_default_algorithms
from jwt.utils import der_to_raw_signature

from .common import W, b64u, now


warnings.filterwarnings("ignore", message=".*below the minimum recommended size.*")  # the 1024-bit test key
PYJWT_ALGS = get_default_algorithms()
DEL = object()  # "remove this claim" marker for the claim builders


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
