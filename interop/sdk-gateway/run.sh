#!/usr/bin/env bash
# Interop: the official MCP SDKs (Python `mcp` from PyPI, TypeScript `@modelcontextprotocol/sdk`
# from npm) call the demo tools through the mcp-auth gateway with tokens from the mcp-auth
# authorization server, all started by `mcp-auth up`. See README.md.
#
# usage: interop/sdk-gateway/run.sh <path-to-mcp-auth-binary> <workdir>
#
# Installs the SDKs when their pins changed (Python into <repo>/.interop/py-sdk-gateway, npm
# into interop/sdk-gateway/node_modules; both stamped), starts `mcp-auth up` on ephemeral ports
# with a fresh data directory <workdir>/data, runs client.py then client.mjs, then
# bridge_client.py (the Python SDK's stdio client driving `mcp-auth bridge`), and prints their
# PASS/FAIL lines and, last, `interop: N passed, M failed`. Exits 0 if all passed, 1 on any
# failure, 2 on setup errors. The server's output stays in <workdir>/up.stdout, up.stderr.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../common.sh"
interop_args "$@"
PYDIR="$REPO/.interop/py-sdk-gateway"

need python3 node npm
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" -ge 18 ]] || { echo "run.sh: @modelcontextprotocol/sdk needs Node >= 18, found $(node --version)" >&2; exit 2; }

# --- dependencies (idempotent: reinstalled only when the pins or the interpreter change) -------
pip_install "$PYDIR" "$HERE/requirements.txt" || exit 2  # mcp
npm_install "$HERE" || exit 2  # @modelcontextprotocol/sdk
py_sdk="$(PYTHONPATH="$PYDIR" python3 -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null)" \
    || { echo "run.sh: the mcp package does not import from $PYDIR" >&2; exit 2; }
ts_sdk="$(node -p 'require(process.argv[1]).version' "$HERE/node_modules/@modelcontextprotocol/sdk/package.json")" || exit 2
echo "setup: Python mcp $py_sdk ($(python3 --version)), @modelcontextprotocol/sdk $ts_sdk (node $(node --version))" >&2

# --- the server under test ----------------------------------------------------------------------
rm -rf "$WORK/data"
interop_traps
# The gateway runs with policy.toml: `announce` hidden from `demo`, `echo` refused for some texts.
start "$WORK/up.stdout" "$WORK/up.stderr" "$MCP" up --data-dir "$WORK/data" --listen 127.0.0.1:0 \
    --as-listen 127.0.0.1:0 --demo-listen 127.0.0.1:0 --idp-listen 127.0.0.1:0 \
    --gateway-config "$HERE/policy.toml"
pid=$LAST_PID

resource="" issuer="" secret=""
for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "run.sh: mcp-auth up exited early; its output:" >&2
        tail -n 20 "$WORK/up.stdout" "$WORK/up.stderr" >&2
        exit 2
    fi
    resource="$(grep -m1 'MCP endpoint (protected)' "$WORK/up.stdout" | awk '{print $NF}')"
    issuer="$(grep -m1 'authorization server' "$WORK/up.stdout" | awk '{print $NF}')"
    secret="$(grep -m1 -E '^[[:space:]]*clients' "$WORK/up.stdout" | sed -nE 's/.*secret ([^ ]+).*/\1/p')"
    [[ -n "$resource" && -n "$issuer" && -n "$secret" ]] && break
    sleep 0.1
done
if [[ -z "$resource" || -z "$issuer" || -z "$secret" ]]; then
    echo "run.sh: no complete banner from mcp-auth up within 30 s (resource='$resource' issuer='$issuer'); its output:" >&2
    tail -n 20 "$WORK/up.stdout" "$WORK/up.stderr" >&2
    exit 2
fi
# Ready when the protected resource metadata and the AS metadata answer.
prm="${resource%%/mcp}/.well-known/oauth-protected-resource/mcp"
wait_http "$prm" ok "$pid" "$WORK/up.stderr" || exit 2
wait_http "$issuer/.well-known/oauth-authorization-server" ok "$pid" "$WORK/up.stderr" || exit 2
echo "run.sh: mcp-auth up pid $pid, MCP endpoint $resource, authorization server $issuer" >&2

# --- the clients ------------------------------------------------------------------------------
# Each prints PASS/FAIL lines on stdout (also kept in $WORK for counting); a client that dies
# without reporting a failure counts as one failure.
run_client() { # label out-file command...
    local label=$1 out=$2 rc
    shift 2
    timeout 300 "$@" | tee "$out"
    rc=${PIPESTATUS[0]}
    if [[ $rc -ne 0 ]] && ! grep -q '^FAIL ' "$out"; then
        echo "FAIL $label: exited with status $rc without reporting a failure (stderr above)" | tee -a "$out"
    fi
}
run_client py/client "$WORK/py.out" \
    env PYTHONPATH="$PYDIR${PYTHONPATH:+:$PYTHONPATH}" python3 "$HERE/client.py" "$resource" "$issuer" "$secret"
run_client ts/client "$WORK/ts.out" node "$HERE/client.mjs" "$resource" "$issuer" "$secret"
# The SDK starts `$MCP bridge $resource --client-id demo` itself (secret in its environment);
# up.stderr lets it check what the bridge did over HTTP (401, token, step-up).
run_client py/bridge "$WORK/bridge.out" \
    env PYTHONPATH="$PYDIR${PYTHONPATH:+:$PYTHONPATH}" python3 "$HERE/bridge_client.py" "$MCP" "$resource" "$secret" "$WORK/up.stderr"

if ! kill -0 "$pid" 2>/dev/null; then
    echo "FAIL server-alive: mcp-auth up exited during the run" | tee -a "$WORK/ts.out"
    tail -n 20 "$WORK/up.stderr" >&2
fi

p=$(cat "$WORK/py.out" "$WORK/ts.out" "$WORK/bridge.out" | grep -c '^PASS ')
f=$(cat "$WORK/py.out" "$WORK/ts.out" "$WORK/bridge.out" | grep -c '^FAIL ')
if [[ $p -eq 0 && $f -eq 0 ]]; then f=1; echo "FAIL run: no check reported"; fi
echo "interop: $p passed, $f failed"
[[ $f -eq 0 ]] || exit 1
exit 0
