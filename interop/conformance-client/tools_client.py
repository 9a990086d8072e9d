#!/usr/bin/env python3
"""The conformance client for the SEP-2243 custom-header scenarios (`http-custom-headers`,
`http-invalid-tool-headers`): one `mcp-auth bridge` process, driven over stdio as an MCP client
drives a server: `tools/list`, then `tools/call` of the tools that list returned. The bridge
drops the tools whose `x-mcp-header` annotations are invalid from that list and mirrors the
annotated arguments of every call into `Mcp-Param-*` headers; this script only picks what to call.

usage: tools_client.py <mcp-auth> <server-url>   (client.sh runs it for those scenarios)

- http-custom-headers: calls each tool of the context's `toolCalls` that was listed, with its
  arguments;
- http-invalid-tool-headers: calls every listed tool, with a placeholder for each required
  argument (the suite checks that only the valid one is called).
Exits 1 when the bridge fails or answers a request with an error.
"""
import json
import os
import subprocess
import sys

STATELESS = "2026-07-28"


def main() -> int:
    mcp, url = sys.argv[1], sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    version = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION", STATELESS)
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    bridge = subprocess.Popen([mcp, "bridge", url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    next_id = 0

    def request(method: str, params: dict) -> dict:
        nonlocal next_id
        next_id += 1
        if version >= STATELESS:
            params = dict(params, _meta={
                "io.modelcontextprotocol/protocolVersion": version,
                "io.modelcontextprotocol/clientCapabilities": {}})
        send({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params})
        for line in bridge.stdout:
            message = json.loads(line)
            if message.get("id") == next_id and ("result" in message or "error" in message):
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
        raise RuntimeError(f"{method}: the bridge ended without an answer")

    def send(message: dict) -> None:
        bridge.stdin.write(json.dumps(message) + "\n")
        bridge.stdin.flush()

    try:
        if version < STATELESS:
            request("initialize", {"protocolVersion": version, "capabilities": {},
                                   "clientInfo": {"name": "tools_client", "version": "1"}})
            send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        listed = {t["name"]: t for t in request("tools/list", {}).get("tools", [])}
        print(f"listed: {sorted(listed)}", file=sys.stderr)
        if scenario == "http-custom-headers":
            calls = [(c["name"], c.get("arguments", {})) for c in context.get("toolCalls", [])
                     if c["name"] in listed]
        else:
            calls = [(name, placeholders(tool)) for name, tool in listed.items()]
        for name, arguments in calls:
            request("tools/call", {"name": name, "arguments": arguments})
            print(f"called: {name}", file=sys.stderr)
    except (RuntimeError, json.JSONDecodeError, BrokenPipeError) as e:
        print(f"tools_client: {e}", file=sys.stderr)
        bridge.kill()
        bridge.wait()
        return 1
    bridge.stdin.close()
    return 1 if bridge.wait() != 0 else 0


def placeholders(tool: dict) -> dict:
    """A value for every required top-level argument, by its declared type."""
    schema = tool.get("inputSchema") or {}
    properties = schema.get("properties") or {}
    samples = {"string": "us-west1", "integer": 1, "number": 1, "boolean": True,
               "array": [], "object": {}}
    return {name: samples.get((properties.get(name) or {}).get("type"), "x")
            for name in schema.get("required", [])}


if __name__ == "__main__":
    sys.exit(main())
