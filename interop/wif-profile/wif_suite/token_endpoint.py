"""Requests to the AS's token endpoint (form, DPoP retry) and the expectations on its answers:
an error of §10.1 (expect_error) or the token response of §7.4 with an RFC 9068 access token
verified with PyJWT against the AS's jwks_uri (expect_token)."""

import urllib.parse

import jwt

from .common import HTTP, JWT_BEARER, VERBOSE, W, log, now
from .report import DESCRIPTIONS, STEP_678, check


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


def post_with_dpop(form, dpop, extra_headers=None, **proof_kw):
    """RFC 9449 §8: one retry with the server's nonce when it asks for one."""
    resp = post_token(form, headers={"DPoP": dpop.proof("POST", W.token_endpoint, **proof_kw),
                                     **(extra_headers or {})})
    if resp.error == "use_dpop_nonce" and resp.headers.get("DPoP-Nonce"):
        resp = post_token(form, headers={"DPoP": dpop.proof("POST", W.token_endpoint,
                                                            nonce=resp.headers["DPoP-Nonce"], **proof_kw),
                                         **(extra_headers or {})})
    return resp
