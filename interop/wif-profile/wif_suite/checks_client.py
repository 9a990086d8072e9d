"""Checks of the §7.7 client (WIF-C-1 .. WIF-C-7) against a mock AS and RS this suite controls,
and end to end against the real AS with `mcp-auth gateway` in front of `mcp-auth demo-server`."""

import json
import os

from .as_setup import PLANNER
from .common import JWT_BEARER, W
from .issuers import Site
from .minting import DPoPKey, compact, k8s, k8s_claims
from .report import check
from .wif_client import NotUsable, TokenError, WifClient, parse_mcp


def check_client():
    """WIF-C-1 .. WIF-C-7 against a mock AS and RS this suite controls."""
    rs, mas = Site("mock-rs"), Site("mock-as")
    mock = {"grants": [JWT_BEARER], "token_path": "/oauth2/v9/tok", "error": None, "dpop_algs": None,
            "n": 0, "rs_reject_once": False}
    res_url = rs.url("/mcp")
    prm_url = rs.url("/.well-known/oauth-protected-resource/mcp")
    rs.json("/.well-known/oauth-protected-resource/mcp", lambda: {"resource": res_url,
                                                                  "authorization_servers": [mas.url()]})

    def rs_mcp(req):
        auth = req.headers.get("Authorization") or ""
        if not auth.startswith("Bearer mock-at-") or mock["rs_reject_once"]:
            mock["rs_reject_once"] = False if auth else mock["rs_reject_once"]
            err = ', error="invalid_token"' if auth else ""
            return 401, {"WWW-Authenticate": f'Bearer resource_metadata="{prm_url}"{err}'}, b""
        return 200, {"Content-Type": "application/json"}, b'{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}'
    rs.routes["/mcp"] = rs_mcp

    def as_meta():
        m = {"issuer": mas.url(), "token_endpoint": mas.url(mock["token_path"]),
             "grant_types_supported": mock["grants"]}
        if mock["dpop_algs"]:
            m["dpop_signing_alg_values_supported"] = mock["dpop_algs"]
        return m
    mas.json("/.well-known/oauth-authorization-server", as_meta)

    def as_token(req):
        if mock["error"]:
            return 400, {"Content-Type": "application/json", "Cache-Control": "no-store"}, \
                json.dumps({"error": mock["error"]}).encode()
        mock["n"] += 1
        return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(
            {"access_token": f"mock-at-{mock['n']}", "token_type": "Bearer", "expires_in": 300}).encode()
    mas.routes[mock["token_path"]] = as_token
    token_hits = lambda: [r for r in mas.hits if r.method == "POST"]

    tf = os.path.join(W.workdir, "platform-token")
    def write_token(aud, sub="system:serviceaccount:mcp-agents:planner", ws=""):
        c = k8s_claims(sub=sub, aud=aud)
        tok = k8s(c)
        with open(tf, "w") as f:
            f.write(ws + tok + ws)
        return tok

    try:
        # WIF-C-1: no jwt-bearer in grant_types_supported: nothing sent.
        mock["grants"] = ["authorization_code", "client_credentials"]
        write_token(mas.url())
        cl = WifClient(tf)
        try:
            cl.token(res_url)
            got = "a token"
        except NotUsable as e:
            got = f"refused: {e}"
        check("WIF-C-1.grant-not-listed-nothing-sent", got.startswith("refused") and not token_hits(),
              f"{got}; {len(token_hits())} token requests")
        mock["grants"] = [JWT_BEARER]

        # WIF-C-1 / WIF-C-2: the request goes to metadata's token_endpoint with §7.1's parameters.
        tok = write_token(mas.url(), ws="\n  ")
        cl = WifClient(tf)
        cl.token(res_url, scope="mcp:read")
        hits = token_hits()
        ok = len(hits) == 1 and hits[0].path == mock["token_path"]
        check("WIF-C-1.posts-to-metadata-token-endpoint", ok, f"{[h.path for h in hits]}")
        form = hits[0].form() if hits else []
        names = sorted(k for k, _ in form)
        fd = dict(form)
        problems = []
        if names != ["assertion", "grant_type", "resource", "scope"]:
            problems.append(f"parameters {names}")
        if fd.get("grant_type") != JWT_BEARER:
            problems.append(f"grant_type {fd.get('grant_type')}")
        if fd.get("assertion") != tok:
            problems.append("assertion is not the file's token with whitespace removed")
        if fd.get("resource") != res_url:
            problems.append(f"resource {fd.get('resource')}")
        if hits and hits[0].headers.get("Authorization"):
            problems.append("Authorization header sent")
        check("WIF-C-2.request-is-section-7.1", not problems, "; ".join(problems))
        check("WIF-C-6.bearer-request-carries-no-proof", hits and not hits[0].headers.get("DPoP")
              and not hits[0].headers.get("Signature"), "a proof was sent")
        # WIF-C-6: a DPoP-bound token asked of an AS that does not advertise DPoP (or not for the
        # key's algorithm): nothing is sent, no fallback to Bearer.
        for name, algs in (("not-advertised", None), ("other-algorithm", ["EdDSA"])):
            mock["dpop_algs"] = algs
            n = len(token_hits())
            try:
                WifClient(tf, dpop=DPoPKey()).token(res_url)
                got = "a token"
            except NotUsable:
                got = "refused"
            check(f"WIF-C-6.dpop-{name}-nothing-sent", got == "refused" and len(token_hits()) == n,
                  f"{got}; {len(token_hits()) - n} token requests")
        mock["dpop_algs"] = ["ES256"]
        n = len(token_hits())
        WifClient(tf, dpop=DPoPKey()).token(res_url)
        hits = token_hits()
        check("WIF-C-6.dpop-advertised-proof-sent", len(hits) == n + 1 and hits[-1].headers.get("DPoP"),
              "no DPoP proof in the request")
        mock["dpop_algs"] = None
        write_token(mas.url())
        cl = WifClient(tf)
        cl.token(res_url, scope="mcp:read")

        # WIF-C-7: kept until expiry; a 401 invalid_token gets a new one; other scopes too.
        n0 = len(token_hits())
        r1 = cl.call(res_url, "tools/list")
        r2 = cl.call(res_url, "tools/list")
        check("WIF-C-7.token-reused-for-its-resource", r1.status_code == 200 and r2.status_code == 200
              and len(token_hits()) == n0 + 1, f"statuses {r1.status_code} {r2.status_code}, "
              f"{len(token_hits()) - n0} token requests for two calls")
        mock["rs_reject_once"] = True
        n1 = len(token_hits())
        r3 = cl.call(res_url, "tools/list")
        check("WIF-C-7.new-token-after-401-invalid-token", r3.status_code == 200 and len(token_hits()) == n1 + 1,
              f"status {r3.status_code}, {len(token_hits()) - n1} token requests")

        # WIF-C-3: the file is read for every token request.
        tok2 = write_token(mas.url(), sub="system:serviceaccount:mcp-agents:planner")
        n2 = len(token_hits())
        cl.token(res_url, scope="mcp:write")
        hits = token_hits()
        check("WIF-C-3.file-read-for-every-request", len(hits) == n2 + 1 and dict(hits[-1].form()).get("assertion") == tok2,
              "the second request did not carry the rewritten token")

        # WIF-C-4: wrong audiences: nothing sent.
        for name, aud in (("other", "https://other-rp.example.test"), ("trailing-slash", mas.url() + "/"),
                          ("two", [mas.url(), "https://other-rp.example.test"]), ("token-endpoint", mas.url(mock["token_path"]))):
            write_token(aud)
            n = len(token_hits())
            try:
                WifClient(tf).token(res_url)
                got = "a token"
            except NotUsable as e:
                got = "refused"
            check(f"WIF-C-4.aud-{name}-nothing-sent", got == "refused" and len(token_hits()) == n,
                  f"{got}; {len(token_hits()) - n} token requests")

        # §7.7 item 3: claims with a repeated member (aud twice, the last one right): nothing sent.
        c = json.dumps(k8s_claims(aud="https://other-rp.example.test"))[:-1] + f', "aud": "{mas.url()}"}}'
        with open(tf, "w") as f:
            f.write(compact({"alg": "RS256", "kid": W.k8s_key1.kid}, raw_claims=c.encode(), key=W.k8s_key1))
        n = len(token_hits())
        try:
            WifClient(tf).token(res_url)
            got = "a token"
        except NotUsable:
            got = "refused"
        check("WIF-C-4.claims-with-repeated-aud-nothing-sent", got == "refused" and len(token_hits()) == n,
              f"{got}; {len(token_hits()) - n} token requests")

        # WIF-C-5: an error: one request, the code reported, no retry, no other grant.
        write_token(mas.url())
        mock["error"] = "invalid_grant"
        n = len(token_hits())
        cl = WifClient(tf)
        try:
            cl.call(res_url, "tools/list")
            got = None
        except TokenError as e:
            got = e.code
        check("WIF-C-5.error-reported-no-retry", got == "invalid_grant" and len(token_hits()) == n + 1,
              f"reported {got!r}, {len(token_hits()) - n} token requests")
        mock["error"] = None
    finally:
        rs.stop()
        mas.stop()

    # End to end: the real AS, `mcp-auth gateway` in front of `mcp-auth demo-server`.
    if not W.gateway_ok:
        check("WIF-C.e2e-tools-list-bearer", False, "the gateway did not start")
        return
    write_token(W.issuer)
    cl = WifClient(tf)
    try:
        r = cl.call(W.R1, "tools/list")
        tools = [t.get("name") for t in parse_mcp(r).get("result", {}).get("tools", [])]
        check("WIF-C.e2e-tools-list-bearer", r.status_code == 200 and "whoami" in tools,
              f"{r.status_code} {r.text[:200]}")
        r = cl.call(W.R1, "tools/call", {"name": "whoami", "arguments": {}}, name="whoami")
        who = json.loads(parse_mcp(r)["result"]["content"][0]["text"])
        check("WIF-C.e2e-gateway-sees-principal", who.get("subject") == PLANNER and who.get("client_id") == PLANNER,
              f"whoami {who}")
    except Exception as e:
        check("WIF-C.e2e-tools-list-bearer", False, repr(e))
    cl = WifClient(tf, dpop=DPoPKey())
    try:
        r = cl.call(W.R1, "tools/call", {"name": "whoami", "arguments": {}}, name="whoami")
        who = json.loads(parse_mcp(r)["result"]["content"][0]["text"])
        check("WIF-C-6.e2e-dpop-when-advertised", r.status_code == 200 and who.get("profile") == "dpop"
              and who.get("subject") == PLANNER, f"{r.status_code} whoami {who}")
    except Exception as e:
        check("WIF-C-6.e2e-dpop-when-advertised", False, repr(e))
