// One autocannon run against a token endpoint; prints one JSON line on stdout.
//
//   node load.mjs URL CLIENT_ID CLIENT_SECRET BODY CONNECTIONS SECONDS [capture] [dpop-es256|dpop-eddsa]
//
// Every request is the same POST: Basic client authentication and the form BODY.
// Latency percentiles are exact (every response time kept, sub-millisecond).
// With `capture`, the distinct bodies of up to 5 non-2xx responses are kept (this reads
// every response body, so it is only for diagnosing errors, never for measuring).
// With `dpop-es256` or `dpop-eddsa`, every request also carries a fresh RFC 9449 DPoP
// proof (a new `jti`) made by one key of that type, as a client holding one key does;
// the proofs are made before the measured run starts.
// With `check`, one request is sent and its status and JSON answer printed, no load.
import * as crypto from 'node:crypto';

import autocannon from 'autocannon';

const [url, id, secret, body, connections, seconds, ...modes] = process.argv.slice(2);
const capture = modes.includes('capture');
const dpop = modes.find((m) => m.startsWith('dpop-'));
const failures = new Map();

const request = {
  method: 'POST',
  headers: {
    authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded',
  },
  body,
};
if (dpop) {
  // Made before the clock starts (20,000 per measured second, more than any server here
  // answers), so that making proofs does not make this process the bottleneck; each is
  // used once, well within the servers' 60 s proof window; beyond them, made on the fly.
  const prove = dpopProver(dpop, url);
  const ready = Array.from({ length: modes.includes('check') ? 0 : Number(seconds) * 20000 }, prove);
  request.setupRequest = (req) => ({ ...req, headers: { ...req.headers, dpop: ready.pop() ?? prove() } });
}
if (modes.includes('check')) {
  const headers = { ...request.headers };
  if (request.setupRequest) headers.dpop = request.setupRequest(request).headers.dpop;
  const answer = await fetch(url, { method: 'POST', headers, body });
  process.stdout.write(`${answer.status} ${await answer.text()}\n`);
  process.exit(0);
}
if (capture) {
  request.onResponse = (status, resBody) => {
    if ((status < 200 || status > 299) && failures.size < 5) {
      const key = `${status} ${String(resBody).slice(0, 400)}`;
      failures.set(key, (failures.get(key) ?? 0) + 1);
    } else if (status < 200 || status > 299) {
      const key = `${status} ${String(resBody).slice(0, 400)}`;
      if (failures.has(key)) failures.set(key, failures.get(key) + 1);
    }
  };
}

// autocannon's own latency histogram has 1 ms resolution, too coarse here; keep every
// response time (ms, from process.hrtime) and take the percentiles from those.
const times = [];
const cpu0 = process.cpuUsage();
const result = await autocannon({
  url,
  setupClient: (client) => client.on('response', (_status, _bytes, ms) => times.push(ms)),
  connections: Number(connections),
  duration: Number(seconds),
  pipelining: 1,
  requests: [request],
});

const cpu = process.cpuUsage(cpu0);
times.sort((a, b) => a - b);
const pct = (q) => (times.length ? times[Math.min(times.length - 1, Math.floor(q * times.length))] : NaN);
const round = (x) => Math.round(x * 100) / 100;

const statusCodes = Object.fromEntries(
  Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, count]),
);
process.stdout.write(`${JSON.stringify({
  rps: result.requests.average,
  total: result.requests.total,
  duration: result.duration,
  p50: round(pct(0.5)),
  p99: round(pct(0.99)),
  max_latency: round(times.at(-1) ?? NaN),
  mean_latency: result.latency.average,
  non2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
  resets: result.resets,
  loadgen_cpu_s: round((cpu.user + cpu.system) / 1e6),
  statusCodes,
  failures: Object.fromEntries(failures),
})}\n`);

/// A function making a DPoP proof for `POST target` with one key of `kind`.
function dpopProver(kind, target) {
  const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
  const es256 = kind === 'dpop-es256';
  const { privateKey, publicKey } = es256
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('ed25519');
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const header = b64({ typ: 'dpop+jwt', alg: es256 ? 'ES256' : 'EdDSA', jwk: es256 ? { kty, crv, x, y } : { kty, crv, x } });
  return () => {
    const input = `${header}.${b64({ jti: crypto.randomUUID(), htm: 'POST', htu: target, iat: Math.floor(Date.now() / 1000) })}`;
    const signature = es256
      ? crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
      : crypto.sign(null, Buffer.from(input), privateKey);
    return `${input}.${signature.toString('base64url')}`;
  };
}

