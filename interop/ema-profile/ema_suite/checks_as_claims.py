"""The MCP AS, §7.7 steps 9 to 15 and §7.8: claims, client continuity, binding of the grant,
resource, scope, single use, the access token, and the order of the checks (EMA-AS-21)."""

import time

from . import keys as K
from .checks_as_request import token_ok
from .common import W, expect_error
from .idjag import SENSITIVE, jag, token
from .report import check
from .tokens import as_token_endpoint, redeem

DROP = K.DROP


# ---------------------------------------------------------------- step 9: aud (D1)


def check_aud():
    t, c = jag(aud=[W.as_issuer])
    token_ok("EMA-AS-8.aud-one-element-array", redeem(t), sub=c["sub"])
    for name, aud in (("trailing-slash", W.as_issuer + "/"), ("token-endpoint", as_token_endpoint()),
                      ("two-audiences", [W.as_issuer, "https://other.example"]),
                      ("issuer-twice", [W.as_issuer, W.as_issuer]), ("empty-array", []),
                      ("other-as", "https://as.other.example"), ("number", 7), ("missing", DROP),
                      ("resource", W.r1)):
        expect_error(f"EMA-AS-8.aud-{name}", redeem(token(aud=aud)), 400, "invalid_grant")


# ---------------------------------------------------------------- step 9: times (D8)


def check_times():
    now = int(time.time())
    ok = lambda name, **kw: token_ok(f"EMA-AS-9.{name}", redeem(jag(**kw)[0]))  # noqa: E731
    bad = lambda name, **kw: expect_error(f"EMA-AS-9.{name}", redeem(token(**kw)), 400, "invalid_grant")  # noqa
    # the test entry: skew 60, max_assertion_lifetime 300 (the defaults)
    ok("exp-45s-ago-within-skew", iat=now - 245, exp=now - 45)
    bad("exp-75s-ago", iat=now - 275, exp=now - 75)
    ok("iat-45s-ahead-within-skew", iat=now + 45, exp=now + 300)
    bad("iat-75s-ahead", iat=now + 75, exp=now + 300)
    ok("nbf-45s-ahead-within-skew", nbf=now + 45)
    bad("nbf-75s-ahead", nbf=now + 75)
    ok("lifetime-300", iat=now - 10, exp=now + 290)
    bad("lifetime-301", iat=now - 10, exp=now + 291)
    bad("exp-missing", exp=DROP)
    bad("iat-missing", iat=DROP)
    bad("exp-string", exp=str(now + 100))
    # the strict entry: skew 0, max_assertion_lifetime 60
    s = dict(iss="https://strict-idp.example", key=W.keys.ec, kid="t-ec", alg="ES256")
    token_ok("EMA-AS-9.strict-lifetime-60", redeem(jag(iat=now, exp=now + 60, **s)[0]), entry="strict")
    expect_error("EMA-AS-9.strict-lifetime-61", redeem(token(iat=now, exp=now + 61, **s)), 400, "invalid_grant")
    expect_error("EMA-AS-9.strict-skew-0-exp-3s-ago", redeem(token(iat=now - 50, exp=now - 3, **s)), 400,
                 "invalid_grant")
    expect_error("EMA-AS-9.strict-skew-0-iat-5s-ahead", redeem(token(iat=now + 5, exp=now + 50, **s)), 400,
                 "invalid_grant")


# ---------------------------------------------------------------- step 9: the other claims


def check_claims():
    ok = lambda name, **kw: token_ok(f"EMA-AS-10.{name}", redeem(jag(**kw)[0]))  # noqa: E731
    bad = lambda name, **kw: expect_error(f"EMA-AS-10.{name}", redeem(token(**kw)), 400, "invalid_grant")  # noqa
    ok("sub-255", sub="s" * 255)
    bad("sub-256", sub="s" * 256)
    bad("sub-empty", sub="")
    bad("sub-control-character", sub="alice\u0007")
    bad("sub-del-character", sub="alice\u007f")
    bad("sub-number", sub=12345)
    bad("sub-missing", sub=DROP)
    ok("jti-256", jti="j" * 256)
    bad("jti-257", jti="j" * 257)
    bad("jti-empty", jti="")
    bad("jti-number", jti=12345)
    bad("jti-missing", jti=DROP)
    bad("client-id-empty", client="")
    bad("client-id-number", client=7)
    bad("client-id-missing", client_id=DROP)
    ok("resource-one-element-array", resource=[W.r1])
    bad("resource-two-elements", resource=[W.r1, W.r2])
    bad("resource-number", resource=7)
    bad("resource-missing", resource=DROP)
    bad("resource-empty-array", resource=[])
    bad("scope-array", scope=["mcp:read"])
    bad("scope-number", scope=7)
    bad("act", act={"sub": "agent"})
    bad("authorization-details", authorization_details=[{"type": "x"}])


# ---------------------------------------------------------------- step 10: client continuity


def check_continuity():
    expect_error("EMA-AS-11.other-configured-client", redeem(token(client="acme-agent"), "other-agent"), 400,
                 "invalid_grant")
    expect_error("EMA-AS-11.case-differs", redeem(token(client="ACME-agent"), "acme-agent"), 400, "invalid_grant")
    expect_error("EMA-AS-11.prefix", redeem(token(client="acme-agent-x"), "acme-agent"), 400, "invalid_grant")


# ---------------------------------------------------------------- step 11: cnf (D16)


def check_cnf():
    a, b = K.new_ec(), K.new_ec()
    pa, jkt_a = K.dpop_proof(a, "POST", as_token_endpoint())
    t = token(cnf={"jkt": jkt_a})
    expect_error("EMA-AS-12.jkt-without-proof", redeem(t), 400, "invalid_grant")
    pb, _ = K.dpop_proof(b, "POST", as_token_endpoint())
    expect_error("EMA-AS-12.jkt-other-key", redeem(t, headers={"DPoP": pb}), 400, "invalid_grant")
    pa, _ = K.dpop_proof(a, "POST", as_token_endpoint())
    j = token_ok("EMA-AS-12.jkt-right-key", redeem(t, headers={"DPoP": pa}), token_type="DPoP")
    if j and j.get("_claims"):
        got = (j["_claims"].get("cnf") or {}).get("jkt")
        check("EMA-AS-12.bound-to-that-key", got == jkt_a, f"cnf.jkt {got!r}, want {jkt_a!r}")
    pa, _ = K.dpop_proof(a, "POST", as_token_endpoint())
    expect_error("EMA-AS-12.cnf-extra-member",
                 redeem(token(cnf={"jkt": jkt_a, "x5t#S256": "AAAA"}), headers={"DPoP": pa}), 400, "invalid_grant")
    expect_error("EMA-AS-12.cnf-jwk", redeem(token(cnf={"jwk": {"kty": "EC"}})), 400, "invalid_grant")
    expect_error("EMA-AS-12.cnf-not-object", redeem(token(cnf="x")), 400, "invalid_grant")


# ---------------------------------------------------------------- step 12: resource (D5)


def check_resource():
    expect_error("EMA-AS-13.unknown-resource", redeem(token(resource=W.r_unknown), resource=W.r_unknown), 400,
                 "invalid_target")
    expect_error("EMA-AS-13.resource-outside-entry", redeem(token(resource=W.r3), resource=W.r3), 400,
                 "invalid_target")
    expect_error("EMA-AS-13.not-the-id-jags", redeem(token(resource=W.r1), resource=W.r2), 400, "invalid_target")
    expect_error("EMA-AS-13.trailing-slash", redeem(token(resource=W.r1), resource=W.r1 + "/"), 400,
                 "invalid_target")
    t, c = jag(resource=W.r2, scope="mcp:read")
    token_ok("EMA-AS-13.second-resource", redeem(t, resource=W.r2), sub=c["sub"], resource=W.r2, scope="mcp:read")


# ---------------------------------------------------------------- step 13: scope (D15)


def check_scope():
    bad = lambda name, r: expect_error(f"EMA-AS-14.{name}", r, 400, "invalid_scope")  # noqa: E731
    bad("not-in-id-jag", redeem(token(scope="mcp:read"), scope="mcp:write"))
    bad("not-narrowed", redeem(token(scope="mcp:read"), scope="mcp:read mcp:write"))
    bad("not-defined-by-resource", redeem(token(scope="mcp:read other:scope"), scope="other:scope"))
    bad("not-allowed-to-client", redeem(token(client="limited-agent", scope="mcp:read mcp:write"), "limited-agent",
                                        scope="mcp:write"))
    bad("id-jag-without-scope-grants-none", redeem(token(scope=None), scope="mcp:read"))
    bad("empty-scope-claim-grants-none", redeem(token(scope=""), scope="mcp:read"))
    t, c = jag(scope="mcp:read mcp:write")
    token_ok("EMA-AS-14.subset", redeem(t, scope="mcp:read"), sub=c["sub"], scope="mcp:read")
    t, c = jag(scope="mcp:read mcp:write other:scope")
    token_ok("EMA-AS-14.default-is-id-jag-scopes-of-resource", redeem(t), sub=c["sub"], scope="mcp:read mcp:write")
    t, c = jag(client="limited-agent", scope="mcp:read mcp:write")
    token_ok("EMA-AS-14.default-within-client", redeem(t, "limited-agent"), client="limited-agent", sub=c["sub"],
             scope="mcp:read")
    t, c = jag(scope=None)
    j = token_ok("EMA-AS-14.no-scope-claim-no-scope", redeem(t), sub=c["sub"])
    if j and j.get("_claims") is not None:
        got = j["_claims"].get("scope")
        check("EMA-AS-14.no-scope-claim-token-has-none", not got and not j.get("scope"),
              f"token scope {got!r}, response scope {j.get('scope')!r}: the resource's default_scopes were used")


# ---------------------------------------------------------------- step 14: single use (D3)


def check_single_use():
    t, c = jag()
    token_ok("EMA-AS-15.first", redeem(t), sub=c["sub"])
    expect_error("EMA-AS-15.replay", redeem(t), 400, "invalid_grant")
    expect_error("EMA-AS-15.replay-other-client", redeem(t, "other-agent"), 400, "invalid_grant")
    expect_error("EMA-AS-21.scope-before-replay", redeem(t, scope="mcp:admin"), 400, "invalid_scope")
    t2, _ = jag(jti=c["jti"])
    expect_error("EMA-AS-15.same-jti-new-token", redeem(t2), 400, "invalid_grant")
    t3, c3 = jag(jti=c["jti"], iss="https://strict-idp.example", key=W.keys.ec, kid="t-ec", alg="ES256",
                 lifetime=60)
    token_ok("EMA-AS-15.same-jti-other-issuer", redeem(t3), sub=c3["sub"], entry="strict")
    # refused requests do not consume it
    t, c = jag(scope="mcp:read")
    expect_error("EMA-AS-15.refused-scope", redeem(t, scope="mcp:write"), 400, "invalid_scope")
    expect_error("EMA-AS-15.refused-client-auth", redeem(t, auth="badbasic"), 401, "invalid_client")
    expect_error("EMA-AS-15.refused-resource", redeem(t, resource=W.r2), 400, "invalid_target")
    expect_error("EMA-AS-15.refused-continuity", redeem(t, "other-agent"), 400, "invalid_grant")
    key = K.new_ec()
    proof, _ = K.dpop_proof(key, "GET", as_token_endpoint())
    expect_error("EMA-AS-15.refused-dpop", redeem(t, headers={"DPoP": proof}), 400, "invalid_dpop_proof")
    token_ok("EMA-AS-15.then-redeemed", redeem(t, scope="mcp:read"), sub=c["sub"], scope="mcp:read")


# ---------------------------------------------------------------- §7.8: the access token


def check_issue():
    now = int(time.time())
    t, c = jag(email="alice@example.com", aud_sub="alice", auth_time=now - 30, name="Alice", acr="1",
               custom_claim="copied?")
    r = redeem(t)
    j = token_ok("EMA-AS-16.token", r, sub=c["sub"], scope="mcp:read mcp:write")
    if not j or not j.get("_claims"):
        return
    claims = j["_claims"]
    check("EMA-AS-16.principal", claims.get("sub") == f"test:{c['sub']}", f"sub {claims.get('sub')!r}")
    check("EMA-AS-16.aud-is-resource", claims.get("aud") in (W.r1, [W.r1]), f"aud {claims.get('aud')!r}")
    copied = sorted(k for k in ("email", "aud_sub", "auth_time", "name", "acr", "custom_claim", "act", "tenant",
                                "resource") if k in claims)
    check("EMA-AS-16.no-claim-copied", not copied, f"copied from the ID-JAG: {copied}")
    check("EMA-AS-16.not-the-id-jag-jti", claims.get("jti") and claims.get("jti") != c["jti"],
          f"jti {claims.get('jti')!r}")
    check("EMA-AS-17.exp-is-iat-plus-entry-ttl", claims.get("exp", 0) - claims.get("iat", 0) == 120,
          f"exp - iat = {claims.get('exp', 0) - claims.get('iat', 0)}, want 120 (the entry's access_token_ttl)")
    check("EMA-AS-17.expires-in", j.get("expires_in") == 120, f"expires_in {j.get('expires_in')!r}, want 120")
    check("EMA-AS-17.no-refresh-token", "refresh_token" not in j, "refresh_token present")
    check("EMA-AS-16.response-scope", sorted(str(j.get("scope", "")).split()) == ["mcp:read", "mcp:write"],
          f"scope {j.get('scope')!r}")
    # an entry with the default access_token_ttl (300): the strict one has none set
    t, c = jag(iss="https://strict-idp.example", key=W.keys.ec, kid="t-ec", alg="ES256", lifetime=60)
    j = token_ok("EMA-AS-17.default-ttl-token", redeem(t), sub=c["sub"], entry="strict")
    if j and j.get("_claims"):
        d = j["_claims"].get("exp", 0) - j["_claims"].get("iat", 0)
        check("EMA-AS-17.default-ttl-300-not-tied-to-id-jag-exp", d == 300, f"exp - iat = {d}, want 300")


# ---------------------------------------------------------------- EMA-AS-21: order, descriptions


def check_order():
    key = K.new_ec()
    e = lambda name, r, status, err: expect_error(f"EMA-AS-21.{name}", r, status, err)  # noqa: E731
    e("1-before-2", redeem("not-a-jwt", resource=None), 400, "invalid_request")
    e("2-before-3", redeem(token(typ="at+jwt"), auth="none"), 400, "invalid_grant")
    e("2-before-3-badbasic", redeem("not-a-jwt", auth="badbasic"), 400, "invalid_grant")
    e("3-before-5", redeem(token(header={"crit": ["x"], "x": 1}), auth="badbasic"), 401, "invalid_client")
    e("3-before-6", redeem(token(client="cc-agent", iss="https://unknown.example"), "cc-agent"), 400,
      "unauthorized_client")
    proof, _ = K.dpop_proof(key, "GET", as_token_endpoint())
    e("4-before-6", redeem(token(iss="https://unknown.example"), headers={"DPoP": proof}), 400, "invalid_dpop_proof")
    proof, _ = K.dpop_proof(key, "GET", as_token_endpoint())
    e("4-before-9", redeem(token(aud="https://x.example"), headers={"DPoP": proof}), 400, "invalid_dpop_proof")
    e("8-before-12", redeem(token(key=W.keys.attacker), resource=W.r2), 400, "invalid_grant")
    e("9-before-12", redeem(token(aud="https://x.example"), resource=W.r2), 400, "invalid_grant")
    e("10-before-12", redeem(token(client="acme-agent"), "other-agent", resource=W.r2), 400, "invalid_grant")
    e("11-before-12", redeem(token(cnf={"jkt": "x" * 43}), resource=W.r2), 400, "invalid_grant")
    e("12-before-13", redeem(token(scope="mcp:read"), resource=W.r2, scope="mcp:write"), 400, "invalid_target")


def check_no_values_in_descriptions():
    bad = []
    for err, d in sorted(W.descriptions):
        for v in list(SENSITIVE) + [W.r1, W.r2, W.r3, W.r_unknown, f"127.0.0.1:{W.ports['keys']}"]:
            if v in d:
                bad.append((err, d, v))
    check("EMA-AS-21.no-claim-values-in-descriptions", not bad, "; ".join(f"{e}: {d!r} carries {v!r}"
                                                                         for e, d, v in bad[:5]))
    lines = sorted(f"{e}\t{d}" for e, d in W.descriptions)
    with open(f"{W.workdir}/descriptions.txt", "w") as f:
        f.write("\n".join(lines) + "\n")
