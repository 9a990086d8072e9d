// The token-injecting hop: a reverse proxy (node:http only) between the conformance suite,
// which cannot authenticate, and `mcp-auth gateway`. It adds `Authorization: Bearer <token>`
// to every request and otherwise passes the exchange through untouched:
//   - method, path and query as received;
//   - every request header as received (names, order, repeats; Host included), minus any
//     Authorization the client sent (the suite sends none);
//   - the request body streamed through as it arrives;
//   - the response status, every response header as received, and the body written chunk by
//     chunk as it arrives (SSE responses and long-lived GET streams included; nothing is
//     buffered). When either side closes, the other side is closed too.
//
// The token comes from the authorization server with the client_credentials grant
// (client_secret_basic) and is fetched again shortly before it expires.
//
// usage: node inject.mjs <config.json>
//   config: { "listen": 4100, "target": "http://127.0.0.1:4200",
//             "tokenEndpoint": "http://127.0.0.1:4300/token", "clientId": "suite",
//             "clientSecret": "...", "resource": "http://127.0.0.1:4200/mcp",
//             "scope": "mcp:read mcp:write" }
// Prints `inject listening on http://127.0.0.1:<port>` once it accepts connections.
import http from 'node:http';
import { readFileSync } from 'node:fs';

if (process.argv.length !== 3) {
    console.error('usage: node inject.mjs <config.json>');
    process.exit(2);
}
const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const base = new URL(cfg.target);
const agent = new http.Agent({ keepAlive: true });

// ---- the access token ----
let token = null; // { value, refreshAt }
let pending = null;
async function fetchToken() {
    const res = await fetch(cfg.tokenEndpoint, {
        method: 'POST',
        headers: {
            authorization: `Basic ${Buffer.from(`${encodeURIComponent(cfg.clientId)}:${encodeURIComponent(cfg.clientSecret)}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded'
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: cfg.resource, scope: cfg.scope })
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok || typeof body.access_token !== 'string' || body.token_type?.toLowerCase() !== 'bearer')
        throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(body)}`);
    const lifetime = Number(body.expires_in) || 300;
    return { value: body.access_token, lifetime, refreshAt: Date.now() + Math.max(lifetime - 60, lifetime / 2) * 1000 };
}
async function currentToken() {
    if (token && Date.now() < token.refreshAt) return token.value;
    pending ??= fetchToken().finally(() => (pending = null));
    token = await pending;
    return token.value;
}

// ---- the proxy ----
const server = http.createServer(async (req, res) => {
    req.pause();
    let bearer;
    try {
        bearer = await currentToken();
    } catch (err) {
        console.error(`inject: ${err.message}`);
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`inject: no access token: ${err.message}\n`);
        return;
    }
    const headers = []; // rawHeaders keeps names, order and repeated headers exactly as sent
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
        if (req.rawHeaders[i].toLowerCase() === 'authorization') continue;
        headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    headers.push('Authorization', `Bearer ${bearer}`);
    const up = http.request({ host: base.hostname, port: base.port, method: req.method, path: req.url, headers, agent, setHost: false });
    up.on('response', ur => {
        const out = [];
        for (let i = 0; i < ur.rawHeaders.length; i += 2) out.push(ur.rawHeaders[i], ur.rawHeaders[i + 1]);
        res.writeHead(ur.statusCode, ur.statusMessage, out);
        res.flushHeaders();
        ur.on('data', chunk => {
            if (!res.write(chunk)) {
                ur.pause();
                res.once('drain', () => ur.resume());
            }
        });
        ur.on('end', () => res.end());
        ur.on('error', () => res.destroy());
        res.on('close', () => ur.destroy());
    });
    up.on('error', err => {
        if (!res.headersSent) {
            res.writeHead(502, { 'content-type': 'text/plain' });
            res.end(`inject: ${err.message}\n`);
        } else {
            res.destroy();
        }
    });
    req.pipe(up);
    res.on('close', () => {
        if (!res.writableFinished) up.destroy();
    });
});
server.keepAliveTimeout = 60_000;

try {
    await currentToken();
} catch (err) {
    console.error(`inject: ${err.message}`);
    process.exit(1);
}
server.listen(Number(cfg.listen), '127.0.0.1', () =>
    console.log(`inject listening on http://127.0.0.1:${cfg.listen} (Bearer token for ${cfg.resource}, valid ${token.lifetime}s, renewed before expiry)`)
);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
