// Drives Debian's Chromium (playwright-core, no bundled browser) through the mcp-auth login
// and consent pages, the way a person would: fill username/password, click "Sign in", then
// click "Allow" (or "Deny") on the consent page if the server shows one.
//
// Used by flows.mjs (our own oauth4webapi client) and conformance-driver.mjs (the official
// MCP conformance suite's authorization-code check).
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens `url` (an authorization request) in a fresh browser context and completes login and
 * consent. Returns when the browser navigates to a URL starting with `callbackPrefix`, when
 * Chromium reports a Content-Security-Policy violation, or after `timeoutMs`.
 *
 * Options:
 *   bypassCSP       run the context with CSP disabled (Playwright's bypassCSP; used only to
 *                   get past a server CSP that blocks the redirect, to test the rest)
 *   decision        'allow' (default) or 'deny'
 *   loginShot       path of a PNG screenshot of the login page (optional)
 *   consentShot     path of a PNG screenshot of the consent page (optional)
 *   log             function(string) for progress lines
 *
 * Result: { callbackUrl, cspViolations[], sawLogin, sawConsent, finalUrl, pageText, error }
 */
export async function authorizeInBrowser(browser, url, opts) {
  const {
    username,
    password,
    callbackPrefix,
    bypassCSP = false,
    decision = 'allow',
    loginShot,
    consentShot,
    timeoutMs = 20000,
    log = () => {},
  } = opts;
  const context = await browser.newContext({ bypassCSP });
  const page = await context.newPage();
  const result = {
    callbackUrl: null,
    cspViolations: [],
    sawLogin: false,
    sawConsent: false,
    finalUrl: null,
    pageText: '',
    error: null,
  };
  page.on('console', (m) => {
    const t = m.text().trim();
    if (/Content Security Policy/i.test(t)) result.cspViolations.push(t);
  });
  page.on('request', (r) => {
    if (r.isNavigationRequest() && r.url().startsWith(callbackPrefix) && !result.callbackUrl) {
      result.callbackUrl = r.url();
    }
  });
  const deadline = Date.now() + timeoutMs;
  // Waits until one of `conds` (functions) is true, or the deadline; returns its index or -1.
  const waitFor = async (...conds) => {
    while (Date.now() < deadline) {
      for (let i = 0; i < conds.length; i++) {
        if (await conds[i]().catch(() => false)) return i;
      }
      await sleep(100);
    }
    return -1;
  };
  const done = async () => result.callbackUrl !== null || result.cspViolations.length > 0;
  try {
    await page.goto(url, { waitUntil: 'load', timeout: timeoutMs });
    const signIn = page.getByRole('button', { name: 'Sign in' });
    if ((await signIn.count()) === 0) {
      result.error = `no login page at the authorization endpoint (title "${await page.title()}")`;
      return result;
    }
    result.sawLogin = true;
    log(`login page: "${await page.title()}"`);
    if (loginShot) await page.screenshot({ path: loginShot, fullPage: true });
    await page.locator('input[name="username"]').fill(username);
    await page.locator('input[name="password"]').fill(password);
    await signIn.click();
    const allow = page.getByRole('button', { name: decision === 'deny' ? 'Deny' : 'Allow' });
    const which = await waitFor(done, async () => (await allow.count()) > 0);
    if (which === 1) {
      result.sawConsent = true;
      await page.waitForLoadState('load');
      log(`consent page: "${await page.title()}"`);
      if (consentShot) await page.screenshot({ path: consentShot, fullPage: true });
      await allow.click();
      await waitFor(done);
    } else if (which === -1) {
      result.error = `neither the consent page nor the callback came after "Sign in" (at ${page.url()})`;
    }
    // A CSP violation is reported just before the navigation is dropped; give a callback that
    // is on its way a moment to show up anyway.
    if (!result.callbackUrl && result.cspViolations.length > 0) await sleep(500);
    if (!result.callbackUrl && !result.error && result.cspViolations.length === 0) {
      result.error = `the browser never reached ${callbackPrefix} (at ${page.url()})`;
    }
  } catch (e) {
    result.error = String(e?.message ?? e);
  } finally {
    result.finalUrl = page.url();
    result.pageText = (await page.locator('body').innerText().catch(() => '')).slice(0, 500);
    await context.close().catch(() => {});
  }
  return result;
}
