#!/usr/bin/env node
// The official MCP TypeScript SDK's enterprise-managed-authorization client against mcp-auth:
// @modelcontextprotocol/client's CrossAppAccessProvider (SEP-990, "Cross-App Access") with
// discoverAndRequestJwtAuthGrant for the exchange at the IdP (RFC 8693) and the provider's own
// jwt-bearer redemption at the MCP AS (RFC 7523), then tools/call whoami through mcp-auth gateway.
//
// usage: node sdk_client.mjs   (every input in the environment, set by client.py)
//   EMA_MCP_URL             the protected MCP endpoint (the gateway's resource)
//   EMA_IDP_ISSUER          the IdP's issuer (where the SDK discovers the IdP's token endpoint)
//   EMA_ID_TOKEN            the user's ID token, from a sign-in at the IdP
//   EMA_IDP_CLIENT_ID, EMA_IDP_CLIENT_SECRET   the client's registration at the IdP
//   EMA_AS_CLIENT_ID, EMA_AS_CLIENT_SECRET     the client's registration at the MCP AS
//   EMA_AS_ISSUER           the MCP AS issuer (the provider's expectedIssuer)
//
// Prints one JSON object on stdout: {ok, step, error, whoami, requests}, where requests lists
// every token request the SDK sent (URL, parameter names, and the values of grant_type,
// audience, resource, scope, requested_token_type, subject_token_type; never a token or secret).
import {
    Client,
    CrossAppAccessProvider,
    discoverAndRequestJwtAuthGrant,
    StreamableHTTPClientTransport
} from '@modelcontextprotocol/client';

const env = name => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
};

const requests = [];
const SHOWN = ['grant_type', 'audience', 'resource', 'scope', 'requested_token_type', 'subject_token_type', 'client_id'];

// A fetch that records the token requests (form bodies), then passes everything on.
const recordingFetch = async (url, init) => {
    const body = init?.body;
    if (init?.method === 'POST' && body && String(url).includes('/token')) {
        const params = new URLSearchParams(typeof body === 'string' ? body : body.toString());
        const shown = {};
        for (const [k, v] of params) if (SHOWN.includes(k)) shown[k] = v;
        const headers = new Headers(init.headers);
        requests.push({
            url: String(url),
            params: [...params.keys()],
            values: shown,
            auth: headers.get('authorization') ? headers.get('authorization').split(' ')[0] : null
        });
    }
    const res = await fetch(url, init);
    if (requests.length && String(url) === requests[requests.length - 1].url) requests[requests.length - 1].status = res.status;
    return res;
};

let step = 'setup';
const out = { ok: false };
try {
    const idpIssuer = env('EMA_IDP_ISSUER');
    const idToken = env('EMA_ID_TOKEN');
    const provider = new CrossAppAccessProvider({
        clientId: env('EMA_AS_CLIENT_ID'),
        clientSecret: env('EMA_AS_CLIENT_SECRET'),
        expectedIssuer: env('EMA_AS_ISSUER'),
        fetchFn: recordingFetch,
        assertion: async ctx => {
            step = 'exchange';
            out.context = { authorizationServerUrl: String(ctx.authorizationServerUrl), resourceUrl: String(ctx.resourceUrl), scope: ctx.scope };
            const grant = await discoverAndRequestJwtAuthGrant({
                idpUrl: idpIssuer,
                audience: ctx.authorizationServerUrl,
                resource: ctx.resourceUrl,
                idToken,
                clientId: env('EMA_IDP_CLIENT_ID'),
                clientSecret: env('EMA_IDP_CLIENT_SECRET'),
                scope: ctx.scope,
                fetchFn: ctx.fetchFn
            });
            out.exchange = { expiresIn: grant.expiresIn, scope: grant.scope };
            step = 'redemption';
            return grant.jwtAuthGrant;
        }
    });
    const transport = new StreamableHTTPClientTransport(new URL(env('EMA_MCP_URL')), {
        authProvider: provider,
        fetch: recordingFetch
    });
    const client = new Client({ name: 'ema-sdk-client', version: '1.0.0' });
    step = 'connect';
    await client.connect(transport);
    step = 'tools/call';
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    out.whoami = (result.content || []).filter(c => c.type === 'text').map(c => c.text).join('');
    out.ok = true;
    await client.close();
} catch (e) {
    out.error = String(e && e.message ? e.message : e);
}
out.step = step;
out.requests = requests;
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
