// usage: node conformance-driver.mjs <config.json>   (conformance.sh writes the config)
//
// Runs the official MCP conformance suite's `authorization` command against our authorization
// server, watches its output for the authorization URL it prints, and completes login and
// consent in headless Chromium so that the browser's redirect reaches the suite's own
// callback server. Then reads every checks.json the suite wrote and prints one line per check:
//   PASS|FAIL|WARN|SKIP <label> <scenario>/<check id> — message
// and last `conformance-run: P passed, F failed, W warnings, S skipped, X xfail` (conformance.sh adds
// up the runs). The browser step is a check of its own (the suite cannot see it).
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, authorizeInBrowser } from './browser.mjs';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
// cfg: node, suite, label, issuer, resource, clientId, clientSecret?, port, outDir, logFile, user, shotsDir
const counts = { passed: 0, failed: 0, warnings: 0, skipped: 0, xfail: 0 };
const line = (tag, name, msg) => console.log(`${tag} ${cfg.label} ${name}${msg ? ` — ${msg}` : ''}`);
const own = (ok, name, msg) => {
  ok ? counts.passed++ : counts.failed++;
  line(ok ? 'PASS' : 'FAIL', name, msg);
};

const args = [cfg.suite, 'authorization', '--url', cfg.issuer, '--client-id', cfg.clientId, '--resource', cfg.resource, '-p', String(cfg.port), '-o', cfg.outDir];
if (cfg.clientSecret) args.push('--client-secret', cfg.clientSecret);
console.log(`# ${cfg.label}: node ${args.map((a) => (a === cfg.clientSecret ? '<secret>' : a)).join(' ')}`);
const log = createWriteStream(cfg.logFile);
const child = spawn(cfg.node, args, { stdio: ['ignore', 'pipe', 'pipe'] });
const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

let authUrlResolve;
const authUrl = new Promise((r) => (authUrlResolve = r));
let buf = '';
child.stdout.on('data', (d) => {
  log.write(d);
  buf += d.toString();
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const l = buf.slice(0, i).trim();
    buf = buf.slice(i + 1);
    if (/^https?:\/\/\S+\?\S*response_type=code\S*$/.test(l)) authUrlResolve(l);
  }
});
child.stderr.on('data', (d) => log.write(d));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const first = await Promise.race([authUrl.then((u) => ({ url: u })), exited.then((e) => ({ exit: e })), sleep(60_000).then(() => ({ timeout: true }))]);

let browserDone = false;
if (first.url) {
  console.log(`# ${cfg.label}: the suite asks the browser to open ${first.url}`);
  const browser = await launchBrowser();
  const callbackPrefix = `http://127.0.0.1:${cfg.port}/callback`;
  const opts = { ...cfg.user, callbackPrefix, log: (l) => console.log(`# ${cfg.label}: ${l}`) };
  let nav = await authorizeInBrowser(browser, first.url, {
    ...opts,
    loginShot: join(cfg.shotsDir, `${cfg.label}-login.png`),
    consentShot: join(cfg.shotsDir, `${cfg.label}-consent.png`),
  });
  own(
    nav.callbackUrl !== null,
    'browser/login-consent-reach-suite-callback',
    nav.callbackUrl
      ? `login${nav.sawConsent ? ' + consent' : ''}, then the suite's callback`
      : `blocked (server CSP enforced): ${nav.cspViolations[0] ?? nav.error}`,
  );
  if (!nav.callbackUrl && nav.cspViolations.length) {
    console.log(`# ${cfg.label}: retrying in a browser context with CSP bypassed, so the suite can check the rest`);
    nav = await authorizeInBrowser(browser, first.url, { ...opts, bypassCSP: true });
    if (!nav.callbackUrl) console.log(`# ${cfg.label}: still no callback: ${nav.error ?? nav.cspViolations[0]}`);
  }
  browserDone = nav.callbackUrl !== null;
  await browser.close();
} else {
  own(false, 'suite/printed-authorization-url', first.exit ? `the suite exited (${JSON.stringify(first.exit)}) first` : 'nothing within 60 s');
}

// After the callback the suite exchanges the code and exits within seconds. Without a
// callback it would wait 5 minutes: stop it (our own child) instead.
const ended = await Promise.race([exited, sleep(browserDone ? 60_000 : 3_000).then(() => null)]);
if (!ended) {
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(3000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
  console.log(`# ${cfg.label}: stopped the suite (no result in time)`);
}
const exit = await exited;
log.end();

// Every checks.json under outDir (one folder per scenario).
const files = [];
const walk = (d) => {
  if (!existsSync(d)) return;
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n === 'checks.json') files.push(p);
  }
};
walk(cfg.outDir);
const tags = { SUCCESS: 'PASS', FAILURE: 'FAIL', WARNING: 'WARN', SKIPPED: 'SKIP', INFO: 'INFO' };
// Known suite limitation (0.2.0-alpha.12): for the code exchange it picks client auth
// `none` whenever the AS lists `none` in token_endpoint_auth_methods_supported, even when
// --client-secret is given, so a confidential client is sent without its secret and a
// correct AS answers 401 invalid_client. Only that exact signature is marked XFAIL.
const meta = await fetch(`${cfg.issuer}/.well-known/oauth-authorization-server`).then((r) => r.json()).catch(() => ({}));
const suiteSendsNone = Boolean(cfg.clientSecret) && (meta.token_endpoint_auth_methods_supported ?? []).includes('none');
const knownSuiteIssue = (c) =>
  suiteSendsNone && c.id === 'authorization-code-grant' && c.status === 'FAILURE' && c.errorMessage === 'Invalid status code: 401';
// Folders are named authorization-server-<scenario>-<timestamp>: list them in run order.
const stamp = (f) => f.split('/').slice(-2)[0].match(/-(\d{4}-\d\d-\d\dT[\d-]+Z)$/)?.[1] ?? '';
for (const f of files.sort((a, b) => stamp(a).localeCompare(stamp(b)))) {
  const scenario = f
    .split('/')
    .slice(-2)[0]
    .replace(/^authorization-server-/, '')
    .replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '');
  for (const c of JSON.parse(readFileSync(f, 'utf8'))) {
    if (knownSuiteIssue(c)) {
      counts.xfail++;
      line('XFAIL', `${scenario}/${c.id} (${c.name})`, `${c.errorMessage} [known suite issue, not counted: the suite authenticated` +
        ` this confidential client with "none" (client_id only, no secret) because our metadata lists "none" among` +
        ` token_endpoint_auth_methods_supported; mcp-auth correctly answers 401 invalid_client "this client must authenticate"]`);
      continue;
    }
    const tag = tags[c.status] ?? c.status;
    if (c.status === 'SUCCESS') counts.passed++;
    else if (c.status === 'FAILURE') counts.failed++;
    else if (c.status === 'WARNING') counts.warnings++;
    else if (c.status === 'SKIPPED') counts.skipped++;
    line(tag, `${scenario}/${c.id} (${c.name})`, c.errorMessage ?? c.description);
    if (c.status === 'FAILURE' || c.status === 'WARNING') {
      const refs = (c.specReferences ?? []).map((r) => r.id ?? r.url).join(', ');
      if (refs) console.log(`#   spec: ${refs}`);
      if (c.details && Object.keys(c.details).length) console.log(`#   details: ${JSON.stringify(c.details).slice(0, 600)}`);
    }
  }
}
if (files.length === 0) own(false, 'suite/checks.json', `no checks.json under ${cfg.outDir}; see ${cfg.logFile}`);
console.log(`# ${cfg.label}: suite exit ${exit.code ?? exit.signal}; results in ${cfg.outDir}, output in ${cfg.logFile}`);
console.log(`conformance-run: ${counts.passed} passed, ${counts.failed} failed, ${counts.warnings} warnings, ${counts.skipped} skipped, ${counts.xfail} xfail`);
process.exit(counts.failed ? 1 : 0);
