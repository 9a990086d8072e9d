"""A stand-in upstream MCP server that records what the gateway sends it.

usage: upstream.py PORT RECORD_FILE

Listens on 127.0.0.1:PORT. Every request is appended to RECORD_FILE as one JSON line
{"method", "path", "headers": [[name, value], ...]}, headers exactly as received (so a
header sent twice shows twice). A POST carrying a JSON-RPC request is answered with an
empty result for its id; a notification or response with 202; anything else with 405.
Stdlib only: it is the upstream, not a checker."""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, record_file = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
MAX_BODY = 1 << 20


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def record(self):
        entry = {"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()]}
        with lock, open(record_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def answer(self, status, body=b""):
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.record()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.answer(413)
            return
        try:
            message = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self.answer(400)
            return
        if isinstance(message, dict) and "method" in message and "id" in message:
            self.answer(200, json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": {"tools": []}}).encode())
        else:
            self.answer(202)

    def do_GET(self):
        self.record()
        self.answer(405)

    do_DELETE = do_GET

    def log_message(self, *args):  # quiet: the record file is the log
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Upstream)
print(f"listening http://127.0.0.1:{port}", flush=True)
server.serve_forever()
