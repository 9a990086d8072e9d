#!/usr/bin/env bash
# Interop: an independent JWT library (PyJWT) verifies the access tokens of
# `mcp-auth as` against its published JWKS, for each signing algorithm.
#
# usage: interop/as/run.sh <path-to-mcp-auth-binary> <workdir>
# Prints PASS/FAIL lines and `interop: N passed, M failed`; exits 1 on failure, 2 on
# setup errors.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../common.sh"
interop_args "$@"
PYDIR="$REPO/.interop/py-as"
pip_install "$PYDIR" "$HERE/requirements.txt" || exit 2
interop_traps

passed=0; failed=0
for alg in EdDSA ES256 RS256; do
    dir="$WORK/$alg"; rm -rf "$dir"; mkdir -p "$dir"
    port=$(free_ports 1)
    issuer="http://127.0.0.1:$port/as"
    printf 'signing_alg = "%s"\n' "$alg" > "$dir/config.toml"
    common=(--config "$dir/config.toml" --data-dir "$dir/data" --issuer "$issuer" --listen "127.0.0.1:$port" --resource "http://127.0.0.1:3000/mcp mcp:read")
    secret=$("$MCP" as client add --id interop --scope mcp:read --json "${common[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])') \
        || { echo "run.sh: client add failed" >&2; exit 2; }
    start "$dir/stdout" "$dir/stderr" "$MCP" as "${common[@]}"
    pid=$LAST_PID
    wait_http "http://127.0.0.1:$port/healthz" ok "$pid" "$dir/stderr"
    out=$(PYTHONPATH="$PYDIR" python3 "$HERE/verify_tokens.py" "$issuer" interop "$secret" "http://127.0.0.1:3000/mcp" "$alg" 2>&1)
    stop_pid "$pid"
    while read -r line; do
        case "$line" in
            PASS*) passed=$((passed + 1)); echo "$line [$alg]" ;;
            FAIL*) failed=$((failed + 1)); echo "$line [$alg]" ;;
            *) [[ -n "$line" ]] && echo "  $line" ;;
        esac
    done <<<"$out"
    if ! grep -q '^PASS' <<<"$out"; then failed=$((failed + 1)); echo "FAIL no check ran [$alg]"; tail -5 "$dir/stderr"; fi
done
echo "interop: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
