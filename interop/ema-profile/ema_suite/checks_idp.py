"""The IdP, §5.1, §7.1 to §7.5: metadata, sign-in and ID tokens, the exchange's form and client
authentication, the ID-JAG and the response. Users sign in through the IdP's HTML pages
(oidc.py); their ID tokens are the subject tokens. Policy, subject-token and order checks are in
checks_idp_policy.py."""

import json
import time

import jwt
import requests

from .checks_as_request import token_ok
from .common import (GT_EXCHANGE, TT_ACCESS_TOKEN, TT_ID_JAG, W, b64u_decode, basic, body_json, expect_error,
                     expect_ok, jwt_parts, post_form, short)
from .oidc import sign_in, validate_id_token
from .report import check
from .tokens import exchange, idp_token_endpoint, jwks_of, redeem

S = {}  # sign-ins: "alice" (desktop-agent), "bob", "dave", "erin", "frank", "alice@second", "bob@second", ...

IDP_REQS = ["EMA-IDP-1", "EMA-IDP-2", "EMA-IDP-3", "EMA-IDP-4", "EMA-IDP-5", "EMA-IDP-6", "EMA-IDP-7",
            "EMA-IDP-8", "EMA-IDP-9", "EMA-IDP-10", "EMA-IDP-11", "EMA-IDP-12", "EMA-IDP-13", "EMA-IDP-16",
            "E2E.idp"]


def report_unavailable():
    """No IdP in this build: one FAIL per requirement the suite would check, with the reason."""
    for req in IDP_REQS:
        check(f"{req}.not-run", False, f"the IdP did not start: {W.idp_why}")


def need(*names):
    missing = [n for n in names if n not in S]
    if missing:
        check(f"setup.idp-sign-in-{'-'.join(missing)}", False, "the sign-in failed earlier; checks skipped")
    return not missing


# ---------------------------------------------------------------- sign-ins


def sign_ins():
    for key, user, client in (("alice", "alice", "desktop-agent"), ("bob", "bob", "desktop-agent"),
                              ("dave", "dave", "desktop-agent"), ("erin", "erin", "desktop-agent"),
                              ("frank", "frank", "desktop-agent"), ("alice-again", "alice", "desktop-agent"),
                              ("alice@second", "alice", "second-agent"), ("bob@second", "bob", "second-agent"),
                              ("alice@stranger", "alice", "stranger-agent")):
        s = sign_in(f"EMA-IDP-2.{key}", user, client, quiet=key not in ("alice", "alice@second"))
        if s:
            S[key] = s
    check("EMA-IDP-2.sign-in-without-resource", "alice" in S, "scope=openid alone, no resource: refused")


# ---------------------------------------------------------------- §5.1 metadata (EMA-IDP-1)


def check_idp_metadata():
    docs = {}
    for loc in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        r = requests.get(W.idp_issuer + loc, timeout=10)
        ok = r.status_code == 200 and body_json(r).get("issuer") == W.idp_issuer
        check(f"EMA-IDP-1.served-at{loc.replace('/.well-known/', '-')}", ok, short(r))
        if ok:
            docs[loc] = r.json()
    for loc, m in docs.items():
        tag = "oidc" if "openid" in loc else "rfc8414"
        want = [
            ("subject-types-public", m.get("subject_types_supported") == ["public"], m.get("subject_types_supported")),
            ("rs256", "RS256" in (m.get("id_token_signing_alg_values_supported") or []),
             m.get("id_token_signing_alg_values_supported")),
            ("scope-openid", "openid" in (m.get("scopes_supported") or []), m.get("scopes_supported")),
            ("grant-token-exchange", GT_EXCHANGE in (m.get("grant_types_supported") or []),
             m.get("grant_types_supported")),
            ("chaining-token-types", m.get("identity_chaining_requested_token_types_supported") == [TT_ID_JAG],
             m.get("identity_chaining_requested_token_types_supported")),
            ("response-types-code", m.get("response_types_supported") == ["code"], m.get("response_types_supported")),
            ("pkce-s256", "S256" in (m.get("code_challenge_methods_supported") or []),
             m.get("code_challenge_methods_supported")),
            ("endpoints", all(m.get(k) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")),
             "authorization_endpoint, token_endpoint, jwks_uri"),
        ]
        for name, ok, got in want:
            check(f"EMA-IDP-1.{tag}.{name}", ok, f"got {got!r}")
        text = json.dumps(m)
        named = [s for s in (W.as_issuer, W.r1, W.r2, "mcp-as", "acme-agent", "other-agent") if s in text]
        check(f"EMA-IDP-1.{tag}.no-targets-named", not named, f"names {named}")
    for m in list(docs.values())[:1]:
        check("EMA-AS-1.no-profile-without-trust-entries",
              "urn:ietf:params:oauth:grant-profile:id-jag" not in (m.get("authorization_grant_profiles_supported") or []),
              "the IdP (no [[id_jag_issuers]]) lists the ID-JAG grant profile")
    if len(docs) == 2:
        a, b = docs.values()
        check("EMA-IDP-1.one-document", a == b, "the two locations serve different documents")


# ---------------------------------------------------------------- §7.1 ID tokens (EMA-IDP-2)


def check_id_token():
    if not need("alice"):
        return
    s = S["alice"]
    h, c = s["header"], s["claims"]
    check("EMA-IDP-2.header", h.get("alg") == "RS256" and h.get("typ") == "JWT" and bool(h.get("kid")),
          f"header {h}")
    want = {"iss", "sub", "aud", "iat", "exp", "auth_time", "nonce"}
    check("EMA-IDP-2.claims-exactly", set(c) == want, f"extra {sorted(set(c) - want)}, missing {sorted(want - set(c))}")
    check("EMA-IDP-2.aud-string", c.get("aud") == "desktop-agent", f"aud {c.get('aud')!r}")
    check("EMA-IDP-2.exp-is-iat-plus-ttl", c.get("exp", 0) - c.get("iat", 0) == 3600,
          f"exp - iat = {c.get('exp', 0) - c.get('iat', 0)}, want 3600 (id_token_ttl)")
    check("EMA-IDP-2.auth-time", isinstance(c.get("auth_time"), int) and c["auth_time"] <= c.get("iat", 0) + 5,
          f"auth_time {c.get('auth_time')!r}")
    check("EMA-IDP-2.nonce", c.get("nonce") == s["nonce"], f"nonce {c.get('nonce')!r}")
    sub = str(c.get("sub", ""))
    check("EMA-IDP-2.sub-not-username", sub and "alice" not in sub.lower(), f"sub {sub!r} is (or has) the username")
    if "alice-again" in S:
        check("EMA-IDP-2.sub-stable", S["alice-again"]["claims"]["sub"] == sub, "two sign-ins of alice, two subs")
    if "bob" in S:
        check("EMA-IDP-2.sub-per-user", S["bob"]["claims"]["sub"] != sub, "alice and bob share a sub")
    if "alice@second" in S:
        c2 = S["alice@second"]["claims"]
        check("EMA-IDP-2.sub-public-across-clients", c2.get("sub") == sub and c2.get("aud") == "second-agent",
              f"sub {c2.get('sub')!r}, aud {c2.get('aud')!r} (D12: public identifiers)")
    # the access token of an openid-only sign-in: aud the IdP issuer, scope openid (§7.1)
    at = s["response"].get("access_token", "")
    _, atc = jwt_parts(at)
    atc = atc or {}
    check("EMA-IDP-2.openid-access-token", atc.get("aud") in (W.idp_issuer, [W.idp_issuer]) and
          atc.get("scope") == "openid", f"aud {atc.get('aud')!r}, scope {atc.get('scope')!r}")
    # refresh: a new ID token, same sub and auth_time (OIDC Core §12.2)
    rt = s["response"].get("refresh_token")
    if not check("EMA-IDP-2.refresh-token-issued", bool(rt), "no refresh_token for a client with that grant"):
        return
    time.sleep(1.1)
    r = post_form(idp_token_endpoint(), [("grant_type", "refresh_token"), ("refresh_token", rt)],
                  {"Authorization": basic("desktop-agent", W.secrets[("idp", "desktop-agent")])})
    j = body_json(r)
    if not check("EMA-IDP-2.refresh-new-id-token", r.status_code == 200 and "id_token" in j, short(r)):
        return
    h2, c2, probs = validate_id_token(j["id_token"], "desktop-agent", None)
    ok = not probs and c2 and c2.get("sub") == sub and c2.get("auth_time") == c.get("auth_time") \
        and c2.get("iat", 0) > c.get("iat", 0) and c2.get("iss") == c.get("iss") and c2.get("aud") == c.get("aud")
    check("EMA-IDP-2.refresh-same-sub-auth-time", ok,
          f"{probs} sub {c2 and c2.get('sub')!r} auth_time {c2 and c2.get('auth_time')!r} iat {c2 and c2.get('iat')}")
    S["alice-refreshed"] = {"id_token": j["id_token"], "claims": c2}
    if c2:
        r = exchange(j["id_token"])
        check("EMA-IDP-2.refreshed-id-token-exchanges", r.status_code == 200, short(r))


# ---------------------------------------------------------------- §7.4/7.5 the ID-JAG (EMA-IDP-9, -10)


def verify_id_jag(name, jag_text, sub, *, client_id="acme-agent", resource=None, scope=None, cnf=None):
    """EMA-IDP-9: the ID-JAG of §7.4, verified with the IdP's JWKS. Returns its claims."""
    resource = resource or W.r1
    h, c = jwt_parts(jag_text)
    if h is None:
        check(f"{name}", False, "not a compact JWS")
        return None
    check(f"{name}.header", h.get("alg") == "RS256" and h.get("typ") == "oauth-id-jag+jwt" and bool(h.get("kid"))
          and set(h) == {"alg", "kid", "typ"}, f"header {h}")
    try:
        key = [k for k in jwks_of(W.idp_meta["jwks_uri"], refresh=True).keys if k.key_id == h.get("kid")][0]
        jwt.decode(jag_text, key, algorithms=["RS256"], audience=W.as_issuer, issuer=W.idp_issuer)
        check(f"{name}.signature", True)
    except Exception as e:
        check(f"{name}.signature", False, repr(e))
    want = {"iss", "sub", "aud", "client_id", "jti", "iat", "exp", "resource"} | ({"scope"} if scope else set()) \
        | ({"cnf"} if cnf else set())
    check(f"{name}.claims-exactly", set(c) == want, f"extra {sorted(set(c) - want)}, missing {sorted(want - set(c))}")
    probs = []
    if c.get("iss") != W.idp_issuer:
        probs.append(f"iss {c.get('iss')!r}")
    if c.get("sub") != sub:
        probs.append(f"sub {c.get('sub')!r}, want the ID token's {sub!r}")
    if c.get("aud") != W.as_issuer:
        probs.append(f"aud {c.get('aud')!r}, want the string {W.as_issuer!r}")
    if c.get("client_id") != client_id:
        probs.append(f"client_id {c.get('client_id')!r}, want {client_id!r}")
    if c.get("resource") != resource:
        probs.append(f"resource {c.get('resource')!r}, want the string {resource!r}")
    if scope is not None and c.get("scope") != scope:
        probs.append(f"scope {c.get('scope')!r}, want {scope!r}")
    if c.get("exp", 0) - c.get("iat", 0) != 300:
        probs.append(f"exp - iat = {c.get('exp', 0) - c.get('iat', 0)}, want 300 (id_jag_ttl)")
    if abs(c.get("iat", 0) - time.time()) > 10:
        probs.append(f"iat {c.get('iat')} is not now")
    jti = c.get("jti", "")
    try:
        bits = len(b64u_decode(jti)) * 8
    except Exception:
        bits = 0
    if not isinstance(jti, str) or bits < 128:
        probs.append(f"jti {jti!r} has fewer than 128 bits in base64url")
    if cnf is not None and c.get("cnf") != cnf:
        probs.append(f"cnf {c.get('cnf')!r}, want {cnf!r}")
    check(f"{name}.claims", not probs, "; ".join(probs))
    return c


def response_ok(name, r, *, scope):
    """EMA-IDP-10: §7.5's response."""
    def want(j):
        why = []
        if j.get("issued_token_type") != TT_ID_JAG:
            why.append(f"issued_token_type {j.get('issued_token_type')!r}")
        if j.get("token_type") != "N_A":
            why.append(f"token_type {j.get('token_type')!r}, want N_A")
        if j.get("expires_in") != 300:
            why.append(f"expires_in {j.get('expires_in')!r}, want 300")
        if scope is None and "scope" in j:
            why.append(f"scope {j.get('scope')!r} without a scope in the ID-JAG")
        if scope is not None and j.get("scope") != scope:
            why.append(f"scope {j.get('scope')!r}, want {scope!r}")
        if "refresh_token" in j:
            why.append("a refresh_token")
        if not isinstance(j.get("access_token"), str):
            why.append("no access_token")
        return why
    return expect_ok(name, r, want=want)


def check_exchange():
    if not need("alice"):
        return
    sub = S["alice"]["claims"]["sub"]
    r = exchange(S["alice"]["id_token"], scope="mcp:read")
    j = response_ok("EMA-IDP-10.response", r, scope="mcp:read")
    if j:
        c = verify_id_jag("EMA-IDP-9.id-jag", j["access_token"], sub, scope="mcp:read")
        token_ok("EMA-IDP-9.redeemed-at-the-as", redeem(j["access_token"], scope="mcp:read"), sub=sub,
                 entry="acme", scope="mcp:read")
        r2 = exchange(S["alice"]["id_token"], scope="mcp:read")
        c2 = jwt_parts(body_json(r2).get("access_token", "x.x.x"))[1] or {}
        check("EMA-IDP-9.new-jti-each-time", c and c2.get("jti") and c2.get("jti") != c.get("jti"),
              f"{c and c.get('jti')} / {c2.get('jti')}")
    r = exchange(S["alice"]["id_token"], auth="post")
    j = response_ok("EMA-IDP-8.default-scopes", r, scope="mcp:read")
    if j:
        verify_id_jag("EMA-IDP-8.default-scopes.id-jag", j["access_token"], sub, scope="mcp:read")
    r = exchange(S["alice"]["id_token"], resource=W.r2, scope="mcp:read other:scope")
    j = response_ok("EMA-IDP-8.second-resource", r, scope="mcp:read other:scope")
    if j:
        verify_id_jag("EMA-IDP-8.second-resource.id-jag", j["access_token"], sub, resource=W.r2,
                      scope="mcp:read other:scope")
    if need("alice@second"):
        # rule 5: no default_scopes -> an ID-JAG without scope, mapped to other-agent
        r = exchange(S["alice@second"]["id_token"], "second-agent")
        j = response_ok("EMA-IDP-8.no-default-scopes", r, scope=None)
        if j:
            verify_id_jag("EMA-IDP-9.mapped-client-id", j["access_token"], sub, client_id="other-agent")
            jj = token_ok("EMA-AS-14.idp-id-jag-without-scope", redeem(j["access_token"], "other-agent"),
                          client="other-agent", sub=sub, entry="acme")
            if jj and jj.get("_claims") is not None:
                check("EMA-AS-14.idp-id-jag-without-scope-no-scope", not jj["_claims"].get("scope"),
                      f"token scope {jj['_claims'].get('scope')!r}")


# ---------------------------------------------------------------- §7.3 step 1: form (EMA-IDP-4)


def check_exchange_form():
    if not need("alice"):
        return
    idt = S["alice"]["id_token"]
    e = lambda name, r, err="invalid_request": expect_error(f"EMA-IDP-4.{name}", r, 400, err,  # noqa: E731
                                                            forbidden=(idt,))
    for p in ("requested_token_type", "subject_token", "subject_token_type", "audience", "resource"):
        e(f"{p.replace('_', '-')}-missing", exchange(idt, drop=(p,)))
    e("subject-token-twice", exchange(idt, extra=[("subject_token", idt)]))
    e("scope-twice", exchange(idt, scope="mcp:read", extra=[("scope", "mcp:read")]))
    e("requested-token-type-twice", exchange(idt, extra=[("requested_token_type", TT_ID_JAG)]))
    e("grant-type-twice", exchange(idt, extra=[("grant_type", GT_EXCHANGE)]))
    e("audience-twice", exchange(idt, extra=[("audience", W.as_issuer)]), "invalid_target")
    e("audience-two-values", exchange(idt, extra=[("audience", "https://other.example")]), "invalid_target")
    e("resource-twice", exchange(idt, extra=[("resource", W.r1)]), "invalid_target")
    e("resource-two-values", exchange(idt, extra=[("resource", W.r2)]), "invalid_target")
    e("actor-token", exchange(idt, extra=[("actor_token", idt), ("actor_token_type",
                                                                   "urn:ietf:params:oauth:token-type:id_token")]))
    e("actor-token-type", exchange(idt, extra=[("actor_token_type", "urn:ietf:params:oauth:token-type:id_token")]))
    e("authorization-details", exchange(idt, extra=[("authorization_details", '[{"type":"x"}]')]))
    e("requested-access-token", exchange(idt, requested_token_type=TT_ACCESS_TOKEN))
    e("requested-jwt", exchange(idt, requested_token_type="urn:ietf:params:oauth:token-type:jwt"))
    e("subject-type-access-token", exchange(idt, subject_token_type=TT_ACCESS_TOKEN))
    e("subject-type-jwt", exchange(idt, subject_token_type="urn:ietf:params:oauth:token-type:jwt"))
    e("subject-type-saml2", exchange(idt, subject_token_type="urn:ietf:params:oauth:token-type:saml2"))
    e("subject-type-id-jag", exchange(idt, subject_token_type=TT_ID_JAG))
    r = post_form(idp_token_endpoint(), [("grant_type", "urn:example:unknown")],
                  {"Authorization": basic("desktop-agent", W.secrets[("idp", "desktop-agent")])})
    expect_error("S10.1.unsupported-grant-type", r, 400, "unsupported_grant_type")


# ---------------------------------------------------------------- step 2: client (EMA-IDP-3)


def check_exchange_client():
    if not need("alice"):
        return
    idt = S["alice"]["id_token"]
    expect_error("EMA-IDP-3.no-authentication", exchange(idt, auth="none"), 401, "invalid_client")
    expect_error("EMA-IDP-3.wrong-secret-basic", exchange(idt, auth="badbasic"), 401, "invalid_client",
                 challenge="Basic")
    expect_error("EMA-IDP-3.wrong-secret-post", exchange(idt, auth="badpost"), 401, "invalid_client")
    expect_error("EMA-IDP-3.client-id-alone", exchange(idt, auth="id"), 401, "invalid_client")
    expect_error("EMA-IDP-3.public-client", exchange(idt, "public-app", auth="id"), 401, "invalid_client")
    expect_error("EMA-IDP-3.unknown-client", exchange(idt, "nobody", auth="id"), 401, "invalid_client")
    expect_error("EMA-IDP-3.client-without-grant", exchange(idt, "no-exchange"), 400, "unauthorized_client")


STEPS_A = [sign_ins, check_idp_metadata, check_id_token, check_exchange, check_exchange_form, check_exchange_client]
