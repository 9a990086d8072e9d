// One autocannon run against a token endpoint; prints one JSON line on stdout.
//
//   node load.mjs URL CLIENT_ID CLIENT_SECRET BODY CONNECTIONS SECONDS [capture]
//
// Every request is the same POST: Basic client authentication and the form BODY.
// Latency percentiles are exact (every response time kept, sub-millisecond).
// With `capture`, the distinct bodies of up to 5 non-2xx responses are kept (this reads
// every response body, so it is only for diagnosing errors, never for measuring).
import autocannon from 'autocannon';

const [url, id, secret, body, connections, seconds, mode] = process.argv.slice(2);
const capture = mode === 'capture';
const failures = new Map();

const request = {
  method: 'POST',
  headers: {
    authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    'content-type': 'application/x-www-form-urlencoded',
  },
  body,
};
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
