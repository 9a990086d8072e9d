"""The IdP, §7.3 steps 3 to 9 and the order of the checks: the subject token (EMA-IDP-5), the
target (EMA-IDP-6), the policy rules (EMA-IDP-7, -8, -16), DPoP binding of the ID-JAG and
signatures (EMA-IDP-11), the order and the descriptions (EMA-IDP-12)."""

import json
import time

from . import keys as K
from .checks_as_request import token_ok
from .checks_idp import S, need, response_ok, verify_id_jag
from .common import TT_ID_JAG, W, b64u, body_json, expect_error, jwt_parts
from .report import check
from .setup import run_cli
from .tokens import exchange, idp_token_endpoint, redeem


def _forbidden(*keys):
    out = []
    for k in keys:
        s = S.get(k)
        if s:
            out += [s["id_token"], s["claims"]["sub"], s["id_token"].split(".")[1][:40]]
    return tuple(out)


# ---------------------------------------------------------------- step 5: subject token (EMA-IDP-5)


def check_subject_token():
    if not need("alice"):
        return
    idt = S["alice"]["id_token"]
    fb = _forbidden("alice")
    e = lambda name, r: expect_error(f"EMA-IDP-5.{name}", r, 400, "invalid_grant", forbidden=fb)  # noqa: E731
    e("id-token-of-another-client", exchange(idt, "second-agent"))
    h, c, s = idt.split(".")
    claims = jwt_parts(idt)[1]
    tampered = dict(claims, sub=claims["sub"] + "x")
    e("tampered-claims", exchange(f"{h}.{b64u(json.dumps(tampered))}.{s}"))
    e("tampered-signature", exchange(f"{h}.{c}.{s[:-6]}{'AAAAAA' if not s.endswith('AAAAAA') else 'BBBBBB'}"))
    hdr = jwt_parts(idt)[0]
    forged = K.mint(dict(claims, iat=int(time.time()), exp=int(time.time()) + 600), W.keys.attacker,
                    kid=hdr.get("kid"), typ="JWT")
    e("signed-by-another-key", exchange(forged))
    none_tok = b64u(json.dumps({"alg": "none", "typ": "JWT"})) + "." + c + "."
    e("alg-none", exchange(none_tok))
    e("not-a-jwt", exchange("not-a-jwt"))
    other_iss = K.mint(dict(claims, iss="https://other-idp.example"), W.keys.attacker, kid="x", typ="JWT")
    e("other-issuer", exchange(other_iss))
    at = S["alice"]["response"].get("access_token")
    if at:
        e("idp-access-token", exchange(at))
    r = exchange(idt, scope="mcp:read")
    jag = body_json(r).get("access_token")
    if jag:
        e("idp-id-jag", exchange(jag))
    if "alice@second" in S:
        e("second-agent-token-at-desktop-agent", exchange(S["alice@second"]["id_token"]))
    big = idt + "A" * 17000
    e("over-16KiB", exchange(big))
    for label, key in (("expired-id-token", "expired"), ("future-iat-id-token", "future")):
        tok = W.timed_id_tokens.get(key)
        if tok is None:
            check(f"EMA-IDP-5.{label}", False, f"not run: {W.timed_why}")
        else:
            e(label, exchange(tok))


# ---------------------------------------------------------------- step 6: target (EMA-IDP-6)


def check_target():
    if not need("alice"):
        return
    idt = S["alice"]["id_token"]
    e = lambda name, r: expect_error(f"EMA-IDP-6.{name}", r, 400, "invalid_target", forbidden=_forbidden("alice"))  # noqa
    e("unknown-audience", exchange(idt, audience="https://unknown-as.example"))
    e("audience-trailing-slash", exchange(idt, audience=W.as_issuer + "/"))
    e("audience-upper-case", exchange(idt, audience=W.as_issuer.upper()))
    e("audience-token-endpoint", exchange(idt, audience=W.as_meta["token_endpoint"]))
    e("logical-name", exchange(idt, audience="mcp-as"))
    e("idp-own-issuer", exchange(idt, audience=W.idp_issuer))
    if need("alice@stranger"):
        e("client-not-in-client-ids", exchange(S["alice@stranger"]["id_token"], "stranger-agent"))


# ---------------------------------------------------------------- steps 7 to 9: policy (EMA-IDP-7, -8)


def check_policy():
    if not need("alice", "bob", "dave"):
        return
    a, b, d = S["alice"], S["bob"], S["dave"]
    tgt = lambda name, r, req="EMA-IDP-8": expect_error(f"{req}.{name}", r, 400, "invalid_target")  # noqa: E731
    scp = lambda name, r: expect_error(f"EMA-IDP-8.{name}", r, 400, "invalid_scope")  # noqa: E731
    # rule 1 errs for everyone (index out of range): no match, so alice gets rule 2's default
    r = exchange(a["id_token"])
    j = response_ok("EMA-IDP-7.evaluation-error-is-no-match", r, scope="mcp:read")
    tgt("evaluation-error-rule-not-used", exchange(a["id_token"], resource=W.r3), req="EMA-IDP-7")
    # rule 2 (engineering): mcp:write
    r = exchange(a["id_token"], scope="mcp:read mcp:write")
    j = response_ok("EMA-IDP-7.group-rule-write", r, scope="mcp:read mcp:write")
    if j:
        verify_id_jag("EMA-IDP-7.group-rule-write.id-jag", j["access_token"], a["claims"]["sub"],
                      scope="mcp:read mcp:write")
    # rule 4 (not in the group): read only, never narrowed
    response_ok("EMA-IDP-7.fallback-rule-read", exchange(b["id_token"], scope="mcp:read"), scope="mcp:read")
    scp("user-not-in-group-asks-write", exchange(b["id_token"], scope="mcp:write"))
    scp("not-narrowed", exchange(b["id_token"], scope="mcp:read mcp:write"))
    scp("scope-outside-every-rule", exchange(a["id_token"], scope="mcp:admin"))
    tgt("resource-outside-rule", exchange(b["id_token"], resource=W.r2))
    tgt("resource-outside-group-rule", exchange(a["id_token"], resource=W.r3))
    tgt("resource-unknown", exchange(a["id_token"], resource=W.r_unknown))
    tgt("resource-trailing-slash", exchange(a["id_token"], resource=W.r1 + "/"))
    # rule 3 (dave) comes before rule 4 and decides even though rule 4 would allow R1
    tgt("first-match-decides", exchange(d["id_token"], resource=W.r1), req="EMA-IDP-7")
    r = exchange(d["id_token"], resource=W.r2)
    j = response_ok("EMA-IDP-7.first-match-own-resource", r, scope="mcp:read")
    # no rule for bob on the second agent
    if need("bob@second"):
        tgt("no-rule-matches", exchange(S["bob@second"]["id_token"], "second-agent"), req="EMA-IDP-7")


# ---------------------------------------------------------------- EMA-IDP-16: the user store at each exchange


def _user_cmd(*args, stdin=None):
    return run_cli(["as", "user", *args, "--config", "idp.toml", "--data-dir", f"{W.workdir}/idp-data"],
                   stdin_text=stdin)


def check_user_store():
    if not need("erin", "frank"):
        return
    e, f = S["erin"], S["frank"]
    response_ok("EMA-IDP-16.before-group-change", exchange(e["id_token"], scope="mcp:write"), scope="mcp:write")
    rc, out, err = _user_cmd("groups", "--username", "erin")
    if check("EMA-IDP-16.admin-groups-command", rc == 0, f"`as user groups --username erin` (no --group): {err.strip()[:200]}"):
        expect_error("EMA-IDP-16.groups-read-at-exchange", exchange(e["id_token"], scope="mcp:write"), 400,
                     "invalid_scope")
    response_ok("EMA-IDP-16.before-user-removed", exchange(f["id_token"]), scope="mcp:read")
    _, help_out, _ = run_cli(["as", "user", "--help"])
    verb = next((v for v in ("delete", "remove", "rm") if f"\n  {v} " in help_out), None)
    if not check("EMA-IDP-16.admin-remove-command", verb is not None,
                 "`mcp-auth as user --help` lists no delete/remove command: a user cannot be removed"):
        return
    rc, out, err = _user_cmd(verb, "--username", "frank")
    if check("EMA-IDP-16.user-removed", rc == 0, err.strip()[:200]):
        expect_error("EMA-IDP-16.removed-user-refused", exchange(f["id_token"]), 400, "invalid_grant")


# ---------------------------------------------------------------- EMA-IDP-11: DPoP and signatures


def _sig_headers(with_dpop_key=None):
    h = {"Content-Digest": "sha-256=:" + b64u(b"x" * 32) + "=:",
         "Signature-Input": f'sig1=("@method" "@target-uri" "content-digest");created={int(time.time())};'
                            f'alg="ed25519";tag="httpsig-oauth-token-request"',
         "Signature": "sig1=:" + "A" * 86 + "==:"}
    if with_dpop_key is not None:
        h["DPoP"] = K.dpop_proof(with_dpop_key, "POST", idp_token_endpoint())[0]
    return h


def check_dpop():
    if not need("alice"):
        return
    a = S["alice"]
    key = K.new_ec()
    proof, jkt = K.dpop_proof(key, "POST", idp_token_endpoint())
    r = exchange(a["id_token"], headers={"DPoP": proof})
    j = response_ok("EMA-IDP-11.dpop-exchange", r, scope="mcp:read")
    if j:
        verify_id_jag("EMA-IDP-11.cnf-jkt", j["access_token"], a["claims"]["sub"], scope="mcp:read",
                      cnf={"jkt": jkt})
        expect_error("EMA-IDP-11.bound-id-jag-without-proof", redeem(j["access_token"]), 400, "invalid_grant")
        from .tokens import as_token_endpoint
        p2, _ = K.dpop_proof(key, "POST", as_token_endpoint())
        jj = token_ok("EMA-IDP-11.bound-id-jag-with-proof", redeem(j["access_token"], headers={"DPoP": p2}),
                      sub=a["claims"]["sub"], entry="acme", token_type="DPoP")
        if jj and jj.get("_claims"):
            check("EMA-IDP-11.access-token-bound-to-same-key", (jj["_claims"].get("cnf") or {}).get("jkt") == jkt,
                  f"cnf {jj['_claims'].get('cnf')}")
    r = exchange(a["id_token"])
    j = body_json(r)
    if r.status_code == 200:
        check("EMA-IDP-11.no-cnf-without-proof", "cnf" not in (jwt_parts(j["access_token"])[1] or {}), "cnf present")
    bad, _ = K.dpop_proof(key, "GET", idp_token_endpoint())
    expect_error("EMA-IDP-11.bad-proof", exchange(a["id_token"], headers={"DPoP": bad}), 400, "invalid_dpop_proof")
    expect_error("EMA-IDP-11.signature-refused", exchange(a["id_token"], headers=_sig_headers()), 400,
                 "invalid_request")
    expect_error("EMA-IDP-11.signature-and-proof-refused", exchange(a["id_token"], headers=_sig_headers(key)), 400,
                 "invalid_request")


# ---------------------------------------------------------------- EMA-IDP-12: order and descriptions


def check_idp_order():
    if not need("alice", "bob"):
        return
    a = S["alice"]
    fb = _forbidden("alice", "bob")
    e = lambda name, r, st, err: expect_error(f"EMA-IDP-12.{name}", r, st, err, forbidden=fb)  # noqa: E731
    e("1-before-2", exchange(a["id_token"], drop=("resource",), auth="none"), 400, "invalid_request")
    e("1-before-2-actor", exchange(a["id_token"], extra=[("actor_token", "x")], auth="badbasic"), 400,
      "invalid_request")
    e("2-before-4", exchange(a["id_token"], subject_token_type=TT_ID_JAG, auth="badbasic"), 401, "invalid_client")
    e("2-before-5", exchange("not-a-jwt", "no-exchange"), 400, "unauthorized_client")
    e("4-before-5", exchange("not-a-jwt", subject_token_type="urn:ietf:params:oauth:token-type:jwt"), 400,
      "invalid_request")
    e("5-before-6", exchange(a["id_token"], "second-agent", audience="https://unknown.example"), 400, "invalid_grant")
    e("6-before-8", exchange(a["id_token"], audience="https://unknown.example", resource=W.r_unknown), 400,
      "invalid_target")
    e("8-before-9", exchange(a["id_token"], resource=W.r3, scope="mcp:admin"), 400, "invalid_target")
    e("7-before-9", exchange(S["bob@second"]["id_token"], "second-agent", scope="mcp:admin") if "bob@second" in S
      else exchange(a["id_token"], resource=W.r3, scope="mcp:admin"), 400, "invalid_target")


def check_idp_descriptions():
    fb = [v for v in _forbidden(*S.keys()) if v]
    bad = [(err, d) for err, d in W.descriptions for v in fb if v in d]
    check("EMA-IDP-12.no-token-or-claim-in-descriptions", not bad, f"{bad[:3]}")


STEPS_B = [check_subject_token, check_target, check_policy, check_dpop, check_idp_order, check_user_store,
           check_idp_descriptions]
