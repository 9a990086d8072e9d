"""Edge cases of both servers that the profile's text decides: metadata-document clients
(EMA-AS-3), NumericDate values that are not integers (EMA-AS-9, RFC 7519 §2), characters
versus bytes in the length limits (EMA-AS-10), a non-ASCII subject through the gateway, the AS's
other metadata location (EMA-AS-1), single use across a restart and across two instances on one
database (EMA-AS-15, §12.4), the ID-JAG lifetime of a nearly expired ID token (D8), and the
remaining CEL variables (§6.1)."""

import os
import time

import requests

from . import keys as K
from .checks_as_request import token_ok
from .checks_e2e import call_tools
from .checks_idp import response_ok, verify_id_jag
from .common import GT_JWT_BEARER, W, expect_error, jwt_parts
from .idjag import jag, token
from .oidc import sign_in
from .report import check
from .setup import free_ports, start, stop, tail, wait_http
from .tokens import exchange, redeem


# ---------------------------------------------------------------- the MCP AS


def check_as_oidc_metadata():
    r = requests.get(f"{W.as_issuer}/.well-known/openid-configuration", timeout=10)
    if r.status_code != 200:
        return
    text = r.text
    named = [s for s in (W.idp_issuer, W.test_iss, "tenants-idp.example", "tenant-a-9188040d") if s in text]
    check("EMA-AS-1.oidc-location-no-trusted-issuers", not named, f"names {named}")


def check_cimd_clients():
    """EMA-AS-3: a client identified by a metadata document never redeems an ID-JAG: without the
    grant it is unauthorized_client; a document asking for jwt-bearer is no client at all (401
    invalid_client)."""
    jwk = K.public_jwk(W.pk_key, "pk-1", "RS256")
    for name, grants, status, error in (
            ("cimd-code-client", ["authorization_code"], 400, "unauthorized_client"),
            ("cimd-asking-jwt-bearer", ["authorization_code", GT_JWT_BEARER], 401, "invalid_client")):
        url = f"{W.cimd_base}/{name}"
        W.keyserver.routes[f"/cimd/{name}"] = {
            "client_id": url, "client_name": name, "redirect_uris": [W.callback], "grant_types": grants,
            "response_types": ["code"], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}}
        expect_error(f"EMA-AS-3.{name}", redeem(token(client=url), url, auth="pkjwt"), status, error)


def check_numeric_dates():
    """RFC 7519 §2: a NumericDate "can represent ... non-integer values"."""
    now = time.time()
    t, c = jag(iat=now - 0.5, exp=now + 120.5)
    token_ok("EMA-AS-9.non-integer-numeric-dates", redeem(t), sub=c["sub"])
    t, c = jag(nbf=now - 0.25)
    token_ok("EMA-AS-9.non-integer-nbf", redeem(t), sub=c["sub"])


def check_character_limits():
    """§7.7 step 9 counts characters, not bytes; `sub` is ASCII (EMA-AS-10)."""
    ok = lambda name, **kw: token_ok(f"EMA-AS-10.{name}", redeem(jag(**kw)[0]))  # noqa: E731
    bad = lambda name, **kw: expect_error(f"EMA-AS-10.{name}", redeem(token(**kw)), 400, "invalid_grant")  # noqa
    ok("sub-255-ascii-characters", sub="s" * 255)
    bad("sub-256-ascii-characters", sub="s" * 256)
    bad("sub-non-ascii", sub="é" * 10)
    ok("jti-256-two-byte-characters", jti="é" * 256)
    bad("jti-257-two-byte-characters", jti="é" * 257)
    bad("sub-c1-control-character", sub="alice\u0085")
    bad("resource-array-of-number", resource=[7])


def check_non_ascii_subject():
    """A subject the AS accepts (EMA-AS-10: ASCII without control characters, spaces and
    punctuation included) reaches the MCP server through the gateway (§9.3: nothing new for the
    RS)."""
    sub = "elise o'brien+ü".replace("ü", "u")
    t, c = jag(sub=sub, scope="mcp:read")
    j = token_ok("E2E.non-ascii-sub.redeem", redeem(t), sub=sub, scope="mcp:read")
    if j:
        call_tools("E2E.non-ascii-sub", j["access_token"], f"test:{sub}")


def _as_argv(listen):
    return [W.binary, "as", "--config", "as.toml", "--data-dir", os.path.join(W.workdir, "as-data"),
            "--listen", listen]


def check_single_use_durable():
    """EMA-AS-15 (at most once until exp + skew) and §12.4 (the record is shared by every AS
    instance using the same database): a second instance on the same data directory, then a
    restart of the AS."""
    port2 = free_ports(1)[0]
    t, c = jag(scope="mcp:read")
    token_ok("EMA-AS-15.durable.first", redeem(t), sub=c["sub"], scope="mcp:read")
    p2 = start("as-second", _as_argv(f"127.0.0.1:{port2}"))
    if wait_http(f"http://127.0.0.1:{port2}/.well-known/oauth-authorization-server", p2):
        ep = W.as_meta["token_endpoint"]
        W.as_meta["token_endpoint"] = ep.replace(f":{W.ports['as']}/", f":{port2}/")
        try:
            expect_error("S12.4.second-instance-same-database", redeem(t), 400, "invalid_grant")
        finally:
            W.as_meta["token_endpoint"] = ep
    else:
        check("S12.4.second-instance-same-database", False, f"a second AS on the same data directory did not start: "
                                                            f"{tail('as-second', 3)}")
    stop("as-second")
    t2, c2 = jag(scope="mcp:read")
    token_ok("EMA-AS-15.restart.first", redeem(t2), sub=c2["sub"], scope="mcp:read")
    stop("as")
    p = start("as", _as_argv(f"127.0.0.1:{W.ports['as']}"), append=True)
    if not wait_http(f"{W.as_issuer}/.well-known/oauth-authorization-server", p):
        check("EMA-AS-15.restart", False, f"the AS did not start again: {tail('as', 3)}")
        return
    expect_error("EMA-AS-15.replay-after-restart", redeem(t2), 400, "invalid_grant")
    expect_error("EMA-AS-15.replay-after-restart-earlier-id-jag", redeem(t), 400, "invalid_grant")


# ---------------------------------------------------------------- the IdP


def check_nearly_expired_id_token():
    """D8: the ID-JAG lifetime is id_jag_ttl, "not shortened to the ID token's exp"."""
    tok = W.timed_id_tokens.get("nearly-expired")
    if tok is None:
        check("EMA-IDP-9.nearly-expired-id-token", False, f"not run: {W.timed_why}")
        return
    exp = (jwt_parts(tok)[1] or {}).get("exp", 0)
    r = exchange(tok)
    j = response_ok("EMA-IDP-9.nearly-expired-id-token", r, scope="mcp:read")
    if j:
        c = jwt_parts(j["access_token"])[1] or {}
        check("EMA-IDP-9.lifetime-not-shortened-to-id-token-exp", c.get("exp", 0) - c.get("iat", 0) == 300,
              f"ID-JAG exp - iat = {c.get('exp', 0) - c.get('iat', 0)} (the ID token expires in "
              f"{exp - time.time():.0f} s), want 300")


def check_cel_variables():
    """§6.1: client.name and user.sub are variables of the rules."""
    s = sign_in("EMA-IDP-7.carol", "carol", "desktop-agent", quiet=True)
    if s:
        r = exchange(s["id_token"])
        j = response_ok("EMA-IDP-7.client-name-variable", r, scope="other:scope")
        if j:
            verify_id_jag("EMA-IDP-7.client-name-variable.id-jag", j["access_token"], s["claims"]["sub"],
                          scope="other:scope")
    s = sign_in("EMA-IDP-7.gina", "gina", "desktop-agent", quiet=True)
    if s:
        response_ok("EMA-IDP-7.user-sub-variable", exchange(s["id_token"], resource=W.r2), scope="mcp:read")


AS_STEPS = [check_as_oidc_metadata, check_cimd_clients, check_numeric_dates, check_character_limits,
            check_non_ascii_subject]
IDP_STEPS = [check_nearly_expired_id_token, check_cel_variables]
LAST_STEPS = [check_single_use_durable]
