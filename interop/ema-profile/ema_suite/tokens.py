"""The two token requests of the profile, as a client sends them, and access-token checks.

- `exchange`: §7.2, RFC 8693 at the IdP's token endpoint;
- `redeem`: §7.6, RFC 7523 jwt-bearer at the MCP AS's token endpoint;
- `verify_access_token`: an RFC 9068 token checked against the MCP AS's published keys.
"""

import secrets
import time

import jwt
import requests

from .common import GT_EXCHANGE, GT_JWT_BEARER, TT_ID_JAG, TT_ID_TOKEN, W, basic, post_form

_jwks_cache = {}


def secret(server, client_id):
    return W.secrets[(server, client_id)]


def client_auth(server, client_id, method, fields, headers, endpoint=None):
    """Add client authentication: basic, post, pkjwt (private_key_jwt), id (client_id alone),
    badbasic / badpost (a wrong secret), none (nothing)."""
    if method == "basic":
        headers["Authorization"] = basic(client_id, secret(server, client_id))
    elif method == "badbasic":
        headers["Authorization"] = basic(client_id, "not-the-secret")
    elif method == "post":
        fields += [("client_id", client_id), ("client_secret", secret(server, client_id))]
    elif method == "badpost":
        fields += [("client_id", client_id), ("client_secret", "not-the-secret")]
    elif method == "id":
        fields += [("client_id", client_id)]
    elif method == "pkjwt":
        now = int(time.time())
        assertion = jwt.encode({"iss": client_id, "sub": client_id, "aud": endpoint, "iat": now,
                                "exp": now + 60, "jti": secrets.token_urlsafe(16)},
                               W.pk_key, algorithm="RS256", headers={"kid": "pk-1"})
        fields += [("client_id", client_id),
                   ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                   ("client_assertion", assertion)]
    elif method == "none":
        pass
    else:
        raise ValueError(method)


def as_token_endpoint():
    return W.as_meta["token_endpoint"]


def redeem(assertion, client="acme-agent", *, resource="R1", scope=None, auth="basic", extra=(),
           headers=None, drop=(), grant_type=GT_JWT_BEARER):
    """§7.6. resource="R1" means W.r1; None leaves it out. `drop` removes parameters."""
    if resource == "R1":
        resource = W.r1
    fields = [("grant_type", grant_type)]
    if assertion is not None:
        fields.append(("assertion", assertion))
    if resource is not None:
        fields.append(("resource", resource))
    if scope is not None:
        fields.append(("scope", scope))
    fields += list(extra)
    fields = [(k, v) for k, v in fields if k not in drop]
    h = dict(headers or {})
    client_auth("as", client, auth, fields, h, endpoint=as_token_endpoint())
    return post_form(as_token_endpoint(), fields, h)


def idp_token_endpoint():
    return (W.idp_meta or {}).get("token_endpoint") or f"{W.idp_issuer}/token"


def exchange(subject_token, client="desktop-agent", *, audience="AS", resource="R1", scope=None,
             auth="basic", extra=(), headers=None, drop=(), subject_token_type=TT_ID_TOKEN,
             requested_token_type=TT_ID_JAG):
    """§7.2. audience="AS" means the MCP AS issuer, resource="R1" W.r1; None leaves them out."""
    if audience == "AS":
        audience = W.as_issuer
    if resource == "R1":
        resource = W.r1
    fields = [("grant_type", GT_EXCHANGE)]
    if requested_token_type is not None:
        fields.append(("requested_token_type", requested_token_type))
    if subject_token is not None:
        fields.append(("subject_token", subject_token))
    if subject_token_type is not None:
        fields.append(("subject_token_type", subject_token_type))
    if audience is not None:
        fields.append(("audience", audience))
    if resource is not None:
        fields.append(("resource", resource))
    if scope is not None:
        fields.append(("scope", scope))
    fields += list(extra)
    fields = [(k, v) for k, v in fields if k not in drop]
    h = dict(headers or {})
    client_auth("idp", client, auth, fields, h, endpoint=idp_token_endpoint())
    return post_form(idp_token_endpoint(), fields, h)


def jwks_of(jwks_uri, refresh=False):
    if refresh or jwks_uri not in _jwks_cache:
        _jwks_cache[jwks_uri] = jwt.PyJWKSet.from_dict(requests.get(jwks_uri, timeout=10).json())
    return _jwks_cache[jwks_uri]


def key_for(jwks_uri, token):
    kid = jwt.get_unverified_header(token).get("kid")
    for attempt in (False, True):
        ks = jwks_of(jwks_uri, refresh=attempt)
        for k in ks.keys:
            if k.key_id == kid:
                return k
    raise ValueError(f"no key {kid!r} at {jwks_uri}")


def verify_access_token(token, audience):
    """RFC 9068 §4 as a resource server checks it: typ at+jwt, the AS's key, iss, aud, exp.
    Returns (claims, problems)."""
    problems = []
    try:
        h = jwt.get_unverified_header(token)
        if str(h.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            problems.append(f"typ {h.get('typ')!r}, want at+jwt")
        k = key_for(W.as_meta["jwks_uri"], token)
        claims = jwt.decode(token, k, algorithms=[h["alg"]], audience=audience, issuer=W.as_issuer,
                            options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        return claims, problems
    except Exception as e:
        problems.append(f"access token does not verify: {e!r}")
        return None, problems
