#!/usr/bin/env bash
# Interop: an independent OAuth client (npm oauth4webapi) and JWT library (npm jose), with
# headless Chromium (playwright-core + Debian's chromium) on the login and consent pages,
# against `mcp-auth as`. See README.md in this folder.
#
# usage: interop/oauth/run.sh <path-to-mcp-auth-binary> <workdir>
# Prints PASS/FAIL lines and last `interop: N passed, M failed`; exits 1 on failure, 2 on
# setup errors. Screenshots: <workdir>/flows/login.png and <workdir>/flows/consent.png.
set -uo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"
interop_args "$@"
oauth_setup || exit 2
interop_traps

dir="$WORK/flows"
rm -rf "$dir" && mkdir -p "$dir"
read -r asport cbport < <(free_ports 2)
issuer="http://127.0.0.1:$asport"
resource="https://mcp.interop.test/mcp"
redirect="http://127.0.0.1:$cbport/callback"
common=(--data-dir "$dir/data" --issuer "$issuer" --listen "127.0.0.1:$asport" --resource "$resource mcp:read mcp:write")

setup_step() { # runs a setup command, logging it; exits 2 when it fails
    echo "+ $*" >>"$dir/setup.log"
    "$@" >>"$dir/setup.log" 2>&1 || { echo "run.sh: setup failed: $*" >&2; tail -20 "$dir/setup.log" >&2; exit 2; }
}
setup_step "$MCP" as client add --id interop-public --public --name "oauth4webapi interop" \
    --scope mcp:read --scope mcp:write --grant authorization_code --grant refresh_token \
    --redirect-uri "$redirect" --json "${common[@]}"
kid=$("$NODE" "$HERE/keys.mjs" "$dir/cc-key") || { echo "run.sh: key generation failed" >&2; exit 2; }
setup_step "$MCP" as client add --id interop-cc --name "private_key_jwt interop" --scope mcp:read \
    --grant client_credentials --jwks "$dir/cc-key.jwks.json" --json "${common[@]}"
echo 'correct horse battery staple' | setup_step "$MCP" as user add --username alice "${common[@]}"
echo 'another horse battery staple' | setup_step "$MCP" as user add --username bob "${common[@]}"
start_as "$dir" "$asport" "$resource mcp:read mcp:write" || exit 2

cat >"$dir/config.json" <<EOF
{
  "issuer": "$issuer",
  "resource": "$resource",
  "workdir": "$dir",
  "cbPort": $cbport,
  "redirectUri": "$redirect",
  "publicClientId": "interop-public",
  "ccClientId": "interop-cc",
  "ccKeyFile": "$dir/cc-key.private.jwk",
  "ccKid": "$kid",
  "user": { "username": "alice", "password": "correct horse battery staple" },
  "denyUser": { "username": "bob", "password": "another horse battery staple" }
}
EOF
echo "# mcp-auth as at $issuer (data $dir/data, log $dir/as.stderr); redirect_uri $redirect"
run_checks flows.mjs "$dir" "$NODE" "$HERE/flows.mjs" "$dir/config.json"
