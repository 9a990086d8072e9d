// usage: node checks.mjs <config.json>   (run.sh starts the servers and writes the config)
//
// RFC 9449 DPoP with independent implementations against mcp-auth:
//   1. oauth4webapi with a DPoP handle: client_credentials at `mcp-auth as` (token_type DPoP,
//      cnf.jkt), then a tools/call of echo through `mcp-auth gateway --dpop`; the same token
//      as Bearer is refused (401, DPoP challenge, invalid_token)
//   2. the same with server nonces (AS [dpop] nonce = true, gateway --dpop-nonce): oauth4webapi
//      gets use_dpop_nonce at the AS (400) and at the gateway (401) and retries once; a wrong
//      nonce gets use_dpop_nonce and a fresh one (§8), the AS's nonce is no good at the gateway
//   3. npm dpop proofs: at the token endpoint and at the gateway (ath), for ES256, Ed25519,
//      PS256, RS256 keys; refused: a wrong htu and a replayed proof (both servers), and at the
//      gateway a wrong htm, a wrong ath, another key, a stale or future iat, two DPoP fields,
//      typ JWT, a private jwk, HS256, an unbound token under the DPoP scheme; accepted: a query
//      string, a normalization-equivalent htu, the scheme in lowercase
//   4. oidc-provider (DPoP, resource indicators, JWT access tokens) as the issuer of the
//      gateway: its DPoP-bound RS256 JWT plus an oauth4webapi proof reach the echo tool, also
//      with aud as an array; as Bearer it is refused
// Prints PASS/FAIL per check and last `interop: N passed, M failed`; exits 1 on failure.
import * as oauth from 'oauth4webapi';
import * as dpop from 'dpop';
import * as jose from 'jose';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const INSECURE = { [oauth.allowInsecureRequests]: true }; // loopback http servers
const SCOPE = cfg.scope;
const REQUIRED_CLAIMS = ['iss', 'aud', 'exp', 'iat', 'sub', 'jti', 'client_id', 'scope'];

let passed = 0;
let failed = 0;
function report(ok, name, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ok ? ` (${detail})` : `: ${detail}` : ok ? '' : ': failed'}`);
}
function describe(e) {
  if (e instanceof oauth.ResponseBodyError) {
    return `HTTP ${e.status} ${e.error}${e.error_description ? `: ${e.error_description}` : ''}`;
  }
  if (e instanceof oauth.WWWAuthenticateChallengeError) {
    return `HTTP ${e.response?.status} WWW-Authenticate: ${e.response?.headers.get('www-authenticate')}`;
  }
  const extra = e?.cause && !(e.cause instanceof Error) ? ` ${JSON.stringify(e.cause).slice(0, 400)}` : '';
  return `${e?.code ? `${e.code}: ` : ''}${e?.message ?? e}${extra}`;
}
/** Runs fn; PASS with the detail it returns, FAIL with the error. */
async function check(name, fn) {
  try {
    const v = await fn();
    report(true, name, typeof v === 'string' ? v : undefined);
    return true;
  } catch (e) {
    report(false, name, describe(e));
    return false;
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
const watchdog = setTimeout(() => {
  report(false, 'checks finished within 90 s', 'watchdog fired');
  console.log(`interop: ${passed} passed, ${failed} failed`);
  process.exit(1);
}, 90_000);

// --- MCP: a stateless (2026-07-28) tools/call of the demo server's echo tool -----------------
function mcpHeaders() {
  return new Headers({
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': 'tools/call',
    'mcp-name': 'echo',
  });
}
function echoBody(text) {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: {
      name: 'echo',
      arguments: { text },
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': {},
      },
    },
  });
}
/** The JSON-RPC response with id 1 in a JSON or SSE body. */
async function rpcResponse(res) {
  const text = await res.text();
  const messages = [];
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    for (const line of text.split(/\r?\n/)) {
      if (line.startsWith('data:')) {
        try {
          messages.push(JSON.parse(line.slice(5)));
        } catch {}
      }
    }
  } else {
    try {
      messages.push(JSON.parse(text));
    } catch {}
  }
  const msg = messages.find((m) => m?.id === 1 && ('result' in m || 'error' in m));
  assert(msg, `HTTP ${res.status}: no JSON-RPC response in ${JSON.stringify(text.slice(0, 300))}`);
  return msg;
}
/** Asserts a 200 whose JSON-RPC result echoes `text`; returns a detail string. */
async function expectEcho(res, text) {
  if (res.status !== 200) {
    throw new Error(`HTTP ${res.status} ${res.headers.get('www-authenticate') ?? ''} ${(await res.text()).slice(0, 300)}`);
  }
  const msg = await rpcResponse(res);
  assert(!msg.error, `JSON-RPC error ${JSON.stringify(msg.error)}`);
  const got = msg.result?.content?.find((c) => c.type === 'text')?.text;
  assert(got === text && msg.result.isError !== true, `unexpected result ${JSON.stringify(msg.result)}`);
  return `echo returned ${JSON.stringify(got)}`;
}

/** RFC 9110 §11.6.1 challenges: [{ scheme (lowercase), params: { name (lowercase): value } }]. */
function parseChallenges(header) {
  const out = [];
  if (!header) return out;
  const re = /\s*,?\s*(?:([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)|([A-Za-z0-9!#$%&'*+.^_`|~-]+))/gy;
  let m;
  let cur;
  while ((m = re.exec(header)) !== null && m[0] !== '') {
    if (m[3]) {
      cur = { scheme: m[3].toLowerCase(), params: {} };
      out.push(cur);
    } else if (cur) {
      let v = m[2];
      if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
      cur.params[m[1].toLowerCase()] = v;
    }
  }
  return out;
}
/** Asserts a 401 with a DPoP challenge carrying `error`; returns a detail string. */
async function expectDpopChallenge(res, error) {
  const www = res.headers.get('www-authenticate');
  await res.body?.cancel();
  assert(res.status === 401, `expected 401, got HTTP ${res.status} (WWW-Authenticate: ${www})`);
  const ch = parseChallenges(www).find((c) => c.scheme === 'dpop');
  assert(ch, `no DPoP challenge in WWW-Authenticate: ${www}`);
  assert(ch.params.error === error, `expected DPoP error="${error}", got WWW-Authenticate: ${www}`);
  return `401, DPoP error="${ch.params.error}"${ch.params.error_description ? `: ${ch.params.error_description}` : ''}`;
}
/** Asserts a token endpoint error response (RFC 6749 §5.2) with `status` and `error`. */
async function expectTokenError(res, status, error) {
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {}
  assert(res.status === status && body?.error === error, `expected ${status} {"error":"${error}"}, got HTTP ${res.status} ${text.slice(0, 300)}`);
  return `${res.status} ${JSON.stringify({ error: body.error, error_description: body.error_description })}`;
}

async function discover(issuer, algorithm = 'oauth2') {
  const u = new URL(issuer);
  return oauth.processDiscoveryResponse(u, await oauth.discoveryRequest(u, { algorithm, ...INSECURE }));
}
/** The token response with its raw JSON (oauth4webapi lowercases token_type). */
async function tokenResponse(as, client, res) {
  const raw = await res.clone().json().catch(() => undefined);
  const parsed = await oauth.processClientCredentialsResponse(as, client, res);
  return { raw, parsed };
}
/** Asserts a DPoP token response bound to `jkt`; returns the access token's claims. */
function assertBound(raw, jkt) {
  assert(raw?.token_type === 'DPoP', `token_type ${JSON.stringify(raw?.token_type)}, expected "DPoP" (RFC 9449 §5)`);
  const claims = jose.decodeJwt(raw.access_token);
  assert(claims.cnf?.jkt === jkt, `cnf ${JSON.stringify(claims.cnf)}, expected jkt ${jkt}`);
  return claims;
}
/** Runs fn(); on a DPoP nonce error (RFC 9449 §8, §9) runs it once more, as oauth4webapi's
 * docs prescribe (the handle has cached the DPoP-Nonce of the error response). Returns
 * { value, first } where first describes the refused first attempt (or undefined). */
async function withNonceRetry(fn) {
  try {
    return { value: await fn(), first: undefined };
  } catch (e) {
    if (!oauth.isDPoPNonceError(e)) throw e;
    const status = e.status ?? e.response?.status;
    const nonce = e.response?.headers.get('dpop-nonce');
    return { value: await fn(), first: { status, nonce, error: describe(e) } };
  }
}
const mcpRequest = (token, url, text, options) =>
  oauth.protectedResourceRequest(token, 'POST', new URL(url), mcpHeaders(), echoBody(text), { ...INSECURE, ...options });
/** A POST with node:http, so that a header may be sent as several fields (array values). */
function rawRequest(url, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c)).on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve(new Response(res.statusCode === 204 ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
/** Runs one leg; an unexpected error (e.g. discovery failing) is one FAIL, then the next leg. */
async function leg(name, fn) {
  try {
    await fn();
  } catch (e) {
    report(false, `${name}: the leg stopped`, describe(e));
  }
}
const tag = () => `dpop interop ${randomUUID().slice(0, 8)}`;

// === 1. oauth4webapi, no nonces ================================================================
await leg('oauth4webapi', async () => {
  const prefix = 'oauth4webapi';
  const as = await discover(cfg.as.issuer);
  const client = { client_id: cfg.as.clientId };
  const keyPair = await oauth.generateKeyPair('ES256', { extractable: true });
  const DPoP = oauth.DPoP(client, keyPair);
  const jkt = await DPoP.calculateThumbprint();
  let token;

  await check(`${prefix}: the gateway's RFC 9728 metadata advertises DPoP`, async () => {
    const url = new URL(cfg.as.resource);
    const md = await oauth.processResourceDiscoveryResponse(url, await oauth.resourceDiscoveryRequest(url, INSECURE));
    const algs = md.dpop_signing_alg_values_supported;
    assert(Array.isArray(algs) && algs.includes('ES256'), `dpop_signing_alg_values_supported ${JSON.stringify(algs)}`);
    assert(md.authorization_servers?.includes(cfg.as.issuer), `authorization_servers ${JSON.stringify(md.authorization_servers)}`);
    return `dpop_signing_alg_values_supported ${algs.join(' ')}`;
  });

  await check(`${prefix}: client_credentials (client_secret_basic) with a DPoP handle at mcp-auth as gets a DPoP-bound token`, async () => {
    const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(cfg.as.clientSecret),
      { scope: SCOPE, resource: cfg.as.resource }, { DPoP, ...INSECURE });
    const { raw, parsed } = await tokenResponse(as, client, res);
    const claims = assertBound(raw, jkt);
    // The token itself verifies against the AS's JWKS as an RFC 9068 access token.
    const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri));
    await jose.jwtVerify(parsed.access_token, jwks, { issuer: cfg.as.issuer, audience: cfg.as.resource, typ: 'at+jwt' });
    token = parsed.access_token;
    return `token_type ${raw.token_type}, cnf.jkt ${claims.cnf.jkt}, verified with jose against ${as.jwks_uri}`;
  });

  await check(`${prefix}: protectedResourceRequest tools/call echo through gateway --dpop`, async () => {
    assert(token, 'no token from the previous check');
    const text = tag();
    return expectEcho(await mcpRequest(token, cfg.as.resource, text, { DPoP }), text);
  });

  await check(`${prefix}: the DPoP-bound token sent as Bearer is refused (401, DPoP challenge, invalid_token)`, async () => {
    assert(token, 'no token from the previous check');
    try {
      const res = await mcpRequest(token, cfg.as.resource, tag(), {});
      throw new Error(`expected 401, got HTTP ${res.status}`);
    } catch (e) {
      if (!(e instanceof oauth.WWWAuthenticateChallengeError)) throw e;
      assert(e.response.status === 401, `expected 401, got HTTP ${e.response.status}`);
      const ch = e.cause.find((c) => c.scheme === 'dpop');
      assert(ch?.parameters.error === 'invalid_token', `expected a DPoP challenge with error="invalid_token": ${e.response.headers.get('www-authenticate')}`);
      return `401, challenges ${e.cause.map((c) => c.scheme).join(', ')}; DPoP error="${ch.parameters.error}"`;
    }
  });
});

// === 2. oauth4webapi with server nonces ========================================================
await leg('oauth4webapi + nonces', async () => {
  const prefix = 'oauth4webapi + nonces';
  const as = await discover(cfg.asNonce.issuer);
  const client = { client_id: cfg.asNonce.clientId };
  const keyPair = await oauth.generateKeyPair('ES256', { extractable: true });
  const DPoP = oauth.DPoP(client, keyPair);
  const jkt = await DPoP.calculateThumbprint();
  let token;

  await check(`${prefix}: AS answers use_dpop_nonce (400 + DPoP-Nonce), the retry (client_secret_post) gets a DPoP-bound token`, async () => {
    const { value, first } = await withNonceRetry(async () => {
      const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretPost(cfg.asNonce.clientSecret),
        { scope: SCOPE, resource: cfg.asNonce.resource }, { DPoP, ...INSECURE });
      return tokenResponse(as, client, res);
    });
    assert(first, 'the first request got a token without a nonce: the AS did not require one');
    assert(first.status === 400 && first.nonce, `the nonce challenge was ${JSON.stringify(first)}, expected 400 with a DPoP-Nonce header (RFC 9449 §8)`);
    const claims = assertBound(value.raw, jkt);
    token = value.parsed.access_token;
    return `first attempt ${first.error}, DPoP-Nonce ${first.nonce.slice(0, 12)}…; retry: token_type ${value.raw.token_type}, cnf.jkt ${claims.cnf.jkt}`;
  });

  await check(`${prefix}: gateway --dpop-nonce answers 401 use_dpop_nonce + DPoP-Nonce, the retry reaches echo`, async () => {
    assert(token, 'no token from the previous check');
    const text = tag();
    const { value: res, first } = await withNonceRetry(() => mcpRequest(token, cfg.asNonce.resource, text, { DPoP }));
    assert(first, 'the first request went through without a nonce: the gateway did not require one');
    assert(first.status === 401 && first.nonce, `the nonce challenge was ${JSON.stringify(first)}, expected 401 with a DPoP-Nonce header (RFC 9449 §9)`);
    const detail = await expectEcho(res, text);
    return `first attempt ${first.error.replace(/algs="[^"]*", /, '')}; retry: ${detail}`;
  });

  await check(`${prefix}: the next call reuses the cached gateway nonce and succeeds at once`, async () => {
    assert(token, 'no token from the previous check');
    const text = tag();
    return expectEcho(await mcpRequest(token, cfg.asNonce.resource, text, { DPoP }), text);
  });

  // RFC 9449 §8: "This same error code is used when supplying a new nonce value when there was
  // a nonce mismatch" (and §9 for resource servers): a wrong nonce must be answered with
  // use_dpop_nonce and a fresh DPoP-Nonce, or clients never recover after a nonce rotation.
  const kp = await dpop.generateKeyPair('ES256');
  const tokenUrl = as.token_endpoint;
  const tokenRequest = async (nonce) =>
    fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', dpop: await dpop.generateProof(kp, tokenUrl, 'POST', nonce) },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: cfg.asNonce.clientId, client_secret: cfg.asNonce.clientSecret, scope: SCOPE, resource: cfg.asNonce.resource }),
    });
  let asNonce;
  await check(`${prefix}: npm dpop proof with a made-up nonce at the AS → 400 use_dpop_nonce with a new DPoP-Nonce`, async () => {
    const res = await tokenRequest('not-a-nonce-this-server-issued');
    asNonce = res.headers.get('dpop-nonce');
    const detail = await expectTokenError(res, 400, 'use_dpop_nonce');
    assert(asNonce, 'no DPoP-Nonce header in the use_dpop_nonce response');
    return detail;
  });
  await check(`${prefix}: the AS's nonce is not accepted by the gateway (same secret, other server: 401 use_dpop_nonce with its own DPoP-Nonce)`, async () => {
    assert(asNonce && token, 'no AS nonce or token from the previous checks');
    const headers = mcpHeaders();
    headers.set('authorization', `DPoP ${token}`);
    headers.set('dpop', await dpop.generateProof(keyPair, cfg.asNonce.resource, 'POST', asNonce, token));
    const res = await fetch(cfg.asNonce.resource, { method: 'POST', headers, body: echoBody(tag()) });
    const gwNonce = res.headers.get('dpop-nonce');
    const detail = await expectDpopChallenge(res, 'use_dpop_nonce');
    assert(gwNonce && gwNonce !== asNonce, `DPoP-Nonce ${JSON.stringify(gwNonce)}`);
    return detail;
  });
});

// === 3. npm dpop: hand-made proofs ==============================================================
await leg('npm dpop', async () => {
  const prefix = 'npm dpop';
  const as = await discover(cfg.as.issuer);
  const tokenUrl = as.token_endpoint;
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(cfg.as.clientId)}:${encodeURIComponent(cfg.as.clientSecret)}`).toString('base64')}`;
  const tokenRequest = (proof) =>
    fetch(tokenUrl, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', dpop: proof },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, resource: cfg.as.resource }),
    });
  const gatewayRequest = (token, proof, text) => {
    const headers = mcpHeaders();
    headers.set('authorization', `DPoP ${token}`);
    headers.set('dpop', proof);
    return fetch(cfg.as.resource, { method: 'POST', headers, body: echoBody(text) });
  };

  const keyPair = await dpop.generateKeyPair('ES256');
  const jkt = await dpop.calculateThumbprint(keyPair.publicKey);
  let token;
  let tokenProof;

  await check(`${prefix}: ES256 proof at the token endpoint → token_type DPoP, cnf.jkt = calculateThumbprint(publicKey)`, async () => {
    tokenProof = await dpop.generateProof(keyPair, tokenUrl, 'POST');
    const res = await tokenRequest(tokenProof);
    const raw = await res.json();
    assert(res.status === 200, `HTTP ${res.status} ${JSON.stringify(raw)}`);
    const claims = assertBound(raw, jkt);
    token = raw.access_token;
    return `token_type ${raw.token_type}, cnf.jkt ${claims.cnf.jkt}`;
  });

  await check(`${prefix}: the same token-request proof replayed is refused (400 invalid_dpop_proof)`, async () => {
    assert(tokenProof && token, 'no accepted proof from the previous check');
    return expectTokenError(await tokenRequest(tokenProof), 400, 'invalid_dpop_proof');
  });

  await check(`${prefix}: a token-request proof for the wrong htu is refused (400 invalid_dpop_proof)`, async () => {
    const proof = await dpop.generateProof(keyPair, `${cfg.as.issuer}/not-the-token-endpoint`, 'POST');
    return expectTokenError(await tokenRequest(proof), 400, 'invalid_dpop_proof');
  });

  let rsProof;
  await check(`${prefix}: proof with ath at gateway --dpop → tools/call echo`, async () => {
    assert(token, 'no token from the previous check');
    rsProof = await dpop.generateProof(keyPair, cfg.as.resource, 'POST', undefined, token);
    const text = tag();
    return expectEcho(await gatewayRequest(token, rsProof, text), text);
  });

  await check(`${prefix}: the same gateway proof replayed is refused (401 invalid_dpop_proof)`, async () => {
    assert(rsProof, 'no accepted proof from the previous check');
    return expectDpopChallenge(await gatewayRequest(token, rsProof, tag()), 'invalid_dpop_proof');
  });

  await check(`${prefix}: a gateway proof for the wrong htu is refused (401 invalid_dpop_proof)`, async () => {
    assert(token, 'no token');
    const wrong = new URL(cfg.as.resource);
    wrong.pathname = '/other';
    const proof = await dpop.generateProof(keyPair, wrong.href, 'POST', undefined, token);
    return expectDpopChallenge(await gatewayRequest(token, proof, tag()), 'invalid_dpop_proof');
  });

  // Proofs the dpop package cannot make (it always sets iat to now): signed with jose, with the
  // same key and header (typ dpop+jwt, the public jwk) and the claims chosen here.
  const publicJwk = await jose.exportJWK(keyPair.publicKey);
  const ath = (t) => jose.base64url.encode(new Uint8Array(createHash('sha256').update(t).digest()));
  const craft = (claims, kp = keyPair, jwk = publicJwk) =>
    new jose.SignJWT({ jti: randomUUID(), htm: 'POST', htu: cfg.as.resource, iat: Math.floor(Date.now() / 1000), ath: ath(token), ...claims })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
      .sign(kp.privateKey);

  await check(`${prefix}: a gateway proof with htm GET for a POST is refused (401 invalid_dpop_proof)`, async () => {
    assert(token, 'no token');
    const proof = await dpop.generateProof(keyPair, cfg.as.resource, 'GET', undefined, token);
    return expectDpopChallenge(await gatewayRequest(token, proof, tag()), 'invalid_dpop_proof');
  });

  await check(`${prefix}: a gateway proof whose ath is another token's hash is refused (401 invalid_dpop_proof)`, async () => {
    assert(token, 'no token');
    return expectDpopChallenge(await gatewayRequest(token, await craft({ ath: ath(`${token}x`) }), tag()), 'invalid_dpop_proof');
  });

  await check(`${prefix}: a valid proof by another key than the token's cnf.jkt is refused (401, DPoP challenge)`, async () => {
    assert(token, 'no token');
    const other = await dpop.generateKeyPair('ES256');
    const proof = await dpop.generateProof(other, cfg.as.resource, 'POST', undefined, token);
    const res = await gatewayRequest(token, proof, tag());
    const www = res.headers.get('www-authenticate');
    await res.body?.cancel();
    const ch = parseChallenges(www).find((c) => c.scheme === 'dpop');
    // RFC 9449 §4.3 check 12 is part of the proof check (invalid_dpop_proof); invalid_token is
    // also a reasonable reading (the token is not usable with this key).
    assert(res.status === 401 && ['invalid_dpop_proof', 'invalid_token'].includes(ch?.params.error),
      `expected 401 with DPoP error invalid_dpop_proof or invalid_token, got HTTP ${res.status} ${www}`);
    return `401, DPoP error="${ch.params.error}"${ch.params.error_description ? `: ${ch.params.error_description}` : ''}`;
  });

  await check(`${prefix}: a gateway proof with iat 10 minutes old is refused (401 invalid_dpop_proof)`, async () => {
    assert(token, 'no token');
    return expectDpopChallenge(await gatewayRequest(token, await craft({ iat: Math.floor(Date.now() / 1000) - 600 }), tag()), 'invalid_dpop_proof');
  });

  await check(`${prefix}: a gateway proof with iat 10 minutes ahead is refused (401 invalid_dpop_proof)`, async () => {
    assert(token, 'no token');
    return expectDpopChallenge(await gatewayRequest(token, await craft({ iat: Math.floor(Date.now() / 1000) + 600 }), tag()), 'invalid_dpop_proof');
  });

  await check(`${prefix}: a request URI with a query string matches an htu without it (RFC 9449 §4.3 check 9)`, async () => {
    assert(token, 'no token');
    const proof = await dpop.generateProof(keyPair, cfg.as.resource, 'POST', undefined, token);
    const headers = mcpHeaders();
    headers.set('authorization', `DPoP ${token}`);
    headers.set('dpop', proof);
    const text = tag();
    return expectEcho(await fetch(`${cfg.as.resource}?interop=1`, { method: 'POST', headers, body: echoBody(text) }), text);
  });

  await check(`${prefix}: an htu differing only by RFC 3986 §6.2.2 normalization is accepted (HTTP://, %6D)`, async () => {
    assert(token, 'no token');
    const u = new URL(cfg.as.resource);
    const htu = `HTTP://${u.host}${u.pathname.replace('m', '%6D')}`;
    const text = tag();
    return `htu ${htu}; ${await expectEcho(await gatewayRequest(token, await craft({ htu }), text), text)}`;
  });

  await check(`${prefix}: the auth scheme is case-insensitive (Authorization: dpop …, RFC 9110 §11.1)`, async () => {
    assert(token, 'no token');
    const headers = mcpHeaders();
    headers.set('authorization', `dpop ${token}`);
    headers.set('dpop', await dpop.generateProof(keyPair, cfg.as.resource, 'POST', undefined, token));
    const text = tag();
    return expectEcho(await fetch(cfg.as.resource, { method: 'POST', headers, body: echoBody(text) }), text);
  });

  await check(`${prefix}: two DPoP header fields are refused (401 invalid_dpop_proof, RFC 9449 §4.3 check 1)`, async () => {
    assert(token, 'no token');
    const p1 = await dpop.generateProof(keyPair, cfg.as.resource, 'POST', undefined, token);
    const p2 = await dpop.generateProof(keyPair, cfg.as.resource, 'POST', undefined, token);
    const res = await rawRequest(cfg.as.resource, { ...Object.fromEntries(mcpHeaders()), authorization: `DPoP ${token}`, dpop: [p1, p2] }, echoBody(tag()));
    return expectDpopChallenge(res, 'invalid_dpop_proof');
  });

  await check(`${prefix}: malformed proofs are refused (typ JWT, a private jwk, alg HS256: 401 invalid_dpop_proof)`, async () => {
    assert(token, 'no token');
    const now = Math.floor(Date.now() / 1000);
    const claims = { jti: randomUUID(), htm: 'POST', htu: cfg.as.resource, iat: now, ath: ath(token) };
    const sign = (header, key) => new jose.SignJWT({ ...claims, jti: randomUUID() }).setProtectedHeader(header).sign(key);
    const priv = await jose.generateKeyPair('ES256', { extractable: true });
    const privateJwk = await jose.exportJWK(priv.privateKey);
    const secret = new TextEncoder().encode('0123456789abcdef0123456789abcdef');
    const cases = {
      'typ JWT': await sign({ typ: 'JWT', alg: 'ES256', jwk: publicJwk }, keyPair.privateKey),
      'jwk with d': await sign({ typ: 'dpop+jwt', alg: 'ES256', jwk: privateJwk }, priv.privateKey),
      HS256: await sign({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: jose.base64url.encode(secret) } }, secret),
    };
    const out = [];
    for (const [name, proof] of Object.entries(cases)) {
      try {
        out.push(`${name}: ${await expectDpopChallenge(await gatewayRequest(token, proof, tag()), 'invalid_dpop_proof')}`);
      } catch (e) {
        throw new Error(`${name}: ${e.message}`);
      }
    }
    return out.map((s) => s.replace(/: .*/, ' refused')).join('; ');
  });

  await check(`${prefix}: an unbound token (no proof at the AS) with the DPoP scheme and a valid proof is refused (401)`, async () => {
    const res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, resource: cfg.as.resource }),
    });
    const raw = await res.json();
    assert(res.status === 200 && /^bearer$/i.test(raw.token_type), `token endpoint without a proof: HTTP ${res.status} ${JSON.stringify(raw)}`);
    assert(!jose.decodeJwt(raw.access_token).cnf, 'the token without a proof has a cnf claim');
    const proof = await dpop.generateProof(keyPair, cfg.as.resource, 'POST', undefined, raw.access_token);
    const r = await gatewayRequest(raw.access_token, proof, tag());
    const www = r.headers.get('www-authenticate');
    await r.body?.cancel();
    const ch = parseChallenges(www).find((c) => c.scheme === 'dpop');
    assert(r.status === 401 && ch?.params.error, `expected 401 with a DPoP challenge and an error, got HTTP ${r.status} ${www}`);
    return `token_type ${raw.token_type} without a proof; with DPoP: 401, DPoP error="${ch.params.error}"${ch.params.error_description ? `: ${ch.params.error_description}` : ''}`;
  });

  for (const alg of ['Ed25519', 'PS256', 'RS256']) {
    await check(`${prefix}: ${alg} key: token endpoint proof, then a proof with ath at the gateway → echo`, async () => {
      const kp = await dpop.generateKeyPair(alg);
      const res = await tokenRequest(await dpop.generateProof(kp, tokenUrl, 'POST'));
      const raw = await res.json();
      assert(res.status === 200, `token endpoint: HTTP ${res.status} ${JSON.stringify(raw)}`);
      assertBound(raw, await dpop.calculateThumbprint(kp.publicKey));
      const proof = await dpop.generateProof(kp, cfg.as.resource, 'POST', undefined, raw.access_token);
      const header = jose.decodeProtectedHeader(proof);
      const text = tag();
      return `proof alg ${header.alg}; ${await expectEcho(await gatewayRequest(raw.access_token, proof, text), text)}`;
    });
  }
});

// === 4. oidc-provider as the issuer =============================================================
await leg('oidc-provider', async () => {
  const prefix = 'oidc-provider';
  const client = { client_id: cfg.op.clientId };
  const keyPair = await oauth.generateKeyPair('ES256', { extractable: true });
  const DPoP = oauth.DPoP(client, keyPair);
  const jkt = await DPoP.calculateThumbprint();
  let token;

  await check(`${prefix}: client_credentials with an oauth4webapi DPoP handle → DPoP-bound RFC 9068 JWT for the gateway`, async () => {
    const as = await discover(cfg.op.issuer, 'oidc');
    const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(cfg.op.clientSecret),
      { scope: SCOPE, resource: cfg.op.resource }, { DPoP, ...INSECURE });
    const { raw, parsed } = await tokenResponse(as, client, res);
    const claims = assertBound(raw, jkt);
    const header = jose.decodeProtectedHeader(parsed.access_token);
    assert(header.typ === 'at+jwt', `header typ ${header.typ}`);
    const missing = REQUIRED_CLAIMS.filter((c) => claims[c] === undefined);
    assert(missing.length === 0, `claims the gateway requires are missing: ${missing.join(', ')} (claims: ${Object.keys(claims).join(', ')})`);
    assert(claims.aud === cfg.op.resource || claims.aud?.includes?.(cfg.op.resource), `aud ${JSON.stringify(claims.aud)}`);
    token = parsed.access_token;
    return `${header.alg} ${header.typ}, claims ${Object.keys(claims).join(' ')}, cnf.jkt ${claims.cnf.jkt}`;
  });

  await check(`${prefix}: its token + an oauth4webapi proof at gateway --dpop --issuer <oidc-provider> → tools/call echo`, async () => {
    assert(token, 'no token from the previous check');
    const text = tag();
    return expectEcho(await mcpRequest(token, cfg.op.resource, text, { DPoP }), text);
  });

  await check(`${prefix}: its DPoP-bound token sent as Bearer is refused (401, DPoP challenge, invalid_token)`, async () => {
    assert(token, 'no token from the previous check');
    const headers = mcpHeaders();
    headers.set('authorization', `Bearer ${token}`);
    return expectDpopChallenge(await fetch(cfg.op.resource, { method: 'POST', headers, body: echoBody(tag()) }), 'invalid_token');
  });

  await check(`${prefix}: a token whose aud is an array holding the resource (RFC 7519 §4.1.3) reaches echo`, async () => {
    const as = await discover(cfg.op.issuer, 'oidc');
    const arrayClient = { client_id: cfg.op.arrayAudClientId };
    const handle = oauth.DPoP(arrayClient, keyPair);
    const res = await oauth.clientCredentialsGrantRequest(as, arrayClient, oauth.ClientSecretBasic(cfg.op.clientSecret),
      { scope: SCOPE, resource: cfg.op.resource }, { DPoP: handle, ...INSECURE });
    const { raw, parsed } = await tokenResponse(as, arrayClient, res);
    const claims = assertBound(raw, jkt);
    assert(Array.isArray(claims.aud) && claims.aud.includes(cfg.op.resource), `aud ${JSON.stringify(claims.aud)} (the customizer did not apply)`);
    const text = tag();
    return `aud ${JSON.stringify(claims.aud)}; ${await expectEcho(await mcpRequest(parsed.access_token, cfg.op.resource, text, { DPoP: handle }), text)}`;
  });
});

clearTimeout(watchdog);
console.log(`interop: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
