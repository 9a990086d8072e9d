"""More of the IdP: key rotation (EMA-IDP-14), a private_key_jwt client through the whole flow
(D10), subject identifiers never reassigned (EMA-IDP-2), a sign-in without nonce, and
parameters sent without a value (RFC 6749 §3.1) at both token endpoints."""

import time

import requests

from .checks_as_request import token_ok
from .checks_idp import S, need, response_ok, verify_id_jag
from .common import W, body_json, expect_error, jwt_parts, short
from .idjag import token
from .oidc import sign_in
from .report import check
from .setup import run_cli
from .tokens import exchange, redeem


def _rsa_kids(jwks):
    return {k.get("kid") for k in jwks.get("keys", []) if k.get("kty") == "RSA"}


def check_rotation():
    """EMA-IDP-14: after `as rotate-keys` the retired RSA key stays published and an ID token it
    signed is still accepted at the exchange; new ID tokens and ID-JAGs use the new key."""
    if not check("EMA-IDP-14.rotate-keys", W.rotated_at is not None and W.pre_rotation is not None,
                 W.rotate_why or "no ID token before the rotation"):
        return
    old_kid = W.pre_rotation["header"].get("kid")
    new_kids, jag_kid = set(), None
    # §12.6: the new key is published at once and signs from 20 s on, on every instance within 30 s.
    deadline = W.rotated_at + 35
    while time.time() < deadline:
        new_kids = _rsa_kids(requests.get(W.idp_meta["jwks_uri"], timeout=10).json()) - \
            _rsa_kids(W.pre_rotation_jwks)
        if new_kids:
            r = exchange(W.pre_rotation["id_token"], scope="mcp:read")
            jag_kid = (jwt_parts(body_json(r).get("access_token", "x.x.x"))[0] or {}).get("kid")
            if jag_kid in new_kids:
                break
        time.sleep(0.5)
    check("EMA-IDP-14.new-key-published", bool(new_kids), "no new RSA key in the JWKS within 35 s")
    check("S12.6.new-key-in-use-within-35s", jag_kid in new_kids, f"ID-JAG kid {jag_kid!r}, new {sorted(new_kids)}")
    s = sign_in("EMA-IDP-14.after-rotation", "alice", "desktop-agent", quiet=True)
    if s:
        check("S12.6.new-id-tokens-use-the-new-key", s["header"].get("kid") in new_kids,
              f"kid {s['header'].get('kid')!r}, new keys {sorted(new_kids)}")
    jwks = requests.get(W.idp_meta["jwks_uri"], timeout=10).json()
    check("EMA-IDP-14.retired-key-still-published", old_kid in _rsa_kids(jwks), f"{old_kid} gone from the JWKS")
    r = exchange(W.pre_rotation["id_token"], scope="mcp:read")
    j = response_ok("EMA-IDP-14.retired-key-id-token-accepted", r, scope="mcp:read")
    if j:
        kid = (jwt_parts(j["access_token"])[0] or {}).get("kid")
        check("S12.6.new-id-jags-use-the-new-key", kid in new_kids, f"ID-JAG kid {kid!r}")
        token_ok("EMA-IDP-14.new-key-id-jag-redeemed", redeem(j["access_token"], scope="mcp:read"),
                 sub=W.pre_rotation["claims"]["sub"], entry="acme", scope="mcp:read")


def check_private_key_jwt():
    """D10: private_key_jwt at both servers, through the whole flow."""
    if not check("EMA-IDP-3.private-key-jwt-client-configurable", not W.idp_pk_why, W.idp_pk_why):
        return
    s = sign_in("EMA-IDP-3.private-key-jwt", "bob", "pk-desktop", auth="pkjwt")
    if not s:
        return
    r = exchange(s["id_token"], "pk-desktop", auth="pkjwt")
    j = response_ok("EMA-IDP-3.private-key-jwt-exchange", r, scope="mcp:read")
    if j:
        verify_id_jag("EMA-IDP-9.private-key-jwt", j["access_token"], s["claims"]["sub"], client_id="pkjwt-agent",
                      scope="mcp:read")
        token_ok("EMA-AS-3.private-key-jwt-idp-id-jag", redeem(j["access_token"], "pkjwt-agent", auth="pkjwt"),
                 client="pkjwt-agent", sub=s["claims"]["sub"], entry="acme", scope="mcp:read")
    expect_error("EMA-IDP-3.private-key-jwt-client-id-alone", exchange(s["id_token"], "pk-desktop", auth="id"), 401,
                 "invalid_client")


def check_sub_never_reassigned():
    """EMA-IDP-2: a removed user's subject identifier is never given to another user, even one
    with the same username; the old ID token stays refused (EMA-IDP-16)."""
    if not need("frank"):
        return
    old = S["frank"]
    rc, out, err = run_cli(["as", "user", "add", "--config", "idp.toml", "--data-dir", f"{W.workdir}/idp-data",
                            "--username", "frank", "--group", "engineering"], stdin_text=W.users["frank"] + "\n")
    if not check("EMA-IDP-2.username-reused-after-removal", rc == 0, f"`as user add --username frank`: {err[:200]}"):
        return
    s = sign_in("EMA-IDP-2.new-frank", "frank", "desktop-agent", quiet=True)
    if s:
        check("EMA-IDP-2.sub-never-reassigned", s["claims"]["sub"] != old["claims"]["sub"],
              "the new frank got the removed frank's sub")
    expect_error("EMA-IDP-16.old-id-token-of-reused-username", exchange(old["id_token"]), 400, "invalid_grant")


def check_no_nonce():
    """§7.1: `nonce` in the ID token when the authorization request had one, and only then."""
    s = sign_in("EMA-IDP-2.without-nonce", "bob", "desktop-agent", nonce=False)
    if s:
        check("EMA-IDP-2.no-nonce-claim-without-nonce", "nonce" not in s["claims"], f"nonce {s['claims'].get('nonce')!r}")


def check_empty_parameters():
    """RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted
    from the request." At the IdP."""
    if need("alice"):
        idt = S["alice"]["id_token"]
        expect_error("EMA-IDP-4.empty-resource-is-missing", exchange(idt, resource=""), 400, "invalid_request")
        expect_error("EMA-IDP-4.empty-audience-is-missing", exchange(idt, audience=""), 400, "invalid_request")
        r = exchange(idt, scope="")
        response_ok("EMA-IDP-8.empty-scope-is-no-scope", r, scope="mcp:read")


def check_empty_parameters_as():
    """RFC 6749 §3.1 at the MCP AS."""
    expect_error("EMA-AS-13.empty-resource-is-missing", redeem(token(), resource=""), 400, "invalid_request")
    r = redeem(token(scope="mcp:read"), scope="")
    check("EMA-AS-14.empty-scope-is-no-scope", r.status_code == 200, short(r))
    expect_error("EMA-AS-21.empty-assertion-is-missing", redeem(""), 400, "invalid_request")


STEPS = [check_rotation, check_private_key_jwt, check_no_nonce, check_empty_parameters]
LATE_STEPS = [check_sub_never_reassigned]
