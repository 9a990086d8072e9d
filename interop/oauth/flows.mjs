// usage: node flows.mjs <config.json>   (run.sh writes the config and starts the server)
//
// An independent OAuth client (oauth4webapi) and JWT verifier (jose) against `mcp-auth as`:
//   (a) authorization code + PKCE S256 + resource, through the real login and consent pages in
//       headless Chromium; the redirect lands on a small HTTP server on the registered
//       redirect_uri; iss and state are validated by oauth4webapi (RFC 9207)
//   (b) refresh_token with rotation; reusing the old refresh token fails with invalid_grant
//       (and revokes the family)
//   (c) client_credentials with private_key_jwt (ES256), assertion jti single use, aud forms
//   (d) each access token verified with jose against the published JWKS (typ at+jwt, iss, aud)
// Prints PASS/FAIL per check and last `interop: N passed, M failed`; exits 1 on failure.
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, authorizeInBrowser } from './browser.mjs';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
// cfg: issuer, resource, workdir, cbPort, redirectUri, publicClientId, ccClientId, ccKeyFile,
//      user {username,password}, denyUser {username,password}
const INSECURE = { [oauth.allowInsecureRequests]: true }; // loopback http issuer

let passed = 0;
let failed = 0;
function report(ok, name, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}
function describe(e) {
  if (e instanceof oauth.ResponseBodyError) {
    return `HTTP ${e.status} ${e.error}${e.error_description ? `: ${e.error_description}` : ''}`;
  }
  if (e instanceof oauth.AuthorizationResponseError) {
    return `authorization response error ${e.error}${e.error_description ? `: ${e.error_description}` : ''}`;
  }
  const extra = e?.cause && !(e.cause instanceof Error) ? ` ${JSON.stringify(e.cause).slice(0, 300)}` : '';
  return `${e?.code ? `${e.code}: ` : ''}${e?.message ?? e}${extra}`;
}
/** Runs fn; PASS with its returned detail, FAIL with the error. Returns fn's value or undefined. */
async function check(name, fn) {
  try {
    const v = await fn();
    report(true, name, typeof v === 'string' ? v : v?.detail);
    return v ?? true;
  } catch (e) {
    report(false, name, describe(e));
    return undefined;
  }
}
/** Expects `fn` to fail with an OAuth error response `code`. */
async function expectOAuthError(name, code, fn) {
  try {
    await fn();
    report(false, name, `expected ${code}, but the request succeeded`);
  } catch (e) {
    const ok = e instanceof oauth.ResponseBodyError && e.error === code;
    report(ok, name, ok ? `HTTP ${e.status} ${e.error}` : `expected ${code}, got ${describe(e)}`);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

const watchdog = setTimeout(() => {
  report(false, 'flows finished within 180 s', 'watchdog fired');
  console.log(`interop: ${passed} passed, ${failed} failed`);
  process.exit(1);
}, 180_000);

// --- the redirect_uri: a tiny HTTP server that records each callback -----------------------
const callbacks = [];
const server = http.createServer((req, res) => {
  const u = new URL(req.url, cfg.redirectUri);
  if (u.pathname === new URL(cfg.redirectUri).pathname) {
    callbacks.push(u);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('callback received; you can close this page');
  } else {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(cfg.cbPort, '127.0.0.1', resolve);
});
async function callbackFor(state, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const hit = callbacks.find((u) => u.searchParams.get('state') === state);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

const browser = await launchBrowser();
console.log(`# chromium ${browser.version()}, issuer ${cfg.issuer}, resource ${cfg.resource}`);

// --- discovery ------------------------------------------------------------------------------
const issuer = new URL(cfg.issuer);
const as = await check('discovery: RFC 8414 metadata (issuer matches, S256, iss parameter)', async () => {
  const meta = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...INSECURE }),
  );
  assert(meta.code_challenge_methods_supported?.includes('S256'), 'S256 not in code_challenge_methods_supported');
  assert(meta.authorization_response_iss_parameter_supported === true, 'authorization_response_iss_parameter_supported is not true');
  for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri']) assert(meta[k], `${k} missing`);
  return Object.assign(meta, { detail: `token_endpoint ${meta.token_endpoint}` });
});
if (!as) {
  await finish();
}
const JWKS = jose.createRemoteJWKSet(new URL(as.jwks_uri));
const publicClient = { client_id: cfg.publicClientId };

async function verifyAccessToken(label, token, expect) {
  await check(`(d) jose verifies the ${label} access token (JWKS, typ at+jwt, iss, aud)`, async () => {
    const { payload, protectedHeader } = await jose.jwtVerify(token, JWKS, {
      issuer: as.issuer,
      audience: cfg.resource,
      typ: 'at+jwt',
      requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id'],
    });
    assert(payload.client_id === expect.clientId, `client_id ${payload.client_id}, expected ${expect.clientId}`);
    const scopes = String(payload.scope ?? '').split(' ');
    for (const s of expect.scopes) assert(scopes.includes(s), `scope "${payload.scope}" lacks ${s}`);
    return `alg ${protectedHeader.alg}, kid ${protectedHeader.kid?.slice(0, 8)}…, sub ${payload.sub}, scope "${payload.scope}", exp in ${payload.exp - Math.floor(Date.now() / 1000)} s`;
  });
}

// --- (a) authorization code + PKCE through the browser ---------------------------------------
function authorizationUrl(scope, state, codeChallenge) {
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', publicClient.client_id);
  url.searchParams.set('redirect_uri', cfg.redirectUri);
  url.searchParams.set('scope', scope);
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', codeChallenge);
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('resource', cfg.resource);
  return url.href;
}
const browse = (url, extra) =>
  authorizeInBrowser(browser, url, {
    callbackPrefix: cfg.redirectUri,
    log: (l) => console.log(`# ${l}`),
    ...extra,
  });

const scope = 'mcp:read';
const codeVerifier = oauth.generateRandomCodeVerifier();
const codeChallenge = await oauth.calculatePKCECodeChallenge(codeVerifier);
let state = oauth.generateRandomState();
const loginShot = join(cfg.workdir, 'login.png');
const consentShot = join(cfg.workdir, 'consent.png');

// First with the browser as it is (the server's Content-Security-Policy enforced).
let nav = await browse(authorizationUrl(scope, state, codeChallenge), { ...cfg.user, loginShot, consentShot });
let bypassCSP = false;
report(
  nav.callbackUrl !== null,
  '(a) browser: login + consent in Chromium reach the redirect_uri (server CSP enforced)',
  nav.callbackUrl
    ? `login page, ${nav.sawConsent ? 'consent page, ' : ''}then ${nav.callbackUrl.split('?')[0]}`
    : `blocked: ${nav.cspViolations[0] ?? nav.error}` +
        (nav.cspViolations.length
          ? ` [Chromium applies the login/consent page's CSP form-action 'self' to the 302 redirect` +
            ` that answers the form POST; the redirect to the client's redirect_uri (another origin) is dropped]`
          : ''),
);
console.log(`# screenshots: ${nav.sawLogin ? loginShot : '(no login page)'} ${nav.sawConsent ? consentShot : '(no consent page)'}`);
if (!nav.callbackUrl && nav.cspViolations.length) {
  bypassCSP = true;
  console.log('# retrying the same authorization with CSP bypassed in the browser, to test the rest of the flow');
  state = oauth.generateRandomState();
  nav = await browse(authorizationUrl(scope, state, codeChallenge), { ...cfg.user, bypassCSP });
  if (!nav.callbackUrl) console.log(`# still no callback: ${nav.error ?? nav.cspViolations[0]} at ${nav.finalUrl}`);
}

const callback = await callbackFor(state);
let tokens;
let params = await check('(a) the redirect_uri server received the callback with code, state, iss', async () => {
  assert(callback, `no callback with our state arrived (browser at ${nav.finalUrl}: ${nav.error ?? ''} ${nav.pageText.slice(0, 200)})`);
  for (const p of ['code', 'state', 'iss']) assert(callback.searchParams.getAll(p).length === 1, `${p} is not present exactly once`);
  return `iss=${callback.searchParams.get('iss')}`;
});
if (params) {
  params = await check('(a) oauth4webapi validateAuthResponse (RFC 9207 iss, state)', async () => {
    const p = oauth.validateAuthResponse(as, publicClient, callback, state);
    return Object.assign(p, { detail: 'iss equals the metadata issuer, state matches' });
  });
}
if (params) {
  let response;
  tokens = await check('(a) authorization_code grant (PKCE verifier, resource, public client)', async () => {
    response = await oauth.authorizationCodeGrantRequest(as, publicClient, oauth.None(), params, cfg.redirectUri, codeVerifier, {
      additionalParameters: { resource: cfg.resource },
      ...INSECURE,
    });
    const cc = response.headers.get('cache-control');
    const t = await oauth.processAuthorizationCodeResponse(as, publicClient, response);
    assert(t.token_type === 'bearer', `token_type ${t.token_type}`);
    assert(t.refresh_token, 'no refresh_token');
    return Object.assign(t, { detail: `token_type ${t.token_type}, expires_in ${t.expires_in}, scope "${t.scope}", refresh_token issued`, cacheControl: cc });
  });
  if (tokens) {
    report(/no-store/i.test(tokens.cacheControl ?? ''), '(a) token response has Cache-Control: no-store', `cache-control: ${tokens.cacheControl}`);
  }
}
if (tokens) await verifyAccessToken('authorization_code', tokens.access_token, { clientId: cfg.publicClientId, scopes: [scope] });

// --- (b) refresh with rotation, and reuse detection ----------------------------------------
if (tokens) {
  const refresh = (rt) =>
    oauth
      .refreshTokenGrantRequest(as, publicClient, oauth.None(), rt, { additionalParameters: { resource: cfg.resource }, ...INSECURE })
      .then((r) => oauth.processRefreshTokenResponse(as, publicClient, r));
  const oldRt = tokens.refresh_token;
  const rotated = await check('(b) refresh_token grant returns a new access token and a rotated refresh token', async () => {
    const t = await refresh(oldRt);
    assert(t.access_token && t.access_token !== tokens.access_token, 'no new access token');
    assert(t.refresh_token, 'no refresh_token in the response (public clients must get a rotated one)');
    assert(t.refresh_token !== oldRt, 'the refresh token was not rotated');
    return Object.assign(t, { detail: `scope "${t.scope}", new refresh token` });
  });
  if (rotated) {
    await verifyAccessToken('refreshed', rotated.access_token, { clientId: cfg.publicClientId, scopes: [scope] });
    await expectOAuthError('(b) reusing the old (rotated-out) refresh token fails', 'invalid_grant', () => refresh(oldRt));
    await expectOAuthError('(b) after that reuse, the newest refresh token of the family is revoked too', 'invalid_grant', () =>
      refresh(rotated.refresh_token),
    );
  }
}

// --- (a'') a replayed code: rejected, and the tokens issued from it revoked (RFC 6749 §4.1.2) --
// A second authorization for the same user and client (consent is remembered: no consent page).
{
  const st = oauth.generateRandomState();
  const verifier = oauth.generateRandomCodeVerifier();
  const url2 = authorizationUrl(scope, st, await oauth.calculatePKCECodeChallenge(verifier));
  let n = await browse(url2, { ...cfg.user });
  report(
    n.callbackUrl !== null && !n.sawConsent,
    '(a) browser: with consent remembered, login alone reaches the redirect_uri (server CSP enforced)',
    n.callbackUrl
      ? `no consent page, then ${n.callbackUrl.split('?')[0]}`
      : `${n.sawConsent ? 'consent page shown again; ' : ''}blocked: ${n.cspViolations[0] ?? n.error}` +
          (n.cspViolations.length ? ` [the 302 answering POST /login is dropped by form-action 'self']` : ''),
  );
  if (!n.callbackUrl && n.cspViolations.length) {
    console.log('# retrying with CSP bypassed in the browser');
    n = await browse(url2, { ...cfg.user, bypassCSP: true });
  }
  const cb = await callbackFor(st);
  const exchange = (p) =>
    oauth
      .authorizationCodeGrantRequest(as, publicClient, oauth.None(), p, cfg.redirectUri, verifier, {
        additionalParameters: { resource: cfg.resource },
        ...INSECURE,
      })
      .then((r) => oauth.processAuthorizationCodeResponse(as, publicClient, r));
  let p2;
  const t2 = await check('(a) a second authorization (remembered consent) yields a code and tokens', async () => {
    assert(cb, `no callback (${n.error ?? n.cspViolations[0] ?? n.finalUrl})`);
    p2 = oauth.validateAuthResponse(as, publicClient, cb, st);
    const t = await exchange(p2);
    return Object.assign(t, { detail: n.sawConsent ? 'consent page shown again' : 'no consent page (remembered)' });
  });
  if (t2) {
    await expectOAuthError('(a) the same code a second time is rejected', 'invalid_grant', () => exchange(p2));
    await expectOAuthError('(a) after the code replay, the refresh token issued from that code is revoked (RFC 6749 §4.1.2 SHOULD)', 'invalid_grant', () =>
      oauth
        .refreshTokenGrantRequest(as, publicClient, oauth.None(), t2.refresh_token, { additionalParameters: { resource: cfg.resource }, ...INSECURE })
        .then((r) => oauth.processRefreshTokenResponse(as, publicClient, r)),
    );
  }
}

// --- (a') Deny on the consent page ---------------------------------------------------------
{
  const st = oauth.generateRandomState();
  const denyNav = await browse(authorizationUrl('mcp:read mcp:write', st, codeChallenge), {
    ...cfg.denyUser,
    decision: 'deny',
    bypassCSP,
  });
  await check(`(a) Deny on the consent page redirects with error=access_denied and iss${bypassCSP ? ' (CSP bypassed)' : ''}`, async () => {
    assert(denyNav.sawConsent, `no consent page (${denyNav.error ?? denyNav.finalUrl})`);
    const cb = await callbackFor(st);
    assert(cb, `no callback (${denyNav.error ?? denyNav.cspViolations[0] ?? denyNav.finalUrl})`);
    try {
      oauth.validateAuthResponse(as, publicClient, cb, st);
    } catch (e) {
      if (e instanceof oauth.AuthorizationResponseError && e.error === 'access_denied') return 'iss and state valid, error=access_denied';
      throw e;
    }
    throw new Error(`expected error=access_denied, got a code (${cb.search})`);
  });
}

// --- (c) client_credentials with private_key_jwt ---------------------------------------------
{
  const jwk = JSON.parse(readFileSync(cfg.ccKeyFile, 'utf8'));
  const key = { key: await jose.importJWK(jwk, 'ES256'), kid: jwk.kid };
  const ccClient = { client_id: cfg.ccClientId };
  const grant = (opts) =>
    oauth
      .clientCredentialsGrantRequest(as, ccClient, oauth.PrivateKeyJwt(key, opts), { scope: 'mcp:read', resource: cfg.resource }, INSECURE)
      .then((r) => oauth.processClientCredentialsResponse(as, ccClient, r));
  const cc = await check('(c) client_credentials with private_key_jwt (ES256, aud = issuer)', async () => {
    const t = await grant();
    return Object.assign(t, { detail: `token_type ${t.token_type}, scope "${t.scope}", expires_in ${t.expires_in}` });
  });
  if (cc) await verifyAccessToken('client_credentials', cc.access_token, { clientId: cfg.ccClientId, scopes: ['mcp:read'] });
  await check('(c) private_key_jwt with aud = the token endpoint is accepted', async () => {
    const t = await grant({ [oauth.modifyAssertion]: (_h, p) => void (p.aud = as.token_endpoint) });
    return `scope "${t.scope}"`;
  });
  const jti = `interop-${crypto.randomUUID()}`;
  const fixedJti = { [oauth.modifyAssertion]: (_h, p) => void (p.jti = jti) };
  const first = await check('(c) private_key_jwt assertion with a chosen jti is accepted once', async () => {
    await grant(fixedJti);
    return `jti ${jti}`;
  });
  if (first) await expectOAuthError('(c) the same assertion jti replayed is rejected', 'invalid_client', () => grant(fixedJti));
  await expectOAuthError('(c) an assertion with a foreign aud is rejected', 'invalid_client', () =>
    grant({ [oauth.modifyAssertion]: (_h, p) => void (p.aud = 'https://elsewhere.example/') }),
  );
}

await finish();

async function finish() {
  clearTimeout(watchdog);
  await browser?.close().catch(() => {});
  server.close();
  console.log(`interop: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}
