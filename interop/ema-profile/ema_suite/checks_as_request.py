"""The MCP AS, §5.2 and §7.7 steps 1 to 8: metadata, the form, the kind (`typ`), client
authentication, binding of the request, the JOSE header, the trust entry and its keys.

Every ID-JAG here is minted by the suite for a trust entry whose keys it holds (setup.py)."""

import json
import os
import threading
import time

import jwt

from . import keys as K
from .common import (GT_JWT_BEARER, PROFILE_ID_JAG, W, b64u, body_json, expect_error, expect_ok, post_form,
                     short)
from .idjag import jag, token
from .report import check
from .tokens import as_token_endpoint, redeem, verify_access_token

DROP_CLIENT = K.DROP
DROP_RESOURCE = K.DROP
TRUST_TEXT = "the assertion is not signed by an issuer this server trusts"


def token_ok(name, r, *, client="acme-agent", sub=None, entry="test", resource=None, scope=None,
             token_type="Bearer"):
    """A 200 redemption: no-store, the token type, no refresh token, and an access token that
    verifies with the AS's keys for `resource`, with the principal `<entry>:<sub>` (§7.8)."""
    resource = resource or W.r1

    def want(j):
        why = []
        if str(j.get("token_type", "")).lower() != token_type.lower():
            why.append(f"token_type {j.get('token_type')!r}, want {token_type}")
        if "refresh_token" in j:
            why.append("a refresh_token was issued")
        claims, probs = verify_access_token(j.get("access_token", ""), resource)
        why += probs
        if claims:
            want_sub = sub if entry is None else f"{entry}:{sub}"
            if sub is not None and claims.get("sub") != want_sub:
                why.append(f"sub {claims.get('sub')!r}, want {want_sub}")
            if claims.get("client_id") != client:
                why.append(f"client_id {claims.get('client_id')!r}, want {client}")
            if scope is not None and sorted(str(claims.get("scope", "")).split()) != sorted(scope.split()):
                why.append(f"scope {claims.get('scope')!r}, want {scope!r}")
        j["_claims"] = claims
        return why

    return expect_ok(name, r, want=want)


# ---------------------------------------------------------------- §5.2 metadata


def check_as_metadata():
    m = W.as_meta
    check("EMA-AS-1.grant-type", GT_JWT_BEARER in m.get("grant_types_supported", []),
          f"grant_types_supported {m.get('grant_types_supported')}")
    check("EMA-AS-1.grant-profile", PROFILE_ID_JAG in m.get("authorization_grant_profiles_supported", []),
          f"authorization_grant_profiles_supported {m.get('authorization_grant_profiles_supported')}")
    text = json.dumps(m)
    named = [s for s in (W.idp_issuer, W.test_iss, "strict-idp.example", "tenants-idp.example",
                         "tenant-a-9188040d", f"127.0.0.1:{W.ports['keys']}") if s in text]
    check("EMA-AS-1.no-trusted-issuers", not named, f"the metadata names {named}")
    methods = m.get("token_endpoint_auth_methods_supported", [])
    check("S5.2.auth-methods", {"client_secret_basic", "client_secret_post"} <= set(methods),
          f"token_endpoint_auth_methods_supported {methods}")


# ---------------------------------------------------------------- the happy paths, per method


def check_as_positive():
    t, c = jag()
    token_ok("EMA-AS-3.client-secret-basic", redeem(t, scope="mcp:read"), sub=c["sub"], scope="mcp:read")
    t, c = jag()
    token_ok("EMA-AS-3.client-secret-post", redeem(t, auth="post"), sub=c["sub"], scope="mcp:read mcp:write")
    if W.pkjwt_ok:
        t, c = jag(client="pkjwt-agent", scope="mcp:read")
        token_ok("EMA-AS-3.private-key-jwt", redeem(t, "pkjwt-agent", auth="pkjwt"), client="pkjwt-agent",
                 sub=c["sub"], scope="mcp:read")
    else:
        check("EMA-AS-3.private-key-jwt", False, "`mcp-auth as client add --jwks F --grant jwt-bearer` failed")


# ---------------------------------------------------------------- step 1: form


def check_form():
    expect_error("EMA-AS-21.form.assertion-missing", redeem(None), 400, "invalid_request")
    t = token()
    expect_error("EMA-AS-21.form.assertion-twice", redeem(t, extra=[("assertion", t)]), 400, "invalid_request")
    expect_error("EMA-AS-13.resource-missing", redeem(token(), resource=None), 400, "invalid_request")
    expect_error("EMA-AS-13.resource-twice", redeem(token(), extra=[("resource", W.r1)]), 400, "invalid_target")
    expect_error("EMA-AS-21.form.scope-twice", redeem(token(), scope="mcp:read", extra=[("scope", "mcp:read")]),
                 400, "invalid_request")
    expect_error("S10.2.jwt-dpop-grant-type",
                 redeem(token(), grant_type="urn:ietf:params:oauth:grant-type:jwt-dpop"),
                 400, "unsupported_grant_type")


# ---------------------------------------------------------------- step 2: kind by typ (D6)


def check_kind():
    for name, typ in (("upper-case", "OAUTH-ID-JAG+JWT"), ("application-prefix", "application/oauth-id-jag+jwt"),
                      ("mixed-case-prefix", "Application/OAuth-Id-Jag+JWT")):
        t, c = jag(typ=typ)
        token_ok(f"EMA-AS-2.typ-{name}", redeem(t), sub=c["sub"])
    for name, typ in (("at+jwt", "at+jwt"), ("dpop+jwt", "dpop+jwt"), ("id-jag-space", "oauth-id-jag+jwt "),
                      ("id-jag-suffix", "oauth-id-jag+jwt+x")):
        expect_error(f"EMA-AS-2.typ-{name}-refused", redeem(token(typ=typ)), 400, "invalid_grant")
    # `JWT`, `JOSE` or no typ: a workload assertion (WIF), never an ID-JAG, whatever it carries.
    # The test entry's issuer is also a workload issuer here, whose one rule wants sub "robot".
    for name, typ in (("JWT", "JWT"), ("JOSE", "JOSE"), ("absent", None)):
        r = redeem(token(typ=typ))
        check(f"EMA-AS-2.typ-{name}-with-client-is-not-an-id-jag", r.status_code == 400 and
              body_json(r).get("error") in ("invalid_request", "invalid_grant"), short(r))
        r = redeem(token(typ=typ), auth="none")
        check(f"EMA-AS-2.typ-{name}-not-redeemed-as-id-jag", r.status_code in (400, 401) and
              "access_token" not in body_json(r), short(r))
    # the same issuer's workload assertion gets the workload rule's principal, its ID-JAG the entry's
    t = token(typ="JWT", sub="robot", client=DROP_CLIENT, resource=DROP_RESOURCE, scope=None)
    token_ok("EMA-AS-2.workload-assertion-same-issuer", redeem(t, auth="none"), client="wl-robot", sub="wl-robot",
             entry=None)
    t, c = jag(sub="robot")
    token_ok("EMA-AS-2.id-jag-of-a-workload-issuer", redeem(t), sub="robot", entry="test")
    expect_error("EMA-AS-2.id-jag-without-client-not-a-workload", redeem(token(sub="robot"), auth="none"), 401,
                 "invalid_client")
    # not a compact JWS, too big, header not an object / with a repeated member
    t = token()
    expect_error("EMA-AS-5.not-a-jws", redeem("not-a-jwt"), 400, "invalid_grant")
    expect_error("EMA-AS-5.two-parts", redeem(".".join(t.split(".")[:2])), 400, "invalid_grant")
    expect_error("EMA-AS-5.json-serialization", redeem(json.dumps({"payload": t.split(".")[1]})), 400,
                 "invalid_grant")
    big = jag(pad="x" * 16500)[0]
    expect_error("EMA-AS-5.over-16KiB", redeem(big), 400, "invalid_grant")
    c = K.claims_for(W.test_iss, W.as_issuer, "acme-agent", W.r1)
    hdr = '{"alg":"RS256","kid":"t-rsa","typ":"oauth-id-jag+jwt","typ":"oauth-id-jag+jwt"}'
    expect_error("EMA-AS-5.header-repeated-member", redeem(K.raw_rs256(hdr, json.dumps(c), W.keys.rsa)), 400,
                 "invalid_grant")
    expect_error("EMA-AS-5.header-not-object",
                 redeem(K.raw_rs256('["oauth-id-jag+jwt"]', json.dumps(c), W.keys.rsa)), 400, "invalid_grant")
    body = json.dumps(c)[:-1] + f', "sub": "{c["sub"]}x"}}'
    hdr = '{"alg":"RS256","kid":"t-rsa","typ":"oauth-id-jag+jwt"}'
    expect_error("EMA-AS-5.claims-repeated-member", redeem(K.raw_rs256(hdr, body, W.keys.rsa)), 400,
                 "invalid_grant")
    expect_error("EMA-AS-5.claims-not-object", redeem(K.raw_rs256(hdr, '"a string"', W.keys.rsa)), 400,
                 "invalid_grant")


# ---------------------------------------------------------------- step 3: the client (D10)


def _register(grant_types, auth_method):
    reg = W.as_meta.get("registration_endpoint")
    if not reg:
        return None
    import requests
    return requests.post(reg, json={"client_name": "ema-suite", "redirect_uris": [W.callback],
                                    "grant_types": grant_types, "response_types": ["code"],
                                    "token_endpoint_auth_method": auth_method}, timeout=10)


def check_client():
    expect_error("EMA-AS-3.no-authentication", redeem(token(), auth="none"), 401, "invalid_client")
    expect_error("EMA-AS-3.wrong-secret-basic", redeem(token(), auth="badbasic"), 401, "invalid_client",
                 challenge="Basic")
    expect_error("EMA-AS-3.wrong-secret-post", redeem(token(), auth="badpost"), 401, "invalid_client")
    expect_error("EMA-AS-3.client-id-alone", redeem(token(), auth="id"), 401, "invalid_client")
    expect_error("EMA-AS-3.public-client", redeem(token(client="public-app"), "public-app", auth="id"), 401,
                 "invalid_client")
    expect_error("EMA-AS-3.unknown-client", redeem(token(client="nobody"), "nobody", auth="id"), 401,
                 "invalid_client")
    expect_error("EMA-AS-3.client-without-grant", redeem(token(client="cc-agent"), "cc-agent"), 400,
                 "unauthorized_client")
    # dynamically registered clients: the registration of the grant is refused (docs/security.md),
    # and a registered client redeeming anyway gets unauthorized_client (or 401 when public)
    r = _register([GT_JWT_BEARER], "client_secret_basic")
    if r is None:
        check("EMA-AS-3.dcr-jwt-bearer-refused", False, "no registration_endpoint in the metadata")
        return
    check("EMA-AS-3.dcr-jwt-bearer-refused", r.status_code == 400 and
          body_json(r).get("error") == "invalid_client_metadata", short(r))
    r = _register(["authorization_code"], "client_secret_basic")
    j = body_json(r)
    if r.status_code not in (200, 201) or "client_id" not in j:
        check("EMA-AS-3.dcr-client-refused", False, f"registration failed: {short(r)}")
        return
    cid = j["client_id"]
    t = token(client=cid)
    if j.get("client_secret"):
        W.secrets[("as", cid)] = j["client_secret"]
        expect_error("EMA-AS-3.dcr-client-refused", redeem(t, cid), 400, "unauthorized_client")
    else:
        expect_error("EMA-AS-3.dcr-client-refused", redeem(t, cid, auth="id"), 401, "invalid_client")


# ---------------------------------------------------------------- step 4: binding (D16)


def check_binding():
    key = K.new_ec()
    proof, jkt = K.dpop_proof(key, "POST", as_token_endpoint())
    t, c = jag()
    j = token_ok("EMA-AS-4.dpop-bound-token", redeem(t, headers={"DPoP": proof}), sub=c["sub"], token_type="DPoP")
    if j and j.get("_claims"):
        got = (j["_claims"].get("cnf") or {}).get("jkt")
        check("EMA-AS-4.dpop-cnf-jkt", got == jkt, f"cnf.jkt {got!r}, want {jkt!r}")
    proof, _ = K.dpop_proof(key, "GET", as_token_endpoint())
    expect_error("EMA-AS-4.dpop-wrong-htm", redeem(token(), headers={"DPoP": proof}), 400, "invalid_dpop_proof")
    # a DPoP proof and a token-request signature at once: refused before either is verified
    proof, _ = K.dpop_proof(key, "POST", as_token_endpoint())
    created = int(time.time())
    sig_headers = {
        "DPoP": proof,
        "Content-Digest": "sha-256=:" + b64u(b"x" * 32) + "=:",
        "Signature-Input": f'sig1=("@method" "@target-uri" "content-digest");created={created};'
                           f'alg="ed25519";tag="httpsig-oauth-token-request"',
        "Signature": "sig1=:" + "A" * 86 + "==:",
    }
    expect_error("EMA-AS-4.dpop-and-signature", redeem(token(), headers=sig_headers), 400, "invalid_request")


# ---------------------------------------------------------------- step 5: the header (D7)


def check_header():
    t, c = jag(header={"crit": ["exp"], "exp": 1})
    expect_error("EMA-AS-5.crit", redeem(t), 400, "invalid_grant")
    c = K.claims_for(W.test_iss, W.as_issuer, "acme-agent", W.r1)
    none_tok = b64u(json.dumps({"alg": "none", "typ": "oauth-id-jag+jwt"})) + "." + b64u(json.dumps(c)) + "."
    expect_error("EMA-AS-5.alg-none", redeem(none_tok), 400, "invalid_grant")
    hs = jwt.encode(c, "a-shared-secret-of-32-bytes-or-more!!", algorithm="HS256",
                    headers={"typ": "oauth-id-jag+jwt", "kid": "t-rsa"})
    expect_error("EMA-AS-5.hs256", redeem(hs), 400, "invalid_grant")
    expect_error("EMA-AS-5.rs384-not-in-list", redeem(token(alg="RS384")), 400, "invalid_grant")
    t, c = jag(key=W.keys.ec, kid="t-ec", alg="ES256")
    token_ok("EMA-AS-5.es256-accepted", redeem(t), sub=c["sub"])
    t, c = jag(header={"x-unknown": "ignored", "x5t": "AAAA"})
    token_ok("EMA-AS-5.unknown-header-ignored", redeem(t), sub=c["sub"])
    base = f"http://127.0.0.1:{W.ports['keys']}/attacker/jwks"
    attacker_jwk = W.keys.attacker_jwks()["keys"][0]
    for name, hdr in (("jku", {"jku": base}), ("x5u", {"x5u": base}), ("jwk", {"jwk": attacker_jwk})):
        expect_error(f"EMA-AS-5.{name}-not-used", redeem(token(key=W.keys.attacker, header=hdr)), 400,
                     "invalid_grant")


def check_header_never_fetched():
    n = W.keyserver.count("/attacker/jwks")
    check("EMA-AS-6.no-url-from-the-id-jag", n == 0, f"the attacker's key set was read {n} times")


# ---------------------------------------------------------------- steps 6 to 8: entry, key, signature


def check_entries():
    descs = {}

    def refused(name, tok, req="EMA-AS-6"):
        r = redeem(tok)
        expect_error(f"{req}.{name}", r, 400, "invalid_grant")
        descs[name] = body_json(r).get("error_description")

    refused("unknown-issuer", token(iss="https://unknown-idp.example"))
    refused("issuer-trailing-slash", token(iss=W.test_iss + "/"))
    refused("issuer-upper-case", token(iss=W.test_iss.upper()))
    refused("own-issuer", token(iss=W.as_issuer), req="EMA-AS-18")
    refused("unknown-kid", token(kid="nope"))
    t = token()
    h, c, s = t.split(".")
    refused("bad-signature", f"{h}.{c}.{s[:-4]}{'AAAA' if s[-4:] != 'AAAA' else 'BBBB'}")
    refused("other-key-same-kid", token(key=W.keys.attacker))
    refused("alg-not-allowed-by-entry", token(iss="https://strict-idp.example", client="acme-agent"))
    c = K.claims_for(W.test_iss, W.as_issuer, "acme-agent", W.r1)
    es384 = b64u('{"alg":"ES384","kid":"t-ec","typ":"oauth-id-jag+jwt"}') + "." + b64u(json.dumps(c)) + "." + \
        b64u(os.urandom(96))
    refused("key-alg-mismatch", es384)
    t, c = jag(iss="https://strict-idp.example", key=W.keys.ec, kid="t-ec", alg="ES256", lifetime=60)
    token_ok("EMA-AS-6.entry-algorithms-es256", redeem(t), sub=c["sub"], entry="strict")
    # tenants (D13)
    t, c = jag(iss="https://tenants-idp.example", tenant="tenant-a-9188040d")
    token_ok("EMA-AS-6.tenant-a", redeem(t), sub=c["sub"], entry="tenant-a")
    t, c = jag(iss="https://tenants-idp.example", tenant="tenant-b-36a304b6", sub=c["sub"])
    token_ok("EMA-AS-6.tenant-b-same-sub", redeem(t), sub=c["sub"], entry="tenant-b")
    refused("tenant-missing", token(iss="https://tenants-idp.example"))
    refused("tenant-unknown", token(iss="https://tenants-idp.example", tenant="tenant-c"))
    refused("tenant-on-unpinned-entry", token(tenant="tenant-a-9188040d"))
    distinct = {d for d in descs.values()}
    check("EMA-AS-6.one-description", len(distinct) == 1, f"{len(distinct)} descriptions: {sorted(map(str, distinct))}")
    check("S10.3.steps-6-8-text", distinct == {TRUST_TEXT}, f"{sorted(map(str, distinct))}, want {TRUST_TEXT!r}")


def key_source_begin():
    """EMA-AS-7, first part: the first use fetches the key set once, later uses read the cache,
    and unknown kids within 60 s of that fetch cause no fetch."""
    ks = W.keyserver
    path = "/served/jwks"
    iss = f"http://127.0.0.1:{W.ports['keys']}/served"
    t, c = jag(iss=iss, key=W.keys.served, kid="served-1")
    token_ok("EMA-AS-7.jwks-uri", redeem(t), sub=c["sub"], entry="served")
    W.served_fetched_at = time.time()
    n1 = ks.count(path)
    check("EMA-AS-7.fetched-once", n1 == 1, f"{n1} fetches")
    t, c = jag(iss=iss, key=W.keys.served, kid="served-1")
    token_ok("EMA-AS-7.cached", redeem(t), sub=c["sub"], entry="served")
    check("EMA-AS-7.cached-no-fetch", ks.count(path) == n1, f"{ks.count(path) - n1} more fetches")
    # the next key is published now; the AS may learn it only after its 60 s window
    ks.routes[path] = W.keys.served_jwks(with_next=True)
    for k in range(3, 8):
        r = redeem(token(iss=iss, key=W.keys.served, kid=f"served-{k}"))
    expect_error("EMA-AS-7.unknown-kid-refused", r, 400, "invalid_grant")
    check("EMA-AS-7.no-refetch-within-60s", ks.count(path) == n1, f"{ks.count(path) - n1} fetches within 60 s")
    iss = f"http://127.0.0.1:{W.ports['dead']}/down"
    expect_error("EMA-AS-7.unreachable-503", redeem(token(iss=iss)), 503, "temporarily_unavailable")


def key_source_finish():
    """EMA-AS-7, second part (at least 60 s after the first fetch): a new kid is fetched once,
    and a flood of unknown kids right after causes no further fetch."""
    ks = W.keyserver
    path = "/served/jwks"
    iss = f"http://127.0.0.1:{W.ports['keys']}/served"
    wait = W.served_fetched_at + 61 - time.time()
    if wait > 0:
        time.sleep(wait)
    n1 = ks.count(path)
    t, c = jag(iss=iss, key=W.keys.served_next, kid="served-2")
    token_ok("EMA-AS-7.new-kid-after-60s", redeem(t), sub=c["sub"], entry="served")
    n2 = ks.count(path)
    check("EMA-AS-7.one-refetch", n2 == n1 + 1, f"{n2 - n1} refetches")
    for k in range(8, 14):
        redeem(token(iss=iss, key=W.keys.served, kid=f"served-{k}"))
    check("EMA-AS-7.refetch-at-most-once-per-60s", ks.count(path) == n2, f"{ks.count(path) - n2} more fetches")
    t, c = jag(iss=iss, key=W.keys.served, kid="served-1")
    token_ok("EMA-AS-7.old-kid-still-accepted", redeem(t), sub=c["sub"], entry="served")


def check_concurrency():
    """EMA-AS-15: two (here eight) concurrent redemptions of one ID-JAG: exactly one token."""
    t = token()
    results = []

    def go():
        results.append(redeem(t))

    threads = [threading.Thread(target=go) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ok = [r for r in results if r.status_code == 200]
    bad = [r for r in results if r.status_code == 400 and body_json(r).get("error") == "invalid_grant"]
    check("EMA-AS-15.concurrent-exactly-one", len(ok) == 1 and len(bad) == 7,
          f"{len(ok)} tokens, {len(bad)} invalid_grant, others {[short(r) for r in results if r not in ok + bad]}")


def post_raw(fields, headers=None):
    return post_form(as_token_endpoint(), fields, headers)
