#!/usr/bin/env python3
"""The official MCP Python SDK (`mcp` on PyPI) against the mcp-auth gateway and AS.

    usage: client.py <resource-url> <issuer-url> <client-secret>

<resource-url> is the gateway's protected MCP endpoint, <issuer-url> the authorization server,
<client-secret> the secret of the pre-registered confidential client `demo` (printed by
`mcp-auth up`). Prints one line per check, `PASS py/<mode>/<name> ...` or
`FAIL py/<mode>/<name>: <why>`; exit status 0 if all passed, 1 otherwise. run.sh counts them.

Everything MCP goes through the SDK's `Client` over its streamable HTTP transport
(`streamable_http_client`) on an `httpx2.AsyncClient` (the SDK's HTTP client). Authorization is
the SDK's own `ClientCredentialsOAuthProvider` (mcp.client.auth.extensions.client_credentials):
given only the MCP URL, the client id and secret, and the issuer the credentials belong to, the
SDK takes the gateway's 401, reads `resource_metadata`, fetches the RFC 9728 metadata, the RFC
8414 metadata of the AS it names, and requests a client_credentials token with `resource` and
the challenged scope. On a 403 `insufficient_scope` it steps up by itself (union of the scopes).
The only tokens obtained outside the SDK (plain urllib) are the ones sent as a static
`Authorization: Bearer` header to show what the SDK does with a 403 it cannot fix.

Each check set runs twice: mode "legacy" (the initialize handshake, 2025-11-25, with an
Mcp-Session-Id) and mode "auto" (the SDK's default: `server/discover` at 2026-07-28, stateless).
An httpx2 response hook records every HTTP exchange, so the checks can assert what went over
the wire (which URL, which status, which token request), not only what the SDK returned.
"""

import base64
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.auth.utils import extract_resource_metadata_from_www_auth
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

CLIENT_ID = "demo"
TOOLS = {"echo", "add", "slow", "write_note", "whoami"}
# policy.toml (run.sh starts `mcp-auth up --gateway-config policy.toml`): the demo tool
# `announce` is denied to every call by client `demo`, so the gateway hides it; `echo` is denied
# only when its text starts with DENIED_PREFIX, so it stays listed.
HIDDEN_TOOL = "announce"
MISSING_TOOL = "no_such_tool"  # a name the demo server does not have at all
DENIED_PREFIX = "secret:"
TIMEOUT = 30  # seconds for one SDK operation
STREAM_GAP_MS = 150  # the first progress notification must arrive this long before the result

passed = 0
failed = 0


def report(name: str, ok: bool, detail: str = "") -> None:
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name}" + (f" ({detail})" if detail else ""), flush=True)
    else:
        failed += 1
        print(f"FAIL {name}: {detail}", flush=True)


# --------------------------------------------------------------------------------------------
# WWW-Authenticate (RFC 9110 §11.6.1): one or more challenges, each `scheme [auth-param, ...]`,
# possibly several in one field value. Our own parser, so the checks do not depend on the SDK's.

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"


def parse_challenges(values: list[str]) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for value in values:
        pos = 0
        while pos < len(value):
            m = re.compile(r"[\s,]*").match(value, pos)
            pos = m.end() if m else pos
            if pos >= len(value):
                break
            m = re.compile(rf'({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|{_TOKEN})').match(value, pos)
            if m and out:
                v = m.group(2)
                if v.startswith('"'):
                    v = re.sub(r"\\(.)", r"\1", v[1:-1])
                out[-1][1][m.group(1).lower()] = v
                pos = m.end()
                continue
            m = re.compile(_TOKEN).match(value, pos)
            if not m:
                break
            out.append((m.group(0), {}))
            pos = m.end()
    return out


def bearer_challenge(exchange: dict[str, Any]) -> dict[str, str] | None:
    for scheme, params in parse_challenges(exchange["www_authenticate"]):
        if scheme.lower() == "bearer":
            return params
    return None


# --------------------------------------------------------------------------------------------
# plumbing


class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Recorder:
    """An httpx2 response hook that keeps what went over the wire."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []
        self.responses: list[httpx2.Response] = []

    async def hook(self, response: httpx2.Response) -> None:
        req = response.request
        try:
            body = req.content.decode("utf-8", "replace")
        except Exception:  # a streamed request body
            body = ""
        self.exchanges.append(
            {
                "method": req.method,
                "url": str(req.url),
                "status": response.status_code,
                "www_authenticate": response.headers.get_list("www-authenticate"),
                "request_authorization": req.headers.get("authorization", ""),
                "body": body,
                "response_body": await self.small_body(response),
            }
        )
        self.responses.append(response)

    @staticmethod
    async def small_body(response: httpx2.Response) -> str:
        """The body of a JSON error answer (the policy's 403); other bodies (SSE streams, results)
        are left to the SDK unread."""
        if response.status_code < 400 or not response.headers.get("content-type", "").startswith("application/json"):
            return ""
        await response.aread()
        return response.text

    def mark(self) -> int:
        return len(self.exchanges)

    def since(self, mark: int) -> list[dict[str, Any]]:
        return self.exchanges[mark:]

    def client(self, **kwargs: Any) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            event_hooks={"response": [self.hook]},
            timeout=httpx2.Timeout(30, read=300),
            **kwargs,
        )


def plain_token(issuer: str, secret: str, scope: str, resource: str) -> dict[str, Any]:
    """A client_credentials token fetched without the SDK (client_secret_basic, RFC 8707 resource)."""
    data = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope, "resource": resource})
    basic = base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()
    req = urllib.request.Request(issuer.rstrip("/") + "/token", data=data.encode(), headers={"Authorization": f"Basic {basic}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def error_shape(e: BaseException | None) -> str:
    """What the SDK raised, for comparing two errors: the type and the JSON-RPC code."""
    if e is None:
        return "nothing raised"
    while isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
        e = e.exceptions[0]
    return f"{type(e).__name__}(code {getattr(e, 'code', '?')})"


def error_message(e: BaseException | None) -> str:
    return str(getattr(e, "message", e))


def describe(e: BaseException) -> str:
    """An exception as `Type: repr`, unwrapping the task groups' one-member exception groups."""
    while isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
        e = e.exceptions[0]
    return f"{type(e).__name__}: {e!r}"


def text_of(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def summarize(exchanges: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e['method']} {e['url']} -> {e['status']}" for e in exchanges)


def form(body: str) -> dict[str, str]:
    return {k: v for k, v in urllib.parse.parse_qsl(body)}


async def checked(name: str, fn: Callable[[], Awaitable[str]]) -> bool:
    """Runs one check: `fn` returns a detail string on success and raises AssertionError (or
    anything else) on failure."""
    try:
        with anyio.fail_after(TIMEOUT):
            detail = await fn()
        report(name, True, detail)
        return True
    except AssertionError as e:
        report(name, False, str(e))
    except Exception as e:  # noqa: BLE001 - any SDK error is a failed check
        report(name, False, describe(e))
    return False


# --------------------------------------------------------------------------------------------
# the checks


async def run_mode(mode: str, resource: str, issuer: str, secret: str) -> None:
    p = f"py/{mode}"
    names = [
        "discovery-from-401",
        "connect-and-list-tools",
        "echo",
        "add",
        "slow-progress",
        "slow-progress-streamed",
        "whoami",
        "write-note-denied-read-only-token",
        "write-note-with-write-token",
        "write-note-step-up-by-sdk",
        "whoami-after-step-up",
        "policy-hides-tool",
        "policy-hidden-call-is-unknown-tool",
        "policy-denied-arguments-403",
        "policy-session-usable-after-denial",
    ]
    done: set[str] = set()

    async def check(name: str, fn: Callable[[], Awaitable[str]]) -> bool:
        done.add(name)
        return await checked(f"{p}/{name}", fn)

    issuer_base = issuer.rstrip("/")
    want_version = "2025-11-25" if mode == "legacy" else "2026-07-28"

    # --- the SDK's OAuth provider: discovery from the 401, then the tool calls --------------
    rec = Recorder()
    provider = ClientCredentialsOAuthProvider(
        server_url=resource,
        storage=MemoryStorage(),
        client_id=CLIENT_ID,
        client_secret=secret,
        issuer=issuer,
    )
    try:
        with anyio.fail_after(10 * TIMEOUT):
            async with rec.client(auth=provider) as http:
                async with Client(streamable_http_client(resource, http_client=http), mode=mode) as client:
                    await run_with_provider(check, client, rec, resource, issuer_base, want_version)
    except Exception as e:  # noqa: BLE001
        if "discovery-from-401" not in done:
            done.add("discovery-from-401")
            report(f"{p}/discovery-from-401", False, f"connecting failed: {describe(e)}; wire: {summarize(rec.exchanges)}")
        else:
            print(f"# {p}: error after the checks: {describe(e)}", file=sys.stderr)

    # --- a static Bearer header (token fetched without the SDK): what the SDK does on 403 ----
    for name, scope, expect_ok in (
        ("write-note-denied-read-only-token", "mcp:read", False),
        ("write-note-with-write-token", "mcp:read mcp:write", True),
    ):
        async def static_header(scope: str = scope, expect_ok: bool = expect_ok) -> str:
            tok = plain_token(issuer, secret, scope, resource)
            assert tok.get("scope") == scope, f"the AS granted scope {tok.get('scope')!r}, asked for {scope!r}"
            srec = Recorder()
            async with srec.client(headers={"Authorization": f"Bearer {tok['access_token']}"}) as http:
                async with Client(streamable_http_client(resource, http_client=http), mode=mode) as c:
                    mark = srec.mark()
                    try:
                        result = await c.call_tool("write_note", {"note": f"from the Python SDK ({mode})"})
                        raised = None
                    except Exception as e:  # noqa: BLE001
                        result, raised = None, e
                    wire = srec.since(mark)
            if expect_ok:
                assert raised is None, f"write_note raised {raised!r}; wire: {summarize(wire)}"
                assert not result.is_error and text_of(result).startswith("saved"), f"result {result!r}"
                return f"token for {scope!r} fetched by the script, sent as a static header; result {text_of(result)!r}"
            assert raised is not None, f"write_note succeeded with a read-only token: {result!r}"
            forbidden = [e for e in wire if e["status"] == 403]
            assert forbidden, f"no HTTP 403 on the wire: {summarize(wire)}"
            ch = bearer_challenge(forbidden[0]) or {}
            assert ch.get("error") == "insufficient_scope", f"Bearer challenge {ch!r}"
            assert set(ch.get("scope", "").split()) == {"mcp:read", "mcp:write"}, f"challenged scope {ch.get('scope')!r}"
            return (
                f"HTTP 403 Bearer error=insufficient_scope scope={ch['scope']!r}; the SDK raised "
                f"{type(raised).__name__}({getattr(raised, 'code', '?')}, {str(raised)!r}) (the HTTP status is not in the error)"
            )

        await check(name, static_header)

    for name in names:
        if name not in done:
            report(f"{p}/{name}", False, "not reached (an earlier step failed)")


async def run_with_provider(check, client: Client, rec: Recorder, resource: str, issuer: str, want_version: str) -> None:
    ex = rec.exchanges

    async def discovery() -> str:
        first = ex[0] if ex else None
        assert first and first["method"] == "POST" and first["url"] == resource and first["status"] == 401, (
            f"first exchange is not the 401 from the gateway: {summarize(ex[:1])}"
        )
        ch = bearer_challenge(first)
        assert ch and ch.get("resource_metadata"), f"no Bearer challenge with resource_metadata: {first['www_authenticate']}"
        prm_url = ch["resource_metadata"]
        sdk_saw = extract_resource_metadata_from_www_auth(rec.responses[0])
        assert sdk_saw == prm_url, f"the SDK's own parser reads resource_metadata={sdk_saw!r}, the Bearer challenge says {prm_url!r}"
        steps = [e for e in ex[1:]]
        assert len(steps) >= 4, f"too few exchanges after the 401: {summarize(steps)}"
        prm, asm, tok, retry = steps[0], steps[1], steps[2], steps[3]
        assert (prm["method"], prm["url"], prm["status"]) == ("GET", prm_url, 200), f"PRM fetch: {summarize([prm])}"
        assert (asm["method"], asm["url"], asm["status"]) == (
            "GET",
            f"{issuer}/.well-known/oauth-authorization-server",
            200,
        ), f"AS metadata fetch: {summarize([asm])}"
        assert (tok["method"], tok["url"], tok["status"]) == ("POST", f"{issuer}/token", 200), f"token request: {summarize([tok])}"
        f = form(tok["body"])
        assert f.get("grant_type") == "client_credentials", f"grant_type {f.get('grant_type')!r}"
        assert f.get("resource") == resource, f"resource {f.get('resource')!r} (want {resource})"
        assert f.get("scope") == ch.get("scope"), f"scope {f.get('scope')!r}, challenged {ch.get('scope')!r}"
        assert tok["request_authorization"].startswith("Basic "), "no client_secret_basic on the token request"
        assert retry["url"] == resource and retry["status"] == 200, f"retried MCP request: {summarize([retry])}"
        assert retry["request_authorization"].startswith("Bearer "), "retried MCP request without a Bearer token"
        return (
            "SELF-DISCOVERY by the Python SDK: 401 -> resource_metadata -> PRM -> "
            f"{issuer}/.well-known/oauth-authorization-server -> client_credentials token "
            f"(scope={f['scope']!r}, resource, client_secret_basic) -> retry 200"
        )

    await check("discovery-from-401", discovery)

    async def list_tools() -> str:
        assert client.protocol_version == want_version, f"negotiated {client.protocol_version}, expected {want_version}"
        handshake = "initialize" if client.session.initialize_result is not None else "server/discover"
        tools = await client.list_tools()
        names = {t.name for t in tools.tools}
        assert TOOLS <= names, f"tools/list returned {sorted(names)}, missing {sorted(TOOLS - names)}"
        server = client.server_info.name if client.server_info else "?"
        return f"{handshake} at {client.protocol_version} with {server}; tools/list: {', '.join(sorted(names))}"

    await check("connect-and-list-tools", list_tools)

    async def echo() -> str:
        text = f"héllo from the Python SDK {time.time_ns()}"
        r = await client.call_tool("echo", {"text": text})
        assert not r.is_error and text_of(r) == text, f"echo returned {r!r}"
        return "text round-trips"

    await check("echo", echo)

    async def add() -> str:
        r = await client.call_tool("add", {"a": 2, "b": 3})
        assert not r.is_error and text_of(r) == "5", f"add returned {r!r}"
        return "2+3 = 5"

    await check("add", add)

    progress: list[tuple[float, float | None, str | None, float]] = []
    result_at: list[float] = []

    async def slow() -> str:
        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message, time.monotonic()))

        r = await client.call_tool("slow", {"steps": 3, "delay_ms": 200}, progress_callback=on_progress)
        result_at.append(time.monotonic())
        assert not r.is_error, f"slow returned {r!r}"
        values = [v for v, *_ in progress]
        assert len(progress) == 3, f"{len(progress)} progress notifications before the result: {progress!r}"
        assert values == [1, 2, 3], f"progress values {values}, expected [1, 2, 3] in order"
        assert all(t == 3 for _, t, _, _ in progress), f"totals {[t for _, t, _, _ in progress]}"
        return f"3 notifications/progress before the result, in order ({[m for _, _, m, _ in progress]}); result {text_of(r)!r}"

    await check("slow-progress", slow)

    async def streamed() -> str:
        assert progress and result_at, "slow-progress did not complete"
        gap_ms = (result_at[0] - progress[0][3]) * 1000
        assert gap_ms >= STREAM_GAP_MS, (
            f"first progress only {gap_ms:.0f} ms before the result: the response looks buffered, not streamed"
        )
        return f"first progress {gap_ms:.0f} ms before the result"

    await check("slow-progress-streamed", streamed)

    async def whoami(want_scope: set[str]) -> str:
        r = await client.call_tool("whoami", {})
        ident = json.loads(text_of(r))
        assert ident.get("subject") == "demo", f"subject {ident.get('subject')!r}"
        assert ident.get("profile") == "bearer", f"profile {ident.get('profile')!r}"
        assert ident.get("client_id") == CLIENT_ID, f"client_id {ident.get('client_id')!r}"
        assert set(str(ident.get("scope", "")).split()) == want_scope, f"scope {ident.get('scope')!r}, want {sorted(want_scope)}"
        return f"forwarded identity {json.dumps(ident, sort_keys=True)}"

    await check("whoami", lambda: whoami({"mcp:read"}))

    async def step_up() -> str:
        mark = rec.mark()
        r = await client.call_tool("write_note", {"note": "from the Python SDK after step-up"})
        wire = rec.since(mark)
        assert not r.is_error and text_of(r).startswith("saved"), f"write_note returned {r!r}; wire: {summarize(wire)}"
        statuses = [(e["method"], e["url"], e["status"]) for e in wire]
        i403 = next((i for i, e in enumerate(wire) if e["status"] == 403), None)
        assert i403 is not None, f"no 403 first (the token already had mcp:write?): {summarize(wire)}"
        ch = bearer_challenge(wire[i403]) or {}
        assert ch.get("error") == "insufficient_scope", f"403 Bearer challenge {ch!r}"
        toks = [e for e in wire[i403:] if e["url"] == f"{issuer}/token"]
        assert toks and toks[0]["status"] == 200, f"no successful token request after the 403: {statuses}"
        f = form(toks[0]["body"])
        assert set(f.get("scope", "").split()) == {"mcp:read", "mcp:write"}, f"step-up token request scope {f.get('scope')!r}"
        assert f.get("resource") == resource, f"step-up token request resource {f.get('resource')!r}"
        assert wire[-1]["url"] == resource and wire[-1]["status"] == 200, f"last exchange: {summarize(wire[-1:])}"
        return f"STEP-UP BY THE SDK: 403 insufficient_scope -> token request scope={f['scope']!r} -> retry 200, {text_of(r)!r}"

    await check("write-note-step-up-by-sdk", step_up)
    await check("whoami-after-step-up", lambda: whoami({"mcp:read", "mcp:write"}))
    await policy_checks(check, client, rec, resource)


async def policy_checks(check, client: Client, rec: Recorder, resource: str) -> None:
    """What the SDK sees of the gateway's policy (policy.toml): a list without the hidden tool,
    a call of it answered as for a tool that does not exist, and a call refused for its
    arguments."""

    async def attempt(name: str, arguments: dict[str, Any]) -> tuple[Any, BaseException | None, list[dict[str, Any]]]:
        """Calls `name`: the result, what the SDK raised, and every HTTP exchange of the call."""
        mark = rec.mark()
        try:
            result, raised = await client.call_tool(name, arguments), None
        except Exception as e:  # noqa: BLE001 - what the SDK raises is the observation
            result, raised = None, e
        return result, raised, rec.since(mark)

    def mcp_only(exchanges: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in exchanges if e["url"] == resource]

    async def hides_tool() -> str:
        names = {t.name for t in (await client.list_tools()).tools}
        assert HIDDEN_TOOL not in names, f"tools/list still has {HIDDEN_TOOL!r}: {sorted(names)}"
        assert TOOLS <= names, f"tools/list returned {sorted(names)}, missing {sorted(TOOLS - names)}"
        return f"tools/list for client_id=demo: {', '.join(sorted(names))}; the demo tool {HIDDEN_TOOL!r} is left out"

    await check("policy-hides-tool", hides_tool)

    async def hidden_call() -> str:
        hr, he, hw = await attempt(HIDDEN_TOOL, {})
        mr, me, mw = await attempt(MISSING_TOOL, {})
        hw, mw = mcp_only(hw), mcp_only(mw)
        assert he is not None, f"calling the hidden {HIDDEN_TOOL!r} did not raise: {hr!r}; wire: {summarize(hw)}"
        assert me is not None, f"calling {MISSING_TOOL!r} did not raise: {mr!r}"
        assert getattr(he, "code", None) == -32602, f"hidden tool: the SDK raised {describe(he)}"
        assert error_shape(he) == error_shape(me), (
            f"hidden tool: {error_shape(he)} {error_message(he)!r}; missing tool: {error_shape(me)} {error_message(me)!r}"
        )
        assert [e["status"] for e in hw] == [200], f"hidden tool on the wire: {summarize(hw)}"
        assert [e["status"] for e in mw] == [200], f"missing tool on the wire: {summarize(mw)}"
        same = "the same message" if error_message(he) == error_message(me) else "messages differ"
        return (
            f"both HTTP 200 and {error_shape(he)}: hidden {HIDDEN_TOOL!r} -> {error_message(he)!r} (the gateway), "
            f"missing {MISSING_TOOL!r} -> {error_message(me)!r} (the demo server); {same}"
        )

    await check("policy-hidden-call-is-unknown-tool", hidden_call)

    async def denied_arguments() -> str:
        r, raised, all_wire = await attempt("echo", {"text": f"{DENIED_PREFIX} do not repeat"})
        wire = mcp_only(all_wire)
        assert raised is not None or (r is not None and r.is_error), f"the denied echo succeeded: {r!r}"
        assert [e["status"] for e in wire] == [403], f"on the wire: {summarize(all_wire)} (want one 403)"
        assert not wire[0]["www_authenticate"], f"the policy's 403 has a challenge: {wire[0]['www_authenticate']}"
        assert wire == all_wire, f"the SDK made other requests after the policy's 403: {summarize(all_wire)}"
        body = wire[0]["response_body"]
        assert '"code":-32003' in body.replace(" ", ""), f"the 403's body is not the policy's -32003 error: {body!r}"
        if raised is not None and getattr(raised, "code", None) == -32003:
            what = f"raised {error_shape(raised)} {error_message(raised)!r}: the JSON-RPC error of the 403's body (not the HTTP status)"
        elif raised is not None:
            what = f"raised {error_shape(raised)} {error_message(raised)!r}: not the policy's -32003 of the 403's body"
        else:
            what = f"returned an error result {r!r}"
        return f"HTTP 403 without WWW-Authenticate, body JSON-RPC -32003; no token request after it; the SDK {what}"

    await check("policy-denied-arguments-403", denied_arguments)

    async def still_usable() -> str:
        r = await client.call_tool("echo", {"text": "after the denial"})
        assert not r.is_error and text_of(r) == "after the denial", f"echo returned {r!r}"
        return "echo with other text, in the same session, still works"

    await check("policy-session-usable-after-denial", still_usable)


async def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    resource, issuer, secret = sys.argv[1:4]
    for mode in ("legacy", "auto"):
        await run_mode(mode, resource, issuer, secret)
    print(f"# client.py: {passed} passed, {failed} failed", file=sys.stderr)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
