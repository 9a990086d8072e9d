// usage: node keys.mjs <out-prefix>
// Generates an EC P-256 key pair with node:crypto (independent of mcp-auth's own keygen) and
// writes <prefix>.private.jwk (mode 0600) and <prefix>.jwks.json ({"keys": [public JWK]}),
// with kid = the RFC 7638 thumbprint (computed by jose). Prints the kid.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { calculateJwkThumbprint } from 'jose';

const prefix = process.argv[2];
if (!prefix) {
  console.error('usage: node keys.mjs <out-prefix>');
  process.exit(2);
}
const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pub = publicKey.export({ format: 'jwk' });
const kid = await calculateJwkThumbprint(pub, 'sha256');
const meta = { alg: 'ES256', use: 'sig', kid };
writeFileSync(`${prefix}.private.jwk`, JSON.stringify({ ...privateKey.export({ format: 'jwk' }), ...meta }), {
  mode: 0o600,
});
writeFileSync(`${prefix}.jwks.json`, JSON.stringify({ keys: [{ ...pub, ...meta }] }, null, 2));
console.log(kid);
