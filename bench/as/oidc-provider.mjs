// A minimal npm oidc-provider (9.x) set up to do what `mcp-auth as` does for the
// client_credentials benchmark: one confidential client (client_secret_basic, only
// client_credentials), RFC 8707 resource indicators, and RFC 9068 JWT access tokens
// (typ at+jwt) signed EdDSA with an Ed25519 key generated at start.
//
//   node oidc-provider.mjs PORT CLIENT_ID CLIENT_SECRET RESOURCE [SCOPE]
//
// oidc-provider keeps static clients in memory and does not store JWT-format access
// tokens (formats/jwt.js returns no payload, so BaseModel#save writes nothing), so it
// does no storage work per token. It logs nothing per request.
import * as crypto from 'node:crypto';

import Provider from 'oidc-provider';

const [port = '4000', clientId = 'bench', clientSecret = 'bench-secret',
  resource = 'http://127.0.0.1:3000/mcp', scope = 'mcp:read'] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = crypto.generateKeyPairSync('ed25519');
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-ed25519', alg: 'EdDSA', use: 'sig' };

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope,
  }],
  scopes: [scope],
  // The same lifetime as mcp-auth's default access_token_ttl (300 s).
  ttl: { ClientCredentials: 300 },
  // The provider's default signing alg (RS256) has no key here; EdDSA is the only one.
  clientDefaults: { id_token_signed_response_alg: 'EdDSA' },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // RFC 9449 proofs, when a request carries one (BENCH_DPOP in run.sh); no nonces.
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (resourceIndicator !== resource) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope,
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'EdDSA' } },
        };
      },
    },
  },
});

provider.on('server_error', (_ctx, err) => {
  console.error('server_error', err);
});

const server = provider.listen(Number(port), '127.0.0.1', () => {
  console.error(`oidc-provider ${issuer} listening (pid ${process.pid})`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
