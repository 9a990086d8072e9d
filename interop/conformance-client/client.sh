#!/usr/bin/env bash
# The client the conformance harness runs: `client.sh <mcp-auth> <server-url>` (the harness
# appends the URL). It reads MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_PROTOCOL_VERSION and
# MCP_CONFORMANCE_CONTEXT, then does what an MCP client does in every auth scenario: list the
# tools and call `test-tool`, through `mcp-auth call`, which discovers the authorization server
# from the 401 and gets a token. Only what the scenario gives (client id, secret, key, workload
# JWT, the user's ID token and IdP client id) is passed.
# The SEP-2243 custom-header scenarios (http-custom-headers, http-invalid-tool-headers) need the
# tools/list and the calls in one client process: tools_client.py drives `mcp-auth bridge` for them.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MCP=$1
URL=${*: -1}
case "${MCP_CONFORMANCE_SCENARIO:-}" in
    http-custom-headers|http-invalid-tool-headers)
        exec python3 "$HERE/tools_client.py" "$MCP" "$URL"
        ;;
esac
VERSION=${MCP_CONFORMANCE_PROTOCOL_VERSION:-2025-11-25}
ctx() { python3 -c 'import json,os,sys; print(json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}").get(sys.argv[1], ""))' "$1"; }
# One token cache for the run, so the second call goes on with the first one's token (as one
# client process would), and steps up from it.
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
args=(--protocol-version "$VERSION" --token-cache "$cache/tokens.json")
case "${MCP_CONFORMANCE_SCENARIO:-}" in
    auth/client-credentials-basic)
        args+=(--client-id "$(ctx client_id)" --client-auth client_secret_basic)
        export MCP_AUTH_CLIENT_SECRET="$(ctx client_secret)"
        ;;
    auth/client-credentials-jwt)
        key="$cache/client-key.pem"
        ctx private_key_pem > "$key"
        args+=(--client-id "$(ctx client_id)" --client-auth private_key_jwt --private-key "$key"
               --signing-alg "$(ctx signing_algorithm)")
        ;;
    auth/pre-registration)
        args+=(--grant authorization_code --client-id "$(ctx client_id)")
        export MCP_AUTH_CLIENT_SECRET="$(ctx client_secret)"
        ;;
    auth/dpop|auth/dpop-nonce)
        # SEP-1932: a DPoP-bound token, a proof on every request, nonce retries.
        args+=(--grant authorization_code --dpop
               --client-metadata-url https://conformance-test.local/client-metadata.json)
        ;;
    auth/wif-jwt-bearer)
        # Workload identity federation (SEP-1933; profiles/workload-identity-federation.md):
        # the scenario's workload JWT, whose aud is the mock AS's issuer, as the platform token
        # in a file only this user can read. No client id: the context's is not used.
        (umask 077 && ctx valid_jwt > "$cache/workload-token")
        args+=(--workload-token "$cache/workload-token")
        ;;
    auth/enterprise-managed-authorization)
        # Enterprise-managed authorization (SEP-990; profiles/enterprise-managed-authorization.md):
        # the scenario's ID token in a file only this user can read, exchanged at the IdP its iss
        # names for an ID-JAG, redeemed at the mock AS as the context's client (client_secret_basic,
        # the only method the mock AS lists). The context's IdP client id is a public registration
        # (the mock IdP checks no client authentication, profile §1/§8 D10), so it is sent alone.
        (umask 077 && ctx idp_id_token > "$cache/id-token")
        args+=(--id-token "$cache/id-token" --idp-client-id "$(ctx idp_client_id)"
               --idp-client-auth none --client-id "$(ctx client_id)")
        export MCP_AUTH_CLIENT_SECRET="$(ctx client_secret)"
        ;;
    auth/*)
        # The suite's mock accepts this URL as a Client ID Metadata Document.
        args+=(--grant authorization_code
               --client-metadata-url https://conformance-test.local/client-metadata.json)
        ;;
esac
"$MCP" call "$URL" tools/list "${args[@]}" || exit 1
"$MCP" call "$URL" tools/call test-tool "${args[@]}"
