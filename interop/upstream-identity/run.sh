#!/usr/bin/env bash
# Interop: the identity the gateway mints for its upstream (issue 20), verified by an
# independent JWT library. `mcp-auth as` issues a client_credentials token; `mcp-auth gateway`
# with `[upstream_identity]` forwards a call to a recording upstream (upstream.py); verify.py
# checks what the upstream received with PyJWT against the gateway's JWKS, and again with
# `cryptography` alone. Two gateways: EdDSA with every default (`Authorization: Bearer`), and
# ES256 with its own issuer, audience, lifetime and header. See README.md.
#
# usage: interop/upstream-identity/run.sh <path-to-mcp-auth-binary> <workdir>
# Prints PASS/FAIL lines and last `interop: N passed, M failed`; exits 1 on failure, 2 on setup
# errors. Everything runs under <workdir>/upstream-identity (the logs of each process there).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../common.sh"
interop_args "$@"
PYDIR="$REPO/.interop/py-upstream-identity"

need python3
pip_install "$PYDIR" "$HERE/requirements.txt" || exit 2
echo "# PyJWT $(PYTHONPATH="$PYDIR" python3 -c 'import jwt; print(jwt.__version__)'), cryptography $(PYTHONPATH="$PYDIR" python3 -c 'import cryptography; print(cryptography.__version__)') ($(python3 --version)); $("$MCP" --version 2>/dev/null)"

dir="$WORK/upstream-identity"
rm -rf "$dir" && mkdir -p "$dir/as" "$dir/up" "$dir/gw-eddsa" "$dir/gw-es256" || exit 2
interop_traps

read -r as_port up_port gw1_port gw2_port < <(free_ports 4)
[[ -n "$gw2_port" ]] || setup_fail "no free ports"
as_issuer="http://127.0.0.1:$as_port"
upstream="http://127.0.0.1:$up_port/mcp"
gw1="http://127.0.0.1:$gw1_port"
gw2="http://127.0.0.1:$gw2_port"

# --- the authorization server, with one client_credentials client for both gateways' resources
as_args=(--data-dir "$dir/as/data" --issuer "$as_issuer" --listen "127.0.0.1:$as_port"
    --resource "$gw1/mcp mcp:read" --resource "$gw2/mcp mcp:read")
secret=$("$MCP" as client add --id upstream-identity --name "upstream identity interop" --scope mcp:read \
    --grant client_credentials --json "${as_args[@]}" 2>"$dir/as/setup.stderr" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])') \
    || setup_fail "as client add" "$dir/as/setup.stderr"
start "$dir/as/stdout" "$dir/as/stderr" "$MCP" as "${as_args[@]}"; as_pid=$LAST_PID
start "$dir/up/stdout" "$dir/up/stderr" python3 "$HERE/upstream.py" "$up_port" "$dir/up/record.jsonl"; up_pid=$LAST_PID
wait_http "$as_issuer/.well-known/oauth-authorization-server" ok "$as_pid" "$dir/as/stdout" "$dir/as/stderr" || exit 2
wait_http "$upstream" any "$up_pid" "$dir/up/stderr" || exit 2

# --- the gateways (they discover the AS at start, so they come second) -------------------------
# EdDSA, every default: iss = the gateway's resource, aud = the upstream URL, 60 s,
# `Authorization: Bearer`. The key file is generated at start (mode 0600).
cat >"$dir/gw-eddsa/gateway.toml" <<TOML
upstream = "$upstream"
resource = "$gw1/mcp"
issuers = ["$as_issuer"]
listen = "127.0.0.1:$gw1_port"
allow_bearer = true

[upstream_identity]
key_file = "$dir/gw-eddsa/upstream-identity.pem"
TOML
# ES256 with every key set: another header carries the bare JWT.
cat >"$dir/gw-es256/gateway.toml" <<TOML
upstream = "$upstream"
resource = "$gw2/mcp"
issuers = ["$as_issuer"]
listen = "127.0.0.1:$gw2_port"
allow_bearer = true

[upstream_identity]
key_file = "$dir/gw-es256/upstream-identity.pem"
alg = "ES256"
issuer = "https://gateway.interop.example"
audience = "urn:interop:upstream"
lifetime = 300
header = "X-Upstream-Identity"
TOML
start "$dir/gw-eddsa/stdout" "$dir/gw-eddsa/stderr" "$MCP" gateway --config "$dir/gw-eddsa/gateway.toml"; gw1_pid=$LAST_PID
start "$dir/gw-es256/stdout" "$dir/gw-es256/stderr" "$MCP" gateway --config "$dir/gw-es256/gateway.toml"; gw2_pid=$LAST_PID
wait_http "$gw1/readyz" ok "$gw1_pid" "$dir/gw-eddsa/stderr" || exit 2
wait_http "$gw2/readyz" ok "$gw2_pid" "$dir/gw-es256/stderr" || exit 2
for f in "$dir/gw-eddsa/upstream-identity.pem" "$dir/gw-es256/upstream-identity.pem"; do
    [[ "$(stat -c %a "$f" 2>/dev/null)" == 600 ]] || setup_fail "the gateway did not create $f with mode 600 ($(stat -c %a "$f" 2>&1))"
done

# --- the checks -----------------------------------------------------------------------------
config() { # label gateway alg issuer audience lifetime header
    cat <<JSON
{ "label": "$1", "as_issuer": "$as_issuer", "client_id": "upstream-identity", "client_secret": "$secret",
  "resource": "$2/mcp", "jwks_url": "$2/.well-known/jwks.json", "alg": "$3", "issuer": "$4", "audience": "$5",
  "lifetime": $6, "header": "$7", "scope": "mcp:read", "record": "$dir/up/record.jsonl" }
JSON
}
config EdDSA "$gw1" EdDSA "$gw1/mcp" "$upstream" 60 authorization >"$dir/eddsa.json"
config ES256 "$gw2" ES256 "https://gateway.interop.example" "urn:interop:upstream" 300 x-upstream-identity >"$dir/es256.json"
echo "# as $as_issuer, upstream $upstream, gateways $gw1/mcp (EdDSA, defaults), $gw2/mcp (ES256, X-Upstream-Identity); logs in $dir"
run_checks verify.py "$dir" env PYTHONPATH="$PYDIR${PYTHONPATH:+:$PYTHONPATH}" \
    python3 "$HERE/verify.py" "$dir/eddsa.json" "$dir/es256.json"
