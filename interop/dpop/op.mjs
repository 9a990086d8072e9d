// usage: node op.mjs <config.json>
//
// npm oidc-provider as a second, independent authorization server: client_credentials, DPoP
// (features.dPoP), and resource indicators so that tokens for the gateway's resource are JWT
// access tokens (RFC 9068, typ at+jwt, RS256) bound to the DPoP key (cnf.jkt).
// config.json: { port, resource, clientId, arrayAudClientId, clientSecret, scope }. Listens on
// 127.0.0.1:port, issuer http://127.0.0.1:port; prints `ready <issuer>` on stdout once listening.
// Tokens of arrayAudClientId carry `aud` as an array (RFC 7519 §4.1.3) with a second audience,
// through formats.customizers.jwt; the others get oidc-provider's default (a string).
import Provider from 'oidc-provider';
import * as jose from 'jose';
import { readFileSync } from 'node:fs';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${cfg.port}`;

// A fresh RSA signing key (oidc-provider's default alg for JWT access tokens is RS256).
const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), use: 'sig', alg: 'RS256' };
jwk.kid = await jose.calculateJwkThumbprint(jwk);

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [cfg.clientId, cfg.arrayAudClientId].map((client_id) => ({
    client_id,
    client_secret: cfg.clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: cfg.scope,
  })),
  formats: {
    customizers: {
      jwt: (_ctx, token, jwt) => {
        if (token.clientId === cfg.arrayAudClientId) {
          jwt.payload.aud = ['https://another-resource.interop.test/', jwt.payload.aud];
        }
      },
    },
  },
  scopes: ['openid', 'offline_access', ...cfg.scope.split(' ')],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    introspection: { enabled: false },
    resourceIndicators: {
      enabled: true,
      // A client_credentials request without `resource` still gets a token for the gateway.
      defaultResource: () => cfg.resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (resourceIndicator !== cfg.resource) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: cfg.scope,
          audience: cfg.resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});
provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err));
provider.on('grant.error', (_ctx, err) => console.error('oidc-provider grant.error:', err?.message, err?.error_description ?? ''));

const server = provider.listen(cfg.port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
