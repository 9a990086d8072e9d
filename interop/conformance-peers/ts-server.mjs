// An MCP server on the official TypeScript SDK (@modelcontextprotocol/sdk), set up the way the
// SDK's examples (examples/server/simpleStreamableHttp) and docs set up a resource server:
// Express from createMcpExpressApp, one StreamableHTTPServerTransport per session, one demo
// tool, requireBearerAuth in front of POST/GET/DELETE /mcp and mcpAuthMetadataRouter for the
// RFC 9728 metadata. The token verifier is the deployer's part: here the usual one for JWT
// access tokens, jose's createRemoteJWKSet + jwtVerify with the issuer and audience (the
// server's URL) checked, its errors turned into the SDK's InvalidTokenError.
//
// usage: node ts-server.mjs <port> <issuer>          (protected: trusts <issuer>)
//        node ts-server.mjs <port> --no-auth         (behind mcp-auth gateway)
// Prints `listening <url>` when ready. The resource is http://127.0.0.1:<port>/mcp.
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { getOAuthProtectedResourceMetadataUrl, mcpAuthMetadataRouter } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { z } from 'zod';

const [port, issuer] = [Number(process.argv[2]), process.argv[3]];
if (!port || !issuer) {
    console.error('usage: node ts-server.mjs <port> <issuer>|--no-auth');
    process.exit(2);
}
const noAuth = issuer === '--no-auth';
const resource = new URL(`http://127.0.0.1:${port}/mcp`);
const SCOPES = ['mcp:read'];

function newServer() {
    const server = new McpServer({ name: 'conformance-peer-ts', version: '1.0.0' });
    server.registerTool('echo', { description: 'Echoes its text', inputSchema: { text: z.string() } }, async ({ text }) => ({
        content: [{ type: 'text', text }]
    }));
    return server;
}

const app = createMcpExpressApp(); // host 127.0.0.1: the SDK's DNS-rebinding protection
let auth = (req, res, next) => next();
if (!noAuth) {
    // RFC 8414 metadata of the issuer (the checker's issuer has no authorization_endpoint, which
    // the SDK client's discoverAuthorizationServerMetadata insists on, so it is read directly).
    const answer = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
    if (!answer.ok) throw new Error(`${issuer}: metadata answered ${answer.status}`);
    const oauthMetadata = await answer.json();
    if (!oauthMetadata?.jwks_uri) throw new Error(`no jwks_uri in the metadata of ${issuer}`);
    const jwks = createRemoteJWKSet(new URL(oauthMetadata.jwks_uri));
    const verifier = {
        async verifyAccessToken(token) {
            let payload;
            try {
                ({ payload } = await jwtVerify(token, jwks, { issuer: oauthMetadata.issuer, audience: resource.href }));
            } catch (e) {
                throw new InvalidTokenError(e?.code ?? 'invalid token');
            }
            return {
                token,
                clientId: String(payload.client_id ?? payload.sub ?? ''),
                scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
                expiresAt: payload.exp,
                resource,
                extra: { sub: payload.sub }
            };
        }
    };
    app.use(mcpAuthMetadataRouter({ oauthMetadata, resourceServerUrl: resource, scopesSupported: SCOPES, resourceName: 'conformance peer (TypeScript SDK)' }));
    auth = requireBearerAuth({
        verifier,
        requiredScopes: SCOPES,
        resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(resource),
        expectedResource: resource
    });
}

const transports = new Map();
app.post('/mcp', auth, async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    let transport = sessionId ? transports.get(sessionId) : undefined;
    if (!transport) {
        if (sessionId || !isInitializeRequest(req.body)) {
            res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
            return;
        }
        transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            onsessioninitialized: id => transports.set(id, transport)
        });
        transport.onclose = () => transport.sessionId && transports.delete(transport.sessionId);
        await newServer().connect(transport);
    }
    await transport.handleRequest(req, res, req.body);
});
const bySession = async (req, res) => {
    const transport = transports.get(req.headers['mcp-session-id']);
    if (!transport) {
        res.status(400).send('Invalid or missing session ID');
        return;
    }
    await transport.handleRequest(req, res);
};
app.get('/mcp', auth, bySession);
app.delete('/mcp', auth, bySession);

app.listen(port, '127.0.0.1', err => {
    if (err) {
        console.error(err);
        process.exit(1);
    }
    console.log(`listening ${resource.href}${noAuth ? ' (no auth)' : ` (trusting ${issuer})`}`);
});
