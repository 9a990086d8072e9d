"""The suite's own keys, the JWK Sets the MCP AS trusts, and the JWTs minted with them.

The MCP AS is configured (setup.py) with trust entries whose key source is a `jwks_file` or a
`jwks_uri` served by this suite, so the suite can mint ID-JAGs of any shape (profile §7.4) with
PyJWT, or byte by byte for malformed ones. It can never sign for the IdP: the IdP's ID tokens
and ID-JAGs come from the IdP.
"""

import hashlib
import json
import secrets
import time
import uuid

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from .common import TYP_ID_JAG, b64u


def _rsa(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_jwk(key, kid, alg):
    if isinstance(key, rsa.RSAPrivateKey):
        j = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    else:
        j = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    j.update(kid=kid, alg=alg, use="sig")
    return j


def ec_thumbprint(jwk):
    """RFC 7638 thumbprint of an EC public JWK."""
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    return b64u(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())


class Keys:
    """The trust entries' keys: `t-rsa` (RS256) and `t-ec` (ES256) in the jwks_file, `served`
    (RS256) behind the suite's jwks_uri, and `attacker`, which no entry holds."""

    def __init__(self):
        self.rsa = _rsa()
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.served = _rsa()
        self.served_next = _rsa()
        self.attacker = _rsa()

    def file_jwks(self):
        return {"keys": [public_jwk(self.rsa, "t-rsa", "RS256"), public_jwk(self.ec, "t-ec", "ES256")]}

    def served_jwks(self, with_next=False):
        keys = [public_jwk(self.served, "served-1", "RS256")]
        if with_next:
            keys.append(public_jwk(self.served_next, "served-2", "RS256"))
        return {"keys": keys}

    def attacker_jwks(self):
        return {"keys": [public_jwk(self.attacker, "t-rsa", "RS256")]}


def claims_for(iss, aud, client_id, resource, scope="mcp:read", sub=None, lifetime=300, **extra):
    """Section 7.4's claims, as this profile's IdP would write them."""
    now = int(time.time())
    c = {
        "iss": iss,
        "sub": sub or str(uuid.uuid4()),
        "aud": aud,
        "client_id": client_id,
        "jti": b64u(secrets.token_bytes(16)),
        "iat": now,
        "exp": now + lifetime,
        "resource": resource,
    }
    if scope is not None:
        c["scope"] = scope
    for k, v in extra.items():
        if v is _DROP:
            c.pop(k, None)
        else:
            c[k] = v
    return c


class _Drop:
    def __repr__(self):
        return "DROP"


_DROP = _Drop()
DROP = _DROP  # a claim value that removes the claim


def mint(claims, key, kid="t-rsa", alg="RS256", typ=TYP_ID_JAG, **header):
    """A JWS by PyJWT. typ=None leaves `typ` out."""
    h = {"kid": kid, **header}
    if kid is None:
        h.pop("kid")
    if typ is None:
        h["typ"] = None  # PyJWT drops a falsy typ
    else:
        h["typ"] = typ
    return jwt.encode(claims, key, algorithm=alg, headers=h)


def raw_rs256(header_text, claims_text, key):
    """A compact JWS over exactly these header and claims texts (for repeated members, bad JSON),
    signed RS256 with `key`."""
    signing_input = f"{b64u(header_text)}.{b64u(claims_text)}".encode()
    sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode() + "." + b64u(sig)


def dpop_proof(key, htm, htu, **extra):
    """An RFC 9449 DPoP proof (ES256) for one request; returns (proof, jkt)."""
    jwk = public_jwk(key, None, "ES256")
    for k in ("kid", "alg", "use"):
        jwk.pop(k, None)
    claims = {"jti": b64u(secrets.token_bytes(16)), "htm": htm, "htu": htu, "iat": int(time.time())}
    claims.update(extra)
    proof = jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk})
    return proof, ec_thumbprint(jwk)


def new_ec():
    return ec.generate_private_key(ec.SECP256R1())
