"""Checks of the claims and what follows from them: `aud` (WIF-AS-14), times (WIF-AS-15), `sub`
(WIF-AS-16), reuse and lifetimes (WIF-AS-17, WIF-AS-18), rules, resources and scopes (WIF-AS-19,
WIF-AS-20), the §7.3 order (WIF-AS-23), and the error descriptions (WIF-AS-24, §10.2)."""

import os
import re

from .as_setup import PLANNER
from .common import JWT_BEARER, W, log, now
from .minting import DEL, Key, compact, gh, gh_claims, k8s, k8s_claims, mint, svid, svid_claims, wl_claims
from .report import DESCRIPTIONS, FORBIDDEN_IN_DESC, STEP_678, check
from .token_endpoint import expect_error, expect_token, grant_form, post_token, request, verify_access_token


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
