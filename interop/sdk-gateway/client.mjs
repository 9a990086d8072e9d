#!/usr/bin/env node
// The official MCP TypeScript SDK (@modelcontextprotocol/sdk on npm) against the mcp-auth
// gateway and AS.
//
//     usage: node client.mjs <resource-url> <issuer-url> <client-secret>
//
// <resource-url> is the gateway's protected MCP endpoint, <issuer-url> the authorization server,
// <client-secret> the secret of the pre-registered confidential client `demo`. Prints one line
// per check, `PASS ts/<name> (...)` or `FAIL ts/<name>: <why>`; exit status 0 if all passed,
// 1 otherwise. run.sh counts them.
//
// Everything MCP goes through the SDK's `Client` on its `StreamableHTTPClientTransport`.
// Authorization is the SDK's own `ClientCredentialsProvider` (client/auth-extensions.js) passed
// as the transport's `authProvider`: given the client id, secret and the issuer the credentials
// belong to, the SDK takes the gateway's 401, finds the RFC 9728 metadata, fetches the RFC 8414
// metadata of the AS it names and requests a client_credentials token with `resource`. The
// transport's `fetch` option is a wrapper that records every HTTP exchange (the SDK uses it for
// the MCP requests and for the OAuth ones), so the checks assert what went over the wire.
//
// Step-up: this SDK does not step up here (see README.md), so after the 403 the script builds a
// new provider with the scope the gateway's Bearer challenge names, and the SDK discovers again
// and fetches the broader token.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { readFileSync } from 'node:fs';

const CLIENT_ID = 'demo';
const TOOLS = ['echo', 'add', 'slow', 'write_note', 'whoami'];
// policy.toml (run.sh starts `mcp-auth up --gateway-config policy.toml`): the demo tool
// `announce` is denied to every call by client `demo`, so the gateway hides it; `echo` is denied
// only when its text starts with DENIED_PREFIX, so it stays listed.
const HIDDEN_TOOL = 'announce';
const MISSING_TOOL = 'no_such_tool'; // a name the demo server does not have at all
const DENIED_PREFIX = 'secret:';
const TIMEOUT_MS = 30_000;
const STREAM_GAP_MS = 150; // the first progress notification must arrive this long before the result

let passed = 0;
let failed = 0;
function report(name, ok, detail = '') {
    if (ok) {
        passed++;
        console.log(`PASS ts/${name}` + (detail ? ` (${detail})` : ''));
    } else {
        failed++;
        console.log(`FAIL ts/${name}: ${detail}`);
    }
}

class CheckFailed extends Error {}
function assert(cond, msg) {
    if (!cond) throw new CheckFailed(msg);
}

function withTimeout(promise, ms, what) {
    let timer;
    return Promise.race([
        promise.finally(() => clearTimeout(timer)),
        new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
        })
    ]);
}

async function check(name, fn) {
    try {
        report(name, true, await withTimeout(Promise.resolve().then(fn), TIMEOUT_MS, name));
        return true;
    } catch (e) {
        report(name, false, e instanceof CheckFailed ? e.message : `${e?.constructor?.name}: ${e?.message ?? e}`);
        return false;
    }
}

// ---------------------------------------------------------------------------------------------
// WWW-Authenticate (RFC 9110 §11.6.1): one or more challenges, each `scheme [auth-param, ...]`.
// fetch joins several header fields with ", ", so one string can hold several challenges. Our
// own parser, so the checks do not depend on the SDK's.

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
function parseChallenges(value) {
    const out = [];
    let pos = 0;
    const sep = /[\s,]*/y;
    const param = new RegExp(`(${TOKEN})\\s*=\\s*("(?:[^"\\\\]|\\\\.)*"|${TOKEN})`, 'y');
    const scheme = new RegExp(TOKEN, 'y');
    while (value && pos < value.length) {
        sep.lastIndex = pos;
        sep.exec(value);
        pos = sep.lastIndex;
        if (pos >= value.length) break;
        param.lastIndex = pos;
        let m = param.exec(value);
        if (m && out.length) {
            let v = m[2];
            if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
            out[out.length - 1].params[m[1].toLowerCase()] = v;
            pos = param.lastIndex;
            continue;
        }
        scheme.lastIndex = pos;
        m = scheme.exec(value);
        if (!m) break;
        out.push({ scheme: m[0], params: {} });
        pos = scheme.lastIndex;
    }
    return out;
}
const bearerChallenge = ex => parseChallenges(ex.wwwAuthenticate).find(c => c.scheme.toLowerCase() === 'bearer')?.params;

// ---------------------------------------------------------------------------------------------
// recording fetch

function recorder() {
    const exchanges = [];
    const fetchFn = async (input, init = {}) => {
        const url = input instanceof Request ? input.url : String(input);
        const method = init.method ?? (input instanceof Request ? input.method : 'GET');
        const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
        const body = typeof init.body === 'string' || init.body instanceof URLSearchParams ? String(init.body) : '';
        const res = await fetch(input, init);
        const type = res.headers.get('content-type') ?? '';
        // The body of a JSON error answer (the policy's 403), read from a clone; other bodies
        // (SSE streams, results) are left to the SDK.
        const responseBody = res.status >= 400 && type.startsWith('application/json') ? await res.clone().text() : '';
        exchanges.push({
            method,
            responseBody,
            url,
            status: res.status,
            wwwAuthenticate: res.headers.get('www-authenticate') ?? '',
            responseHeaders: new Headers(res.headers),
            requestAuthorization: headers.get('authorization') ?? '',
            body
        });
        return res;
    };
    return { exchanges, fetchFn };
}
const summarize = xs => xs.map(e => `${e.method} ${e.url} -> ${e.status}`).join('; ');
const textOf = r => (r.content ?? []).map(c => c.text ?? '').join('');
const sameScopes = (a, b) => [...new Set(a.split(/\s+/).filter(Boolean))].sort().join(' ') === [...new Set(b)].sort().join(' ');

async function connect(resource, issuer, secret, scope) {
    const rec = recorder();
    const provider = new ClientCredentialsProvider({ clientId: CLIENT_ID, clientSecret: secret, scope, expectedIssuer: issuer });
    const transport = new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider, fetch: rec.fetchFn });
    const client = new Client({ name: 'mcp-auth-interop-ts', version: '0.0.0' });
    await withTimeout(client.connect(transport), TIMEOUT_MS, 'connect');
    return { client, transport, rec };
}

// The SDK's path through discovery, from the exchanges recorded while connecting.
function discoveryDetail(rec, resource, issuer, wantScope) {
    const ex = rec.exchanges;
    const first = ex[0];
    assert(first && first.method === 'POST' && first.url === resource && first.status === 401,
        `first exchange is not the 401 from the gateway: ${summarize(ex.slice(0, 1))}`);
    const ch = bearerChallenge(first);
    assert(ch?.resource_metadata, `no Bearer challenge with resource_metadata: ${first.wwwAuthenticate}`);
    // What the SDK's own WWW-Authenticate parser makes of this 401 (it is what the transport calls).
    const sdkSaw = extractWWWAuthenticateParams(new Response(null, { status: 401, headers: first.responseHeaders }));
    const [prm, asm, tok, retry] = ex.slice(1, 5);
    assert(prm && prm.method === 'GET' && prm.url === ch.resource_metadata && prm.status === 200,
        `PRM fetch: ${summarize(ex.slice(1, 2))} (resource_metadata is ${ch.resource_metadata})`);
    assert(asm && asm.method === 'GET' && asm.url === `${issuer}/.well-known/oauth-authorization-server` && asm.status === 200,
        `AS metadata fetch: ${summarize(ex.slice(2, 3))}`);
    assert(tok && tok.method === 'POST' && tok.url === `${issuer}/token` && tok.status === 200,
        `token request: ${summarize(ex.slice(3, 4))}`);
    const form = new URLSearchParams(tok.body);
    assert(form.get('grant_type') === 'client_credentials', `grant_type ${form.get('grant_type')}`);
    assert(form.get('resource') === resource, `resource ${form.get('resource')} (want ${resource})`);
    assert(sameScopes(form.get('scope') ?? '', wantScope), `scope ${form.get('scope')} (want ${wantScope.join(' ')})`);
    assert(tok.requestAuthorization.startsWith('Basic '), 'no client_secret_basic on the token request');
    assert(retry && retry.url === resource && retry.status === 200 && retry.requestAuthorization.startsWith('Bearer '),
        `retried MCP request: ${summarize(ex.slice(4, 5))}`);
    const how = sdkSaw.resourceMetadataUrl
        ? `401 -> resource_metadata (${sdkSaw.resourceMetadataUrl})`
        : `401 -> resource_metadata NOT read (the SDK parses only the first challenge, here ` +
          `"${parseChallenges(first.wwwAuthenticate)[0]?.scheme}") -> RFC 9728 well-known fallback ${prm.url}`;
    return { how, scope: form.get('scope') };
}

// ---------------------------------------------------------------------------------------------
// What the SDK sees of the gateway's policy (policy.toml): a list without the hidden tool, a
// call of it answered as for a tool that does not exist, and a call refused for its arguments.

const errorShape = e => (e ? `${e.constructor?.name}(code ${e.code})` : 'nothing thrown');

async function policyChecks(run, client, rec, resource) {
    const attempt = async (name, args) => {
        const mark = rec.exchanges.length;
        let result, raised;
        try {
            result = await client.callTool({ name, arguments: args });
        } catch (e) {
            raised = e;
        }
        return { result, raised, wire: rec.exchanges.slice(mark).filter(e => e.url === resource), all: rec.exchanges.slice(mark) };
    };

    await run('policy-hides-tool', async () => {
        const got = (await client.listTools()).tools.map(t => t.name).sort();
        assert(!got.includes(HIDDEN_TOOL), `tools/list still has '${HIDDEN_TOOL}': ${got.join(', ')}`);
        const missing = TOOLS.filter(t => !got.includes(t));
        assert(missing.length === 0, `tools/list returned ${got.join(', ')}, missing ${missing.join(', ')}`);
        return `tools/list for client_id=demo: ${got.join(', ')}; the demo tool '${HIDDEN_TOOL}' is left out`;
    });

    await run('policy-hidden-call-is-unknown-tool', async () => {
        const h = await attempt(HIDDEN_TOOL, {});
        const m = await attempt(MISSING_TOOL, {});
        assert(h.raised, `calling the hidden '${HIDDEN_TOOL}' did not throw: ${JSON.stringify(h.result)}; wire: ${summarize(h.wire)}`);
        assert(m.raised, `calling '${MISSING_TOOL}' did not throw: ${JSON.stringify(m.result)}`);
        assert(h.raised.code === -32602, `hidden tool: the SDK threw ${errorShape(h.raised)} ${h.raised.message}`);
        assert(errorShape(h.raised) === errorShape(m.raised),
            `hidden tool: ${errorShape(h.raised)} '${h.raised.message}'; missing tool: ${errorShape(m.raised)} '${m.raised.message}'`);
        assert(JSON.stringify(h.wire.map(e => e.status)) === '[200]', `hidden tool on the wire: ${summarize(h.wire)}`);
        assert(JSON.stringify(m.wire.map(e => e.status)) === '[200]', `missing tool on the wire: ${summarize(m.wire)}`);
        const same = h.raised.message === m.raised.message ? 'the same message' : 'messages differ';
        return `both HTTP 200 and ${errorShape(h.raised)}: hidden '${HIDDEN_TOOL}' -> '${h.raised.message}' (the gateway), ` +
            `missing '${MISSING_TOOL}' -> '${m.raised.message}' (the demo server); ${same}`;
    });

    await run('policy-denied-arguments-403', async () => {
        const d = await attempt('echo', { text: `${DENIED_PREFIX} do not repeat` });
        assert(d.raised || d.result?.isError, `the denied echo succeeded: ${JSON.stringify(d.result)}`);
        assert(JSON.stringify(d.wire.map(e => e.status)) === '[403]', `on the wire: ${summarize(d.wire)} (want one 403)`);
        assert(!d.wire[0].wwwAuthenticate, `the policy's 403 has a challenge: ${d.wire[0].wwwAuthenticate}`);
        assert(/"code":\s*-32003/.test(d.wire[0].responseBody), `the 403's body is not the policy's -32003 error: ${d.wire[0].responseBody}`);
        assert(d.all.length === d.wire.length, `the SDK made other requests after the policy's 403: ${summarize(d.all)}`);
        const r = d.raised;
        const what = !r ? `returned an error result ${JSON.stringify(d.result)}`
            : r.code === -32003 ? `threw ${errorShape(r)} '${r.message}': the JSON-RPC error of the 403's body`
            : r.code === 403 ? `threw ${errorShape(r)} '${r.message}': its code is the HTTP status, the policy's JSON-RPC error is only text in the message`
            : `threw ${errorShape(r)} '${r.message}'`;
        return `HTTP 403 without WWW-Authenticate, body JSON-RPC -32003; no token request after it; the SDK ${what}`;
    });

    await run('policy-session-usable-after-denial', async () => {
        const r = await client.callTool({ name: 'echo', arguments: { text: 'after the denial' } });
        assert(!r.isError && textOf(r) === 'after the denial', `echo returned ${JSON.stringify(r)}`);
        return 'echo with other text, in the same session, still works';
    });
}

// ---------------------------------------------------------------------------------------------

async function main() {
    const [resource, issuerArg, secret] = process.argv.slice(2);
    if (!secret) {
        console.error('usage: node client.mjs <resource-url> <issuer-url> <client-secret>');
        process.exit(2);
    }
    const issuer = issuerArg.replace(/\/$/, '');
    const sdkVersion = JSON.parse(readFileSync(new URL('./node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url), 'utf8')).version;
    console.error(`# client.mjs: @modelcontextprotocol/sdk ${sdkVersion}, node ${process.version}`);

    const names = ['discovery-from-401', 'connect-and-list-tools', 'echo', 'add', 'slow-progress', 'slow-progress-streamed',
        'whoami', 'write-note-denied-read-only-token', 'write-note-step-up-by-script', 'whoami-after-step-up',
        'policy-hides-tool', 'policy-hidden-call-is-unknown-tool', 'policy-denied-arguments-403',
        'policy-session-usable-after-denial'];
    const done = new Set();
    const run = (name, fn) => { done.add(name); return check(name, fn); };

    // --- a provider asking for mcp:read only; the SDK discovers the AS from the 401 ----------
    let conn;
    try {
        conn = await connect(resource, issuer, secret, 'mcp:read');
    } catch (e) {
        done.add('discovery-from-401');
        report('discovery-from-401', false, `connecting failed: ${e?.constructor?.name}: ${e?.message}`);
    }
    let challengedScope;
    if (conn) {
        const { client, transport, rec } = conn;
        await run('discovery-from-401', async () => {
            const d = discoveryDetail(rec, resource, issuer, ['mcp:read']);
            return `SELF-DISCOVERY by the TypeScript SDK: ${d.how} -> ${issuer}/.well-known/oauth-authorization-server ` +
                `-> client_credentials token (scope='${d.scope}', resource, client_secret_basic) -> retry 200`;
        });

        await run('connect-and-list-tools', async () => {
            const version = transport.protocolVersion;
            assert(version === LATEST_PROTOCOL_VERSION, `negotiated ${version}, expected ${LATEST_PROTOCOL_VERSION}`);
            const { tools } = await client.listTools();
            const got = tools.map(t => t.name).sort();
            const missing = TOOLS.filter(t => !got.includes(t));
            assert(missing.length === 0, `tools/list returned ${got.join(', ')}, missing ${missing.join(', ')}`);
            return `initialize at ${version} with ${client.getServerVersion()?.name}, session ${transport.sessionId ? 'yes' : 'no'}; ` +
                `tools/list: ${got.join(', ')}`;
        });

        await run('echo', async () => {
            const text = `héllo from the TypeScript SDK ${Date.now()}`;
            const r = await client.callTool({ name: 'echo', arguments: { text } });
            assert(!r.isError && textOf(r) === text, `echo returned ${JSON.stringify(r)}`);
            return 'text round-trips';
        });

        await run('add', async () => {
            const r = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
            assert(!r.isError && textOf(r) === '5', `add returned ${JSON.stringify(r)}`);
            return '2+3 = 5';
        });

        const progress = [];
        let resultAt;
        await run('slow-progress', async () => {
            const r = await client.callTool({ name: 'slow', arguments: { steps: 3, delay_ms: 200 } }, undefined, {
                onprogress: p => progress.push({ ...p, at: performance.now() }),
                timeout: TIMEOUT_MS
            });
            resultAt = performance.now();
            assert(!r.isError, `slow returned ${JSON.stringify(r)}`);
            assert(progress.length === 3, `${progress.length} progress notifications before the result: ${JSON.stringify(progress)}`);
            const values = progress.map(p => p.progress);
            assert(JSON.stringify(values) === '[1,2,3]', `progress values ${JSON.stringify(values)}, expected [1,2,3] in order`);
            assert(progress.every(p => p.total === 3), `totals ${JSON.stringify(progress.map(p => p.total))}`);
            return `3 notifications/progress before the result, in order (${JSON.stringify(progress.map(p => p.message))}); ` +
                `result '${textOf(r)}'`;
        });

        await run('slow-progress-streamed', async () => {
            assert(progress.length && resultAt, 'slow-progress did not complete');
            const gap = resultAt - progress[0].at;
            assert(gap >= STREAM_GAP_MS, `first progress only ${gap.toFixed(0)} ms before the result: the response looks buffered, not streamed`);
            return `first progress ${gap.toFixed(0)} ms before the result`;
        });

        const whoami = async (cl, want) => {
            const r = await cl.callTool({ name: 'whoami', arguments: {} });
            const id = JSON.parse(textOf(r));
            assert(id.subject === 'demo', `subject ${id.subject}`);
            assert(id.profile === 'bearer', `profile ${id.profile}`);
            assert(id.client_id === CLIENT_ID, `client_id ${id.client_id}`);
            assert(sameScopes(String(id.scope ?? ''), want), `scope '${id.scope}', want '${want.join(' ')}'`);
            return `forwarded identity ${JSON.stringify(id)}`;
        };
        await run('whoami', () => whoami(client, ['mcp:read']));

        await run('write-note-denied-read-only-token', async () => {
            const mark = rec.exchanges.length;
            let raised;
            try {
                const r = await client.callTool({ name: 'write_note', arguments: { note: 'from the TypeScript SDK, read-only token' } });
                assert(false, `write_note succeeded with a read-only token: ${JSON.stringify(r)}`);
            } catch (e) {
                if (e instanceof CheckFailed) throw e;
                raised = e;
            }
            const wire = rec.exchanges.slice(mark);
            const forbidden = wire.filter(e => e.status === 403);
            assert(forbidden.length >= 1, `no HTTP 403 on the wire: ${summarize(wire)}`);
            const ch = bearerChallenge(forbidden[0]) ?? {};
            assert(ch.error === 'insufficient_scope', `Bearer challenge ${JSON.stringify(ch)}`);
            assert(sameScopes(ch.scope ?? '', ['mcp:read', 'mcp:write']), `challenged scope '${ch.scope}'`);
            challengedScope = ch.scope;
            const tokenAfter = wire.some(e => e.url === `${issuer}/token`);
            const sdkSaw = extractWWWAuthenticateParams(new Response(null, { status: 403, headers: forbidden[0].responseHeaders }));
            return `HTTP 403 Bearer error=insufficient_scope scope='${ch.scope}'; the SDK raised ${raised?.constructor?.name}` +
                `(code ${raised?.code}); SDK step-up attempted: ${tokenAfter ? 'yes' : 'no'} ` +
                `(its challenge parser read error=${sdkSaw.error ?? 'none'}, scope=${sdkSaw.scope ?? 'none'})`;
        });

        await policyChecks(run, client, rec, resource);
        await client.close().catch(() => {});
    }

    // --- step-up by the script: a new provider with the challenged scope --------------------
    if (challengedScope) {
        let conn2;
        await run('write-note-step-up-by-script', async () => {
            conn2 = await connect(resource, issuer, secret, challengedScope);
            const d = discoveryDetail(conn2.rec, resource, issuer, challengedScope.split(' '));
            const r = await conn2.client.callTool({ name: 'write_note', arguments: { note: 'from the TypeScript SDK after step-up' } });
            assert(!r.isError && textOf(r).startsWith('saved'), `write_note returned ${JSON.stringify(r)}`);
            return `STEP-UP BY THE SCRIPT: new ClientCredentialsProvider with the challenged scope; the SDK discovered again ` +
                `and got a token with scope='${d.scope}'; result '${textOf(r)}'`;
        });
        if (conn2) {
            await run('whoami-after-step-up', async () => {
                const r = await conn2.client.callTool({ name: 'whoami', arguments: {} });
                const id = JSON.parse(textOf(r));
                assert(id.subject === 'demo' && id.profile === 'bearer', `identity ${JSON.stringify(id)}`);
                assert(sameScopes(String(id.scope ?? ''), ['mcp:read', 'mcp:write']), `scope '${id.scope}'`);
                return `forwarded identity ${JSON.stringify(id)}`;
            });
            await conn2.client.close().catch(() => {});
        }
    }

    for (const name of names) {
        if (!done.has(name)) report(name, false, 'not reached (an earlier step failed)');
    }
    console.error(`# client.mjs: ${passed} passed, ${failed} failed`);
    process.exit(failed === 0 ? 0 : 1);
}

main().catch(e => {
    console.log(`FAIL ts/client: ${e?.stack ?? e}`);
    process.exit(1);
});
