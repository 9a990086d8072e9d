// Prints the summary table of run.sh from its results file (one JSON object a run).
//
//   node report.mjs RESULTS.jsonl HAVE_PG
import { readFileSync } from 'node:fs';

const [file, havePg] = process.argv.slice(2);
const runs = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const names = [
  ['sqlite', 'mcp-auth (SQLite)'],
  ['sqlite-base', 'mcp-auth baseline build (SQLite)'],
  ['postgres', 'mcp-auth (PostgreSQL)'],
  ['oidc-provider', 'npm oidc-provider'],
];
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

console.log('Per run:');
console.log('| run | server | load before | req/s | p50 ms | p99 ms | requests | non-2xx | errors | server CPU µs/token | load generator CPU s | status |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of runs) {
  const label = names.find(([k]) => k === r.server)[1];
  if (r.rps === undefined) {
    console.log(`| ${r.run} | ${label} | ${r.load} | — | — | — | — | — | — | — | — | INVALID: ${r.invalid} |`);
  } else {
    console.log(`| ${r.run} | ${label} | ${r.load} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.total} | ${r.non2xx} | ${r.errors + r.timeouts} | ${r.server_cpu_us_per_req.toFixed(0)}${r.pg_cpu_us_per_req != null ? ` + ${r.pg_cpu_us_per_req.toFixed(0)} PG` : ''} | ${r.loadgen_cpu_s} | ${r.invalid ? `INVALID: ${r.invalid}` : 'ok'} |`);
  }
}

const summary = {};
for (const [key] of names) {
  const all = runs.filter((r) => r.server === key);
  const valid = all.filter((r) => !r.invalid);
  summary[key] = valid.length ? {
    rps: mean(valid.map((r) => r.rps)),
    p50: mean(valid.map((r) => r.p50)),
    p99: mean(valid.map((r) => r.p99)),
    cpu: mean(valid.map((r) => r.server_cpu_us_per_req)),
    pgCpu: key === 'postgres' ? mean(valid.map((r) => r.pg_cpu_us_per_req)) : undefined,
    spread: valid.map((r) => r.rps.toFixed(0)).join(', '),
  } : undefined;
  if (summary[key]) summary[key].runs = `${valid.length}/${all.length}`;
  summary[key] ??= { runs: `0/${all.length}` };
}

const base = summary['oidc-provider']?.rps;
console.log();
console.log('Summary (mean of the valid runs; p50/p99 are the means of each run\'s exact percentiles):');
console.log('| server | req/s (runs) | p50 ms | p99 ms | errors | vs oidc-provider | server CPU µs/token |');
console.log('|---|---|---|---|---|---|---|');
for (const [key, label] of names) {
  if (!runs.some((r) => r.server === key)) {
    if (key === 'postgres' && havePg !== '1') console.log(`| ${label} | skipped: PostgreSQL not reachable | | | | | |`);
    continue;
  }
  if (key === 'postgres' && havePg !== '1') {
    console.log(`| ${label} | skipped: PostgreSQL not reachable | | | | | |`);
    continue;
  }
  const s = summary[key];
  const all = runs.filter((r) => r.server === key);
  const errs = all.reduce((a, r) => a + (r.non2xx ?? 0) + (r.errors ?? 0) + (r.timeouts ?? 0), 0);
  const invalid = all.filter((r) => r.invalid).length;
  const errText = invalid ? `${errs} (${invalid} run(s) invalid)` : String(errs);
  if (s.rps === undefined) {
    console.log(`| ${label} | no valid run | | | ${errText} | | |`);
    continue;
  }
  const ratio = base ? `${(s.rps / base).toFixed(2)}x` : 'n/a';
  console.log(`| ${label} | **${s.rps.toFixed(0)}** (${s.spread}) | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${errText} | ${ratio} | ${s.cpu.toFixed(0)}${s.pgCpu !== undefined ? ` + ${s.pgCpu.toFixed(0)} PostgreSQL` : ''} |`);
}
if (summary.sqlite?.rps !== undefined && summary['sqlite-base']?.rps !== undefined) {
  const now = summary.sqlite;
  const was = summary['sqlite-base'];
  console.log();
  console.log(`This build vs the baseline build (SQLite): ${(now.rps / was.rps).toFixed(3)}x req/s, ` +
    `server CPU ${now.cpu.toFixed(0)} vs ${was.cpu.toFixed(0)} µs/token (${(now.cpu / was.cpu).toFixed(3)}x).`);
}
console.log();
console.log('server CPU: user + system time of the server process during the measured seconds, over the tokens issued');
console.log('(for mcp-auth on PostgreSQL, "+ N PostgreSQL" is the CPU of all postgres processes over the same tokens).');
console.log('load generator CPU: autocannon\'s own process, in seconds of the measured run (one node thread;');
console.log('near the measured seconds it is the bottleneck, and the server\'s figure is a lower bound).');
console.log('"load before" is /proc/loadavg before the server starts; the benchmark itself loads both cores, so from');
console.log('the second run on it mostly shows the previous run.');
