"""Checks of the request: AS metadata (WIF-AS-1, §5.1), the presets' valid assertions
(WIF-AS-1, WIF-AS-21), the form (WIF-AS-2, §10.1 step 1), the assertion's structure and size
(WIF-AS-6), `typ` (WIF-AS-3), no client authentication (WIF-AS-4) and DPoP / HTTPSig binding
(WIF-AS-5)."""

import base64
import json
import secrets
import urllib.parse

from .as_setup import GH_PROD, PLANNER
from .common import JWT_BEARER, VERBOSE, W, b64u, log
from .minting import (SPIFFE_ID, DPoPKey, compact, gh, gh_claims, httpsig_headers, k8s, k8s_claims, mint,
                      svid, svid_claims, wl_claims)
from .report import DESCRIPTIONS, check
from .token_endpoint import expect_error, expect_token, grant_form, no_store, post_token, post_with_dpop, request


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
