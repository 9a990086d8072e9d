"""End to end: an access token from a redemption used at `mcp-auth gateway` in front of
`mcp-auth demo-server` (MCP Streamable HTTP: initialize, tools/list, tools/call)."""

from . import keys as K
from .checks_as_request import token_ok
from .common import W
from .idjag import jag
from .mcp import McpSession, tool_text
from .report import check
from .tokens import as_token_endpoint, exchange, redeem


def call_tools(name, access_token, principal, *, dpop_key=None, write=False):
    """initialize, tools/list (whoami listed), tools/call whoami (the principal), and write_note
    (403 insufficient_scope without mcp:write, as the gateway's policy says)."""
    s = McpSession(W.r1, access_token, dpop_key=dpop_key)
    r, m = s.initialize()
    if not check(f"{name}.initialize", r.status_code == 200 and m and "result" in m,
                 f"{r.status_code} {r.text[:200]} {r.headers.get('WWW-Authenticate', '')}"):
        return
    r, m = s.request("tools/list")
    tools = [t.get("name") for t in ((m or {}).get("result") or {}).get("tools", [])]
    check(f"{name}.tools-list", "whoami" in tools, f"{r.status_code} tools {tools}")
    r, m = s.request("tools/call", {"name": "whoami", "arguments": {}})
    text = tool_text(m or {})
    check(f"{name}.whoami-principal", r.status_code == 200 and principal in text,
          f"{r.status_code} whoami said {text[:300]!r}, want {principal!r}")
    r, m = s.request("tools/call", {"name": "write_note", "arguments": {"text": "hi"}})
    if write:
        check(f"{name}.write-note-allowed", r.status_code == 200 and m and "result" in m, f"{r.status_code} {r.text[:200]}")
    else:
        wa = r.headers.get("WWW-Authenticate", "")
        check(f"{name}.write-note-needs-mcp-write", r.status_code == 403 and "insufficient_scope" in wa,
              f"{r.status_code} {wa}")


def e2e_minted():
    """Without the IdP: an ID-JAG of the suite's own trust entry."""
    t, c = jag(scope="mcp:read")
    j = token_ok("E2E.minted.redeem", redeem(t), sub=c["sub"], scope="mcp:read")
    if j:
        call_tools("E2E.minted", j["access_token"], f"test:{c['sub']}")
    key = K.new_ec()
    proof, _ = K.dpop_proof(key, "POST", as_token_endpoint())
    t, c = jag(scope="mcp:read mcp:write")
    j = token_ok("E2E.minted-dpop.redeem", redeem(t, headers={"DPoP": proof}), sub=c["sub"], token_type="DPoP")
    if j:
        call_tools("E2E.minted-dpop", j["access_token"], f"test:{c['sub']}", dpop_key=key, write=True)


def e2e_idp():
    """The whole flow: sign-in at the IdP, exchange, redemption, tool call."""
    from .oidc import sign_in
    s = sign_in("E2E.idp", "alice", "desktop-agent")
    if not s:
        return
    r = exchange(s["id_token"], scope="mcp:read mcp:write")
    if not check("E2E.idp.exchange", r.status_code == 200, f"{r.status_code} {r.text[:300]}"):
        return
    j = token_ok("E2E.idp.redeem", redeem(r.json()["access_token"], scope=r.json().get("scope")),
                 sub=s["claims"]["sub"], entry="acme", scope="mcp:read mcp:write")
    if j:
        call_tools("E2E.idp", j["access_token"], f"acme:{s['claims']['sub']}", write=True)
        d = j["_claims"]["exp"] - j["_claims"]["iat"]
        check("EMA-AS-17.acme-default-ttl-300", d == 300, f"exp - iat = {d}, want 300")


STEPS = [e2e_idp]


def e2e_token_confusion():
    """§12.2: each kind of JWT is accepted in one place only. An ID-JAG, an ID token and the
    IdP's own access token are refused by the gateway; an ID token and an access token of the MCP
    AS are refused as assertions at the MCP AS."""
    from .checks_idp import S
    from .common import body_json, expect_error, short
    s = S.get("alice")
    if not s:
        return
    r = exchange(s["id_token"], scope="mcp:read")
    jag_text = body_json(r).get("access_token")
    cases = [("id-jag", jag_text), ("id-token", s["id_token"]), ("idp-access-token", s["response"].get("access_token"))]
    for name, tok in cases:
        if not tok:
            check(f"S12.2.{name}-at-the-gateway", False, f"no {name} to present: {short(r)}")
            continue
        sess = McpSession(W.r1, tok)
        r2, _ = sess.initialize()
        check(f"S12.2.{name}-at-the-gateway", r2.status_code == 401, f"{r2.status_code} {r2.text[:200]}")
    for auth in ("basic", "none"):
        r3 = redeem(s["id_token"], auth=auth)
        check(f"S12.2.id-token-as-assertion-{auth}", r3.status_code in (400, 401) and "access_token" not in body_json(r3),
              short(r3))
    t, c = jag(scope="mcp:read")
    j = body_json(redeem(t))
    at = j.get("access_token")
    if at:
        expect_error("S12.2.access-token-as-assertion", redeem(at), 400, "invalid_grant")


STEPS = [e2e_idp, e2e_token_confusion]
