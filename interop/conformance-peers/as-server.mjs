// npm oidc-provider (the version interop/dpop pins) as an authorization server for MCP, set up
// from its documented configuration: a confidential client for client_credentials, a public
// client (token_endpoint_auth_method none: PKCE required by oidc-provider's default) for the
// authorization code flow, DPoP (features.dPoP, optionally with nonces required), resource
// indicators (RFC 8707) issuing RFC 9068 JWT access tokens (RS256) for two resources. Everything
// else is oidc-provider's default (devInteractions on: the checker cannot sign in, so its login
// checks are skipped).
//
// usage: node as-server.mjs <config.json>
// config.json: { port, clientId, clientSecret, publicClientId, redirectUri, resources: [..], scope,
//   dpopNonce (optional, boolean: require DPoP nonces) }
// Issuer http://127.0.0.1:<port>; prints `ready <issuer>` once listening.
import Provider from 'oidc-provider';
import * as jose from 'jose';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${cfg.port}`;

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), use: 'sig', alg: 'RS256' };
jwk.kid = await jose.calculateJwkThumbprint(jwk);

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [
    {
      client_id: cfg.clientId,
      client_secret: cfg.clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: cfg.scope,
    },
    {
      client_id: cfg.publicClientId,
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [cfg.redirectUri],
      token_endpoint_auth_method: 'none',
      scope: `openid offline_access ${cfg.scope}`,
    },
  ],
  scopes: ['openid', 'offline_access', ...cfg.scope.split(' ')],
  features: {
    clientCredentials: { enabled: true },
    // DPoP (RFC 9449), as interop/dpop configures it (on by default in oidc-provider 9; written
    // out here). With `dpopNonce`, a nonce is required on every proof (RFC 9449 §8), sealed
    // under a secret made for this run.
    dPoP: cfg.dpopNonce
      ? { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true }
      : { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => cfg.resources[0],
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (!cfg.resources.includes(resourceIndicator)) throw new Provider.errors.InvalidTarget();
        return { scope: cfg.scope, audience: resourceIndicator, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
});
provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err));

const server = provider.listen(cfg.port, '127.0.0.1', () => console.log(`ready ${issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
