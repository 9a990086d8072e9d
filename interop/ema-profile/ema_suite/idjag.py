"""ID-JAGs the suite mints for its own trust entries, and the values they carried (so that no
error description may repeat them, EMA-AS-21)."""

from . import keys as K
from .common import W

SENSITIVE = set()


def remember(claims):
    for k in ("sub", "jti", "iss", "client_id"):
        v = claims.get(k)
        if isinstance(v, str) and len(v) >= 8:
            SENSITIVE.add(v)


def jag(client="acme-agent", scope="mcp:read mcp:write", resource="R1", iss=None, key=None, kid="t-rsa",
        alg="RS256", typ=K.TYP_ID_JAG, header=None, **claims):
    """An ID-JAG of the `test` trust entry (our jwks_file key) unless iss/key say otherwise."""
    if resource == "R1":
        resource = W.r1
    c = K.claims_for(iss or W.test_iss, W.as_issuer, client, resource, scope=scope)
    for k, v in claims.items():
        if k == "lifetime":
            c["exp"] = c["iat"] + v
        elif v is K.DROP:
            c.pop(k, None)
        else:
            c[k] = v
    for k in [k for k, v in c.items() if v is K.DROP]:
        del c[k]
    remember(c)
    return K.mint(c, key or W.keys.rsa, kid=kid, alg=alg, typ=typ, **(header or {})), c


def token(*a, **kw):
    return jag(*a, **kw)[0]
