"""A minimal MCP Streamable HTTP client (protocol 2025-11-25): initialize, notifications/initialized,
tools/list, tools/call, with the access token as Bearer (or DPoP with a proof per request)."""

import json

import requests

from . import keys as K
from .common import b64u

PROTOCOL = "2025-11-25"


def _messages(r):
    """The JSON-RPC messages of a response: a JSON body or an SSE stream of `data:` events."""
    ctype = r.headers.get("Content-Type", "")
    if "text/event-stream" in ctype:
        out, data = [], []
        for line in r.text.splitlines():
            if line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif line == "" and data:
                out.append("\n".join(data))
                data = []
        if data:
            out.append("\n".join(data))
        return [json.loads(d) for d in out if d.strip()]
    if r.text.strip():
        v = r.json()
        return v if isinstance(v, list) else [v]
    return []


class McpSession:
    def __init__(self, url, token, token_type="Bearer", dpop_key=None):
        self.url, self.token, self.token_type, self.dpop_key = url, token, token_type, dpop_key
        self.session_id = None
        self.next_id = 1
        self.last = None

    def _headers(self):
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
             "MCP-Protocol-Version": PROTOCOL}
        if self.session_id:
            h["Mcp-Session-Id"] = self.session_id
        if self.dpop_key is not None:
            import hashlib
            ath = b64u(hashlib.sha256(self.token.encode()).digest())
            proof, _ = K.dpop_proof(self.dpop_key, "POST", self.url, ath=ath)
            h["DPoP"] = proof
            h["Authorization"] = f"DPoP {self.token}"
        else:
            h["Authorization"] = f"{self.token_type} {self.token}"
        return h

    def post(self, msg):
        r = requests.post(self.url, data=json.dumps(msg), headers=self._headers(), timeout=30)
        self.last = r
        if r.headers.get("Mcp-Session-Id"):
            self.session_id = r.headers["Mcp-Session-Id"]
        return r

    def request(self, method, params=None):
        """(HTTP response, the JSON-RPC response message or None)."""
        mid = self.next_id
        self.next_id += 1
        r = self.post({"jsonrpc": "2.0", "id": mid, "method": method, "params": params or {}})
        if r.status_code != 200:
            return r, None
        for m in _messages(r):
            if m.get("id") == mid:
                return r, m
        return r, None

    def initialize(self):
        r, m = self.request("initialize", {"protocolVersion": PROTOCOL, "capabilities": {},
                                           "clientInfo": {"name": "ema-suite", "version": "1"}})
        if m is not None and "result" in m:
            self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return r, m


def tool_text(m):
    """The text content of a tools/call result."""
    try:
        return "".join(c.get("text", "") for c in m["result"]["content"] if c.get("type") == "text")
    except Exception:
        return ""
