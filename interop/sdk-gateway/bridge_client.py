#!/usr/bin/env python3
"""The official MCP Python SDK's stdio client against `mcp-auth bridge` (stdio <-> the gateway).

    usage: bridge_client.py <mcp-auth-binary> <resource-url> <client-secret> [<gateway-log>]

The SDK starts `<mcp-auth-binary> bridge <resource-url> --client-id demo` itself, as an MCP
client configuration would, with the secret in MCP_AUTH_CLIENT_SECRET (not on the command line).
From the SDK's point of view the bridge is a stdio MCP server: `mcp.client.stdio.stdio_client`
with `StdioServerParameters` and a `ClientSession` on top, no HTTP and no OAuth in this script.
The bridge finds the AS from the gateway's 401, gets a client_credentials token and steps up on
403 insufficient_scope on its own.

<gateway-log> is the stderr of `mcp-auth up` (JSON lines). When given, the checks also assert
from it what the bridge did over HTTP: the refused unauthenticated request, the token issued to
`demo` for this resource, and, for write_note, the 403 insufficient_scope and the
`mcp:read mcp:write` token that followed.

Prints one line per check, `PASS py/bridge/<name> (detail)` or `FAIL py/bridge/<name>: <why>`;
exit status 0 if all passed, 1 otherwise. run.sh counts them.
"""

import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.message import SessionMessage

CLIENT_ID = "demo"
TOOLS = {"echo", "add", "slow", "write_note", "whoami"}
# policy.toml (see client.py): `announce` hidden from client `demo`, `echo` refused when its
# text starts with DENIED_PREFIX.
HIDDEN_TOOL = "announce"
MISSING_TOOL = "no_such_tool"
DENIED_PREFIX = "secret:"
TIMEOUT = 30  # seconds for one check
STREAM_GAP_MS = 300  # the first progress notification must arrive this long before the result
EXIT_GRACE_S = 1.5  # the bridge must exit on its own this soon after its stdin closes

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


def describe(e: BaseException) -> str:
    while isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
        e = e.exceptions[0]
    return f"{type(e).__name__}: {e!r}"


def text_of(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def checked(name: str, fn: Callable[[], Awaitable[str]]) -> bool:
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
# plumbing


class Wire:
    """What went over the bridge's stdin (`>`) and stdout (`<`), with arrival times. The SDK's
    stdio transport parses each stdout line into one message, so one entry is one line."""

    def __init__(self) -> None:
        self.log: list[tuple[float, str, dict[str, Any]]] = []

    def mark(self) -> int:
        return len(self.log)

    def since(self, mark: int) -> list[tuple[float, str, dict[str, Any]]]:
        return self.log[mark:]

    @asynccontextmanager
    async def tap(self, transport: Any) -> AsyncIterator[tuple[Any, Any]]:
        async with transport as (read, write):
            to_session, session_read = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            session_write, from_session = anyio.create_memory_object_stream[SessionMessage](0)

            def dump(m: SessionMessage) -> dict[str, Any]:
                return m.message.model_dump(by_alias=True, mode="json", exclude_unset=True)

            async def inbound() -> None:
                async with to_session:
                    async for item in read:
                        if isinstance(item, SessionMessage):
                            self.log.append((time.monotonic(), "<", dump(item)))
                        await to_session.send(item)

            async def outbound() -> None:
                async with from_session:
                    async for item in from_session:
                        self.log.append((time.monotonic(), ">", dump(item)))
                        await write.send(item)

            async with anyio.create_task_group() as tg:
                tg.start_soon(inbound)
                tg.start_soon(outbound)
                try:
                    yield session_read, session_write
                finally:
                    session_write.close()
                    session_read.close()
                    tg.cancel_scope.cancel()


class GatewayLog:
    """The JSON lines `mcp-auth up` writes to stderr, read from an offset on."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def mark(self) -> int:
        if not self.path:
            return 0
        with open(self.path, "rb") as f:
            return f.seek(0, 2)

    def since(self, mark: int) -> list[dict[str, Any]]:
        if not self.path:
            return []
        with open(self.path, "rb") as f:
            f.seek(mark)
            data = f.read().decode("utf-8", "replace")
        out = []
        for line in data.splitlines():
            try:
                out.append(json.loads(line).get("fields", {}))
            except ValueError:
                pass
        return out


def refused(events: list[dict[str, Any]], reason: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("message") == "request refused" and e.get("reason") == reason]


def issued(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("message") == "issued access token"]


def bridge_params(mcp_auth: str, resource: str, secret: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=mcp_auth,
        args=["bridge", resource, "--client-id", CLIENT_ID],
        env={"MCP_AUTH_CLIENT_SECRET": secret},
    )


# --------------------------------------------------------------------------------------------
# the checks


async def run(mcp_auth: str, resource: str, secret: str, gwlog: GatewayLog, errlog: Any) -> None:
    p = "py/bridge"
    names = [
        "initialize",
        "tools-list",
        "echo",
        "slow-progress",
        "slow-progress-streamed",
        "whoami",
        "write-note-step-up-by-bridge",
        "whoami-after-step-up",
        "policy-hides-tool",
        "policy-hidden-call-is-unknown-tool",
        "policy-denied-arguments-403",
        "exit-on-stdin-close",
        "client-auto-mode",
    ]
    done: set[str] = set()

    async def check(name: str, fn: Callable[[], Awaitable[str]]) -> bool:
        done.add(name)
        return await checked(f"{p}/{name}", fn)

    wire = Wire()
    params = bridge_params(mcp_auth, resource, secret)
    closed_at: list[float] = []
    start_mark = gwlog.mark()
    try:
        with anyio.fail_after(10 * TIMEOUT):
            async with wire.tap(stdio_client(params, errlog=errlog)) as (read, write):
                try:
                    async with ClientSession(read, write) as session:
                        await run_session(check, session, wire, gwlog, start_mark, resource)
                finally:
                    closed_at.append(time.monotonic())
        exited_at = time.monotonic()
    except Exception as e:  # noqa: BLE001
        exited_at = None
        first = next((n for n in names if n not in done), None)
        if first:
            done.add(first)
            report(f"{p}/{first}", False, f"{describe(e)}; bridge stderr: {tail(errlog)!r}")
        else:
            print(f"# {p}: error after the checks: {describe(e)}", file=sys.stderr)

    if exited_at is not None and "initialize" in done:

        async def exit_on_eof() -> str:
            # stdio_client closes the bridge's stdin, waits up to 2 s, then SIGTERMs it.
            took = exited_at - closed_at[0]
            assert took < EXIT_GRACE_S, f"the transport needed {took:.2f} s to stop the bridge: it did not exit on EOF"
            return f"the bridge exited {took * 1000:.0f} ms after its stdin closed"

        await check("exit-on-stdin-close", exit_on_eof)

    async def auto_mode() -> str:
        # The SDK's high-level Client in its default mode: server/discover at 2026-07-28 (stateless).
        async with Client(stdio_client(bridge_params(mcp_auth, resource, secret), errlog=errlog)) as client:
            version = client.protocol_version
            handshake = "initialize" if client.session.initialize_result is not None else "server/discover"
            tools = {t.name for t in (await client.list_tools()).tools}
            assert TOOLS <= tools, f"tools/list returned {sorted(tools)}"
            ident = json.loads(text_of(await client.call_tool("whoami", {})))
        assert (handshake, version) == ("server/discover", "2026-07-28"), f"{handshake} at {version}"
        assert ident.get("mcp_protocol_version") == "2026-07-28", f"forwarded identity {ident!r}"
        assert (ident.get("subject"), ident.get("profile")) == ("demo", "bearer"), f"forwarded identity {ident!r}"
        return f"mcp.Client(stdio_client(...)) default mode: {handshake} at {version}; tools/list and whoami through the bridge"

    await check("client-auto-mode", auto_mode)

    for name in names:
        if name not in done:
            report(f"{p}/{name}", False, "not reached (an earlier step failed)")


async def run_session(check, session: ClientSession, wire: Wire, gwlog: GatewayLog, start_mark: int, resource: str) -> None:
    p = "py/bridge"

    async def initialize() -> str:
        r = await session.initialize()
        assert r.protocol_version == "2025-11-25", f"negotiated {r.protocol_version}"
        first = wire.log[0][2] if wire.log else {}
        assert first.get("method") == "initialize", f"first message on the bridge's stdin: {first!r}"
        detail = f"initialize over stdio at {r.protocol_version} with {r.server_info.name} {r.server_info.version}"
        if gwlog.path:
            events = gwlog.since(start_mark)
            assert refused(events, "no_credentials"), "the gateway log shows no unauthenticated request (no 401) from the bridge"
            toks = issued(events)
            assert toks, "the gateway log shows no token issued after the 401"
            t = toks[0]
            assert (t.get("client_id"), t.get("aud"), t.get("scope")) == (CLIENT_ID, resource, "mcp:read"), f"token issued: {t!r}"
            detail += f"; gateway log: 401 no_credentials, then a token for client_id=demo aud={resource} scope=mcp:read"
        return detail

    if not await check("initialize", initialize):
        return

    async def list_tools() -> str:
        names = {t.name for t in (await session.list_tools()).tools}
        assert TOOLS <= names, f"tools/list returned {sorted(names)}, missing {sorted(TOOLS - names)}"
        return ", ".join(sorted(names))

    await check("tools-list", list_tools)

    async def echo() -> str:
        text = f"héllo through the bridge {time.time_ns()}"
        r = await session.call_tool("echo", {"text": text})
        assert not r.is_error and text_of(r) == text, f"echo returned {r!r}"
        return "text round-trips (non-ASCII included)"

    await check("echo", echo)

    progress: list[tuple[float, float | None, str | None, float]] = []
    result_at: list[float] = []

    async def slow() -> str:
        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message, time.monotonic()))

        mark = wire.mark()
        r = await session.call_tool("slow", {"steps": 3, "delay_ms": 200}, progress_callback=on_progress)
        result_at.append(time.monotonic())
        assert not r.is_error, f"slow returned {r!r}"
        values = [v for v, *_ in progress]
        assert len(progress) == 3, f"{len(progress)} progress callbacks before the result: {progress!r}"
        assert values == [1, 2, 3], f"progress values {values}, expected [1, 2, 3] in order"
        assert all(t == 3 for _, t, _, _ in progress), f"totals {[t for _, t, _, _ in progress]}"
        # On the wire: the three notifications are separate stdout lines before the response line.
        lines = [m.get("method") or ("result" if "result" in m else "error") for _, d, m in wire.since(mark) if d == "<"]
        assert lines == ["notifications/progress"] * 3 + ["result"], f"stdout lines: {lines}"
        return f"3 notifications/progress before the result, in order ({[m for _, _, m, _ in progress]}); result {text_of(r)!r}"

    await check("slow-progress", slow)

    async def streamed() -> str:
        assert progress and result_at, "slow-progress did not complete"
        gaps = [(result_at[0] - t) * 1000 for *_, t in progress]
        assert gaps[0] >= STREAM_GAP_MS, (
            f"first progress only {gaps[0]:.0f} ms before the result (want >= {STREAM_GAP_MS}): the bridge buffers"
        )
        return "progress callbacks " + ", ".join(f"{g:.0f}" for g in gaps) + " ms before the result"

    await check("slow-progress-streamed", streamed)

    session_id: list[Any] = []

    async def whoami(want_scope: set[str]) -> str:
        ident = json.loads(text_of(await session.call_tool("whoami", {})))
        assert ident.get("subject") == "demo", f"subject {ident.get('subject')!r}"
        assert ident.get("profile") == "bearer", f"profile {ident.get('profile')!r}"
        assert ident.get("client_id") == CLIENT_ID, f"client_id {ident.get('client_id')!r}"
        assert set(str(ident.get("scope", "")).split()) == want_scope, f"scope {ident.get('scope')!r}, want {sorted(want_scope)}"
        sid = ident.get("mcp_session_id")
        assert sid, f"no Mcp-Session-Id forwarded: the bridge does not keep the session ({ident!r})"
        if session_id:
            assert sid == session_id[0], f"session changed from {session_id[0]} to {sid}"
        session_id.append(sid)
        return f"forwarded identity {json.dumps(ident, sort_keys=True)}"

    await check("whoami", lambda: whoami({"mcp:read"}))

    async def write_note() -> str:
        mark = gwlog.mark()
        r = await session.call_tool("write_note", {"note": "from the Python SDK over stdio"})
        assert not r.is_error and text_of(r).startswith("saved"), f"write_note returned {r!r}"
        detail = f"result {text_of(r)!r}"
        if gwlog.path:
            events = gwlog.since(mark)
            assert refused(events, "insufficient_scope"), "the gateway log shows no 403 insufficient_scope: did the token already have mcp:write?"
            toks = issued(events)
            assert toks and set(toks[0].get("scope", "").split()) == {"mcp:read", "mcp:write"}, f"tokens issued: {toks!r}"
            assert toks[0].get("aud") == resource, f"step-up token audience {toks[0].get('aud')!r}"
            detail = f"STEP-UP BY THE BRIDGE: gateway log 403 insufficient_scope -> token scope='mcp:read mcp:write' -> {detail}"
        return detail

    await check("write-note-step-up-by-bridge", write_note)
    await check("whoami-after-step-up", lambda: whoami({"mcp:read", "mcp:write"}))
    await policy_checks(check, session, wire, gwlog)

    # --- a request while another runs, and a cancel --------------------------------------------
    try:
        with anyio.fail_after(TIMEOUT):
            await observe_concurrency(session, wire)
    except Exception as e:  # noqa: BLE001
        report(f"{p}/concurrency", False, f"could not run: {describe(e)}")


async def policy_checks(check, session: ClientSession, wire: Wire, gwlog: GatewayLog) -> None:
    """The gateway's policy (policy.toml) as the SDK sees it through the bridge: the list without
    the hidden tool, a call of it answered as for a missing tool, a call refused for its
    arguments. The gateway log says why each was refused (`hidden`, `policy_denied`)."""

    async def attempt(name: str, arguments: dict[str, Any]) -> tuple[Any, BaseException | None, list[dict[str, Any]]]:
        mark = wire.mark()
        try:
            result, raised = await session.call_tool(name, arguments), None
        except Exception as e:  # noqa: BLE001 - what the SDK raises is the observation
            result, raised = None, e
        # The bridge's stdout lines for this call: its answer.
        return result, raised, [m for _, d, m in wire.since(mark) if d == "<"]

    def shape(e: BaseException | None) -> str:
        return f"{type(e).__name__}(code {getattr(e, 'code', '?')})" if e else "nothing raised"

    def message(e: BaseException | None) -> str:
        return str(getattr(e, "message", e))

    async def hides_tool() -> str:
        names = {t.name for t in (await session.list_tools()).tools}
        assert HIDDEN_TOOL not in names, f"tools/list still has {HIDDEN_TOOL!r}: {sorted(names)}"
        assert TOOLS <= names, f"tools/list returned {sorted(names)}, missing {sorted(TOOLS - names)}"
        return f"tools/list: {', '.join(sorted(names))}; {HIDDEN_TOOL!r} left out"

    await check("policy-hides-tool", hides_tool)

    async def hidden_call() -> str:
        mark = gwlog.mark()
        hr, he, hout = await attempt(HIDDEN_TOOL, {})
        events = gwlog.since(mark)
        mr, me, _ = await attempt(MISSING_TOOL, {})
        assert he is not None and getattr(he, "code", None) == -32602, f"hidden tool: {shape(he)} {hr!r}; stdout: {hout}"
        assert shape(he) == shape(me), f"hidden: {shape(he)} {message(he)!r}; missing: {shape(me)} {message(me)!r}"
        detail = f"both {shape(he)}: hidden -> {message(he)!r}, missing -> {message(me)!r}"
        if gwlog.path:
            assert refused(events, "hidden"), "the gateway log shows no `hidden` refusal for the call"
            detail += "; gateway log: request refused, reason hidden"
        return detail

    await check("policy-hidden-call-is-unknown-tool", hidden_call)

    async def denied_arguments() -> str:
        mark = gwlog.mark()
        r, raised, out = await attempt("echo", {"text": f"{DENIED_PREFIX} do not repeat"})
        events = gwlog.since(mark)
        assert raised is not None or (r is not None and r.is_error), f"the denied echo succeeded: {r!r}"
        # The bridge passes the gateway's own JSON-RPC error on (not a -32603 of its own).
        assert getattr(raised, "code", None) == -32003, f"expected the policy's -32003: {shape(raised)} {message(raised)!r}"
        after = await session.call_tool("echo", {"text": "after the denial"})
        assert text_of(after) == "after the denial", f"the next echo returned {after!r}"
        what = f"raised {shape(raised)} {message(raised)!r}" if raised else f"returned an error result {text_of(r)!r}"
        detail = f"the SDK {what}; the next echo works"
        if gwlog.path:
            assert refused(events, "policy_denied"), "the gateway log shows no `policy_denied` refusal (403)"
            assert not issued(events), "the bridge asked for a new token after the policy's 403"
            detail += "; gateway log: 403 policy_denied, no new token"
        return detail

    await check("policy-denied-arguments-403", denied_arguments)


async def observe_concurrency(session: ClientSession, wire: Wire) -> None:
    """A stdio server may get a request while another is running (the SDK allows this). The
    gateway answers such requests at once, and so must the bridge (its first version did not)."""
    p = "py/bridge"
    t: dict[str, float] = {}

    async def slow() -> None:
        await session.call_tool("slow", {"steps": 3, "delay_ms": 300})
        t["slow"] = time.monotonic()

    async with anyio.create_task_group() as tg:
        t0 = time.monotonic()
        tg.start_soon(slow)
        await anyio.sleep(0.05)
        await session.call_tool("echo", {"text": "while slow runs"})
        t["echo"] = time.monotonic()
    echo_ms = (t["echo"] - t0) * 1000 - 50
    report(
        f"{p}/concurrent-requests",
        t["echo"] < t["slow"],
        f"echo sent while slow (3 x 300 ms) ran was answered in {echo_ms:.0f} ms, "
        f"{(t['echo'] - t['slow']) * 1000:+.0f} ms relative to slow's result",
    )

    # Cancel: the SDK sends notifications/cancelled when a request times out.
    mark = wire.mark()
    t_cancel = time.monotonic()
    try:
        await session.call_tool("slow", {"steps": 5, "delay_ms": 300}, read_timeout_seconds=0.45)
    except Exception:  # noqa: BLE001 - the timeout is what we want
        pass
    await session.call_tool("echo", {"text": "after the cancel"})
    echo_ms = (time.monotonic() - t_cancel) * 1000 - 450
    log = wire.since(mark)
    sent = [m for _, d, m in log if d == ">" and m.get("method") == "notifications/cancelled"]
    cancelled_id = sent[0].get("params", {}).get("requestId") if sent else None
    late = [m for _, d, m in log if d == "<" and "id" in m and m.get("id") == cancelled_id and "method" not in m]
    report(
        f"{p}/cancel-while-running",
        not late,
        f"after the SDK sent notifications/cancelled for slow (5 x 300 ms) at 450 ms: "
        f"{'a result for the cancelled request still arrived' if late else 'no result for the cancelled request'}, "
        f"and the next echo took {echo_ms:.0f} ms",
    )


def tail(errlog: Any) -> str:
    try:
        errlog.flush()
        errlog.seek(0)
        return "\n".join(errlog.read().splitlines()[-10:])
    except Exception:  # noqa: BLE001
        return "?"


async def main() -> int:
    if len(sys.argv) not in (4, 5):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    mcp_auth, resource, secret = sys.argv[1:4]
    gwlog = GatewayLog(sys.argv[4] if len(sys.argv) == 5 else None)
    with tempfile.TemporaryFile("w+") as errlog:  # the bridges' stderr
        await run(mcp_auth, resource, secret, gwlog, errlog)
        errs = tail(errlog).strip()
        if errs:
            print("# bridge stderr (last lines):\n" + errs, file=sys.stderr)
    print(f"# bridge_client.py: {passed} passed, {failed} failed", file=sys.stderr)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
