#!/usr/bin/env bash
# Harness self-test only: a stand-in for the `mcp-auth sig sign|verify` CLI
# contract, implemented by one of the peers (FAKE_MCP_AUTH_PEER=node|python,
# default node). `run.sh fake-mcp-auth.sh WORKDIR` then runs the full matrix
# peer-to-peer (python <-> node, and the chosen peer against itself), which
# checks run.sh and both peer scripts without the Rust CLI.
#
#   fake-mcp-auth.sh sig sign --key K --alg A --label L --components C [--created N] [--nonce X]
#                    [--keyid K] [--tag T] [--content-digest D] FILE      -> signed message on stdout
#   fake-mcp-auth.sh sig verify --key K --alg A [--label L] [--require-digest] FILE
#                    -> exit 0 valid, 1 invalid (reason on stdout), 2 usage
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "${FAKE_MCP_AUTH_PEER:-node}" in
    node) PEER=(node "$HERE/peer.mjs") ;;
    python) PEER=(python3 "$HERE/peer.py") ;;
    *) echo "FAKE_MCP_AUTH_PEER must be node or python" >&2; exit 2 ;;
esac

[[ "${1:-}" == sig ]] || { echo "usage: $0 sig sign|verify ..." >&2; exit 2; }
cmd="${2:-}"
shift 2 || exit 2
args=()
file=""
require_digest=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --content-digest) args+=(--digest "$2"); shift 2 ;;
        --require-digest) require_digest=1; shift ;;
        --json | --target-uri) echo "fake-mcp-auth: $1 not supported" >&2; exit 2 ;;
        --*) [[ $# -ge 2 ]] || { echo "fake-mcp-auth: $1 needs a value" >&2; exit 2; }
             args+=("$1" "$2"); shift 2 ;;
        *) [[ -z "$file" ]] || { echo "fake-mcp-auth: one FILE only" >&2; exit 2; }
           file="$1"; shift ;;
    esac
done
[[ -n "$file" ]] || { echo "fake-mcp-auth: FILE missing" >&2; exit 2; }

case "$cmd" in
    sign)
        exec "${PEER[@]}" sign "${args[@]}" --in "$file" --out - ;;
    verify)
        if [[ $require_digest == 1 ]] && ! grep -qi '^content-digest:' "$file"; then
            echo "invalid: no Content-Digest"
            exit 1
        fi
        "${PEER[@]}" verify "${args[@]}" --in "$file" 2>&1
        exit $? ;;
    *) echo "usage: $0 sig sign|verify ..." >&2; exit 2 ;;
esac
