#!/usr/bin/env bash
# Interop: an independent JWT library (PyJWT) verifies the access tokens of
# `mcp-auth as` against its published JWKS, for each signing algorithm.
#
# usage: interop/as/run.sh <path-to-mcp-auth-binary> <workdir>
# Prints PASS/FAIL lines and `interop: N passed, M failed`; exits 1 on failure, 2 on
# setup errors.
set -uo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 <mcp-auth> <workdir>" >&2; exit 2; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
MCP="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
WORK="$2"
PYDIR="$REPO/.interop/py-as"
mkdir -p "$WORK" || exit 2

stamp="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [[ "$(cat "$PYDIR/.stamp" 2>/dev/null)" != "$stamp" ]]; then
    rm -rf "$PYDIR" && mkdir -p "$PYDIR"
    python3 -m pip install --quiet --disable-pip-version-check --no-input --target "$PYDIR" -r "$HERE/requirements.txt" >&2 \
        || { echo "run.sh: installing PyJWT failed" >&2; exit 2; }
    echo "$stamp" > "$PYDIR/.stamp"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
passed=0; failed=0
for alg in EdDSA ES256 RS256; do
    dir="$WORK/$alg"; rm -rf "$dir"; mkdir -p "$dir"
    port=$(free_port)
    issuer="http://127.0.0.1:$port/as"
    printf 'signing_alg = "%s"\n' "$alg" > "$dir/config.toml"
    common=(--config "$dir/config.toml" --data-dir "$dir/data" --issuer "$issuer" --listen "127.0.0.1:$port" --resource "http://127.0.0.1:3000/mcp mcp:read")
    secret=$("$MCP" as client add --id interop --scope mcp:read --json "${common[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])') \
        || { echo "run.sh: client add failed" >&2; exit 2; }
    "$MCP" as "${common[@]}" >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1)
        break
    except Exception:
        time.sleep(0.1)
PY
    out=$(PYTHONPATH="$PYDIR" python3 "$HERE/verify_tokens.py" "$issuer" interop "$secret" "http://127.0.0.1:3000/mcp" "$alg" 2>&1)
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
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
