// A real browser for the e2e suite: Debian's Chromium, headless, driven through playwright-core
// (which brings no browser of its own), with a fresh empty profile per launch.
//
// The fetch-based user agent (user-agent.mjs) proves the flow works without JavaScript; this
// proves what only a browser can: that the consent page renders under its own CSP (the nonce'd
// style applies), that Chromium stores the proxy's cookies and sends them back, that a real
// click on Approve carries the form through, and that another local origin cannot frame the page.
//
// Environment: E2E_CHROMIUM  the Chromium executable (default /usr/bin/chromium)

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import process from 'node:process';

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';

// The background-networking flags matter here: without them Chromium reaches for the internet
// (component updates, sync, field trials), which is closed on the test machines.
export const CHROMIUM_ARGS = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]);

/**
 * Launches Chromium with a fresh, empty user-data-dir. Resolves with `{ context, page, close }`;
 * `close()` stops the browser and removes the profile.
 */
export async function launchChromium({ timeoutMs = 30_000 } = {}) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} does not exist: install Debian's chromium (apt-get install chromium) or set E2E_CHROMIUM`);
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-oauth-e2e-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS],
      timeout: timeoutMs,
      viewport: { width: 900, height: 700 },
      deviceScaleFactor: 1,
      locale: 'en-US',
    });
  } catch (err) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  const page = context.pages()[0] ?? (await context.newPage());
  let closed = false;
  return {
    context,
    page,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await context.close();
      } finally {
        fs.rmSync(userDataDir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Records the main frame's document requests of `page` as `METHOD URL -> STATUS` lines (codes
 * and states redacted), like the fetch user agent's trail.
 */
export function recordTrail(page) {
  const trail = [];
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      trail.push(`${request.method()} ${redact(request.url())} -> ${response.status()}`);
    }
  });
  return trail;
}

function redact(url) {
  try {
    const u = new URL(url);
    for (const key of ['code', 'state', 'code_challenge', 'request']) {
      if (u.searchParams.has(key)) u.searchParams.set(key, '…');
    }
    return u.href;
  } catch {
    return url;
  }
}

function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function closeServer(server) {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Two more local origins for the framing check: a "hostile" page at `url` that embeds `target`
 * in `<iframe name="target">` next to `<iframe name="control">`, a page from a third origin
 * that allows framing and shows `#control`. The control proves that cross-origin frames do
 * render in this browser, so an empty target frame is the target's own refusal.
 */
export async function startFramingPages(target) {
  const control = await listen((_req, res) => {
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end('<!DOCTYPE html><title>control</title><p id="control">a frameable page</p>');
  });
  const controlUrl = `http://127.0.0.1:${control.address().port}/`;
  const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const hostile = await listen((_req, res) => {
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end(`<!DOCTYPE html><title>framing attempt</title>
<iframe name="control" src="${attr(controlUrl)}" width="400" height="200"></iframe>
<iframe name="target" src="${attr(target)}" width="400" height="200"></iframe>`);
  });
  return {
    url: `http://127.0.0.1:${hostile.address().port}/`,
    async close() {
      await Promise.all([closeServer(hostile), closeServer(control)]);
    },
  };
}

/** The text of a page without markup, shortened, for failure messages. */
export async function pageText(page) {
  try {
    const text = (await page.locator('body').innerText({ timeout: 2_000 })).replace(/\s+/g, ' ').trim();
    return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    return '(no text)';
  }
}
