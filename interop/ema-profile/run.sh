#!/usr/bin/env bash
# Interop: an independent Python client and black-box test suite, written from
# profiles/enterprise-managed-authorization.md (with README.md, docs/*.md and `--help`), runs the
# profile against two `mcp-auth as` processes: the enterprise IdP (Appendix A.1) and the MCP
# authorization server (Appendix A.2), with `mcp-auth gateway` in front of `mcp-auth demo-server`.
# client.py signs users in at the IdP through its HTML pages, exchanges their ID tokens for
# ID-JAGs, redeems them, calls tools, mints its own ID-JAGs for trust entries whose keys it holds,
# and checks every black-box requirement (EMA-IDP-n, EMA-AS-n). sdk_client.mjs does the exchange
# and the redemption with the official MCP TypeScript SDK (@modelcontextprotocol/client).
#
# usage: interop/ema-profile/run.sh <path-to-mcp-auth-binary> <workdir>
#
# Prints client.py's PASS/FAIL lines and `interop: N passed, M failed`; exits with client.py's
# status (1 on failure), or 2 on setup errors. Configurations (as.toml, idp.toml, gateway.toml),
# data directories and logs stay in <workdir>. Takes about 70 s (the key-set refetch checks wait
# for the profile's 60 s window; the start-up refusals and the IdP checks fill it).
# The expired-ID-token checks run the IdP briefly under libfaketime (Debian's faketime, installed
# with apt-get when missing).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../common.sh"
interop_args "$@"
PYDIR="$REPO/.interop/py-ema-profile"

need python3 node npm
# The expired-ID-token checks run the IdP briefly with a shifted clock (libfaketime).
apt_ensure faketime faketime || { echo "run.sh: faketime could not be installed" >&2; exit 2; }
pip_install "$PYDIR" "$HERE/requirements.txt" || exit 2
npm_install "$HERE" "" "$(node --version)" || exit 2  # @modelcontextprotocol/client, for sdk_client.mjs

# client.py starts and stops its own processes (it needs their ports in the configurations);
# it stops them on exit, SIGINT and SIGTERM.
interop_traps
PYTHONPATH="$PYDIR${PYTHONPATH:+:$PYTHONPATH}" python3 "$HERE/client.py" "$MCP" "$WORK" 2> >(tee "$WORK/client.stderr" >&2)
rc=$?
if [[ $rc -ne 0 && $rc -ne 1 ]]; then
    echo "run.sh: client.py exited with $rc; logs in $WORK (as.stderr, idp.stderr, gateway.stderr, client.stderr)" >&2
    [[ $rc -eq 2 ]] || rc=2
fi
exit "$rc"
