#!/usr/bin/env bash
# Interop: an independent Python client and black-box test suite, written from
# profiles/workload-identity-federation.md alone, runs the profile against `mcp-auth as`.
# client.py serves the platform issuers (Kubernetes-shaped discovery, GitHub-shaped jwks_uri,
# SPIFFE bundle endpoint, edge-case key sets) on loopback, writes the AS's configuration,
# starts `mcp-auth as`, `mcp-auth demo-server` and `mcp-auth gateway` (for the end-to-end
# client checks), mints assertions with PyJWT and checks every answer.
#
# usage: interop/wif-profile/run.sh <path-to-mcp-auth-binary> <workdir>
#
# Prints client.py's PASS/FAIL lines and `interop: N passed, M failed`; exits with client.py's
# status (1 on failure), or 2 on setup errors. The AS's configuration (as.toml), data directory
# and logs stay in <workdir>. Takes about 70 s (key-rotation and cache checks wait for
# the profile's 60 s windows).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../common.sh"
interop_args "$@"
PYDIR="$REPO/.interop/py-wif-profile"

need python3
pip_install "$PYDIR" "$HERE/requirements.txt" || exit 2

# client.py starts and stops its own processes (it needs its ports in the AS's configuration);
# it stops them on exit, SIGINT and SIGTERM.
interop_traps
PYTHONPATH="$PYDIR${PYTHONPATH:+:$PYTHONPATH}" python3 "$HERE/client.py" "$MCP" "$WORK" 2> >(tee "$WORK/client.stderr" >&2)
rc=$?
if [[ $rc -ne 0 && $rc -ne 1 ]]; then
    echo "run.sh: client.py exited with $rc; logs in $WORK (as.stderr, gateway.stderr, client.stderr)" >&2
    [[ $rc -eq 2 ]] || rc=2
fi
exit "$rc"
