#!/usr/bin/env node
// The official MCP TypeScript SDK as the client of the MCP server behind the OAuth proxy.
//
// The SDK itself does everything a real MCP client does: protected-resource discovery (RFC 9728),
// authorization-server discovery, dynamic client registration at the proxy (RFC 7591), PKCE, the
// authorization request, the code exchange and the refresh. This script only plays the person:
// a headless user agent follows `redirectToAuthorization` (clicking through the proxy's consent
// page when there is one, then the upstream login and consent forms) and a loopback listener
// catches the redirect back to the client.
//
// Proves, in order: sign-in → `tools/call whoami` returns the test user → a refresh-token exchange
// works (the stored access token made unusable, the SDK refreshes by itself) → a request without
// a token gets 401 with `resource_metadata` in `WWW-Authenticate`.
//
// With --browser, a real headless Chromium (browser.mjs) plays the person instead: it opens the
// `/authorize` URL the SDK produced, the test checks the consent page (client name, redirect
// host, its CSP at work, that another local origin cannot frame it) and saves a full-page
// screenshot to $E2E_OUT_DIR/consent.png (default tests/e2e/out/), then clicks Approve and the
// upstream's own forms until the browser reaches the loopback redirect.
//
// With --cimd=URL, the client is identified by the https URL of its metadata document (the
// SDK's `clientMetadataUrl`) instead of registering: the consent page must then show the URL's
// host as the verified domain.
//
// With STEP_UP_SCOPE set (the example server's tool `write_note` then needs it), and the fetch
// user agent, two steps. The stock SDK first, holding its refresh token: `tools/call write_note`
// gets 403 `insufficient_scope`, the SDK refreshes (without `scope`), is answered the grant it
// had, retries once, gets the same 403 and throws; one refresh, two calls, no redirect. Then a
// client that drops its refresh token before re-authorizing (as one without a refresh token
// does): the SDK re-authorizes with the challenge's scope, the consent page lists the added
// scope (and marks the ones approved before), and the new token calls the tool.
//
// Usage: node client.mjs MCP_URL [--browser] [--cimd=URL]   (e.g. http://127.0.0.1:8080/mcp)
// Prints the `whoami` answer as JSON on stdout; the steps and a summary on stderr.
// Exit status 0 when every step passed. Bounded by E2E_CLIENT_TIMEOUT_MS (default 60000).

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { CIMD_CLIENT_NAME } from './cimd-server.mjs';
import { TEST_USER } from './fixtures.mjs';
import { Steps, assert, assertEqual, withTimeout } from './harness.mjs';
import { CookieJar, browse, startLoopbackListener } from './user-agent.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TOTAL_TIMEOUT_MS = Number(process.env.E2E_CLIENT_TIMEOUT_MS || 60_000);
const OUT_DIR = path.resolve(process.env.E2E_OUT_DIR || path.join(HERE, 'out'));
const CLIENT_INFO = { name: 'actix-mcp-oauth-e2e', version: '1.0.0' };
const CLIENT_NAME = 'actix-mcp-oauth e2e (MCP TypeScript SDK)';
// Which tokens the server behind the proxy hands out: `issued` (the proxy's own, the default)
// or `passthrough` (the provider's); the token checks below differ accordingly.
const TOKEN_MODE = process.env.E2E_TOKEN_MODE || 'issued';
// How long the consent page's Approve ignores the pointer after it renders (CSS only).
const APPROVE_DELAY_MS = 800;
// The proxy's cookies on loopback http (no `__Host-` prefix there).
const BINDING_COOKIE = 'mcp-oauth-binding';

/**
 * An in-memory `OAuthClientProvider`, as a desktop MCP client keeps one per server. The browser
 * step is delegated: `redirectToAuthorization` hands the URL to the headless user agent.
 */
class InMemoryOAuthProvider {
  constructor(redirectUri, onRedirect) {
    this._redirectUri = redirectUri;
    this._onRedirect = onRedirect;
    this._clientInformation = undefined;
    this._tokens = undefined;
    this._codeVerifier = undefined;
    this._discovery = undefined;
    this.expectedState = undefined;
    this.redirects = [];
    this.savedTokens = [];
    this.registrations = 0;
    this.invalidations = [];
  }

  get redirectUrl() {
    return this._redirectUri;
  }

  /** Set for a client identified by its metadata document's URL; the SDK then skips /register. */
  get clientMetadataUrl() {
    return this.metadataUrl;
  }

  get clientMetadata() {
    return {
      client_name: CLIENT_NAME,
      redirect_uris: [this._redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() {
    this.expectedState = crypto.randomBytes(16).toString('base64url');
    return this.expectedState;
  }

  clientInformation() {
    return this._clientInformation;
  }

  saveClientInformation(info) {
    this.registrations += 1;
    this._clientInformation = info;
  }

  tokens() {
    return this._tokens;
  }

  saveTokens(tokens) {
    this.savedTokens.push(tokens);
    this._tokens = tokens;
  }

  /**
   * Test hook: forgets the refresh token. On 403 `insufficient_scope` SDK 1.32 tries a refresh
   * first, which (RFC 6749 §6: never wider) answers the same scopes, and then gives up (the
   * step before the hooked one shows it); a client without a refresh token (Claude keeps none)
   * re-authorizes instead.
   */
  dropRefreshToken() {
    const { refresh_token: _dropped, ...rest } = this._tokens;
    this._tokens = rest;
  }

  /** Test hook: replaces the stored access token, keeping the refresh token. */
  spoilAccessToken() {
    this._tokens = { ...this._tokens, access_token: `spoiled-${crypto.randomBytes(16).toString('base64url')}` };
    return this._tokens.access_token;
  }

  redirectToAuthorization(url) {
    this.redirects.push(url);
    this._onRedirect(url);
  }

  saveCodeVerifier(verifier) {
    this._codeVerifier = verifier;
  }

  codeVerifier() {
    if (!this._codeVerifier) throw new Error('no code verifier saved');
    return this._codeVerifier;
  }

  saveDiscoveryState(state) {
    this._discovery = state;
  }

  discoveryState() {
    return this._discovery;
  }

  invalidateCredentials(scope) {
    this.invalidations.push(scope);
    if (scope === 'all' || scope === 'client') this._clientInformation = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._codeVerifier = undefined;
    if (scope === 'all' || scope === 'discovery') this._discovery = undefined;
  }
}

/** `fetch` that records what the SDK asks of the network (grant types, not secrets). */
function recordingFetch(log) {
  return async (input, init = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const method = (init.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const entry = { method, url: `${url.origin}${url.pathname}` };
    const body = init.body;
    if (typeof body === 'string' || body instanceof URLSearchParams) {
      const form = new URLSearchParams(body.toString());
      if (form.has('grant_type')) {
        entry.grantType = form.get('grant_type');
        entry.sentScope = form.has('scope');
      }
    }
    const response = await fetch(input, init);
    entry.status = response.status;
    const challenge = response.headers.get('www-authenticate');
    if (challenge) entry.challenge = challenge;
    log.push(entry);
    return response;
  };
}

function whoamiFrom(result) {
  if (result.isError) {
    throw new Error(`whoami returned an error: ${JSON.stringify(result.content)}`);
  }
  if (result.structuredContent && typeof result.structuredContent === 'object') return result.structuredContent;
  const text = result.content?.find((c) => c.type === 'text')?.text;
  if (!text) throw new Error(`whoami returned no text content: ${JSON.stringify(result)}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`whoami text is not JSON: ${text}`);
  }
}

function assertTestUser(who) {
  const id = who.id ?? who.user_id;
  assertEqual(id, TEST_USER.sub, 'whoami id');
  assertEqual(who.email, TEST_USER.email, 'whoami email');
  assertEqual(who.name, TEST_USER.name, 'whoami name');
  assert(Array.isArray(who.scopes) && who.scopes.length > 0, `whoami scopes is a non-empty list (got ${JSON.stringify(who.scopes)})`);
}

async function connect(mcpUrl, authProvider, log) {
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider, fetch: recordingFetch(log) });
  const client = new Client(CLIENT_INFO);
  await client.connect(transport);
  return { client, transport };
}

/** The fetch user agent's walk, started when the SDK redirects: resolves with the callback. */
async function signInWithUserAgent(steps, walk, listener, provider) {
  return steps.step('the user agent completes the sign-in (consent, upstream login and consent) and reaches the loopback redirect', async () => {
    const result = await walk;
    process.stderr.write(`    user agent trail:\n${result.trail.map((t) => `      ${t}`).join('\n')}\n`);
    return checkedCallback(listener, provider);
  });
}

async function checkedCallback(listener, provider) {
  const cb = await listener.waitForCallback(2_000);
  assert(!cb.error, `no error at the redirect (got ${cb.error}: ${cb.errorDescription})`);
  assert(cb.code, 'a code at the redirect');
  assertEqual(cb.state, provider.expectedState, 'state returned unchanged');
  return cb;
}

/**
 * The same sign-in in a real Chromium: the test opens the SDK's `/authorize` URL in the browser,
 * checks and photographs the consent page, checks it cannot be framed, clicks Approve, and
 * submits the upstream's forms until the browser lands on the loopback redirect. Resolves with
 * the callback (or undefined after a failed step).
 */
/** A plain click at the centre of `selector`: no waiting for it to be ready, unlike `locator.click`. */
async function clickCentre(page, selector) {
  await page.locator(selector).scrollIntoViewIfNeeded();
  const box = await page.locator(selector).boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
}

async function signInWithChromium(steps, authorizeUrl, listener, provider, mcpUrl) {
  const { launchChromium, pageText, recordTrail, startFramingPages, CHROMIUM } = await import('./browser.mjs');
  const redirect = new URL(listener.redirectUri);
  const serverOrigin = new URL(mcpUrl).origin;
  const browser = await steps.step(`Chromium (${CHROMIUM}) starts headless with a fresh profile`, () => launchChromium({ timeoutMs: 40_000 }), { timeoutMs: 45_000 });
  if (!browser) return undefined;
  const { context, page } = browser;
  const trail = recordTrail(page);
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));

  try {
    let consentUrl;
    await steps.step('in Chromium, /authorize lands on the consent page, which names the client and the redirect host', async () => {
      const response = await page.goto(authorizeUrl, { waitUntil: 'load' });
      const here = new URL(page.url());
      assertEqual(`${here.origin}${here.pathname}`, `${serverOrigin}/consent`, 'the page after /authorize');
      assertEqual(response?.status(), 200, 'consent page status');
      consentUrl = page.url();
      const headers = response.headers();
      assert(/frame-ancestors 'none'/.test(headers['content-security-policy'] ?? ''), `CSP frame-ancestors 'none' (got ${headers['content-security-policy']})`);
      assertEqual(headers['x-frame-options'], 'DENY', 'X-Frame-Options');
      const heading = await page.locator('h1').innerText();
      const name = provider.metadataUrl ? CIMD_CLIENT_NAME : CLIENT_NAME;
      assert(heading.includes(name), `the heading names the client (got ${JSON.stringify(heading)})`);
      if (provider.metadataUrl) {
        const verified = (await page.locator('#verified-domain').innerText()).trim();
        assertEqual(verified, new URL(provider.metadataUrl).hostname, 'the verified domain shown');
      }
      assertEqual((await page.locator('#redirect-host').innerText()).trim(), redirect.host, 'the redirect host shown');
      assertEqual((await page.locator('#redirect-uri').innerText()).trim(), redirect.href, 'the full redirect URI shown');
      assert(await page.locator('#approve').isVisible(), 'Approve is visible');
      assert(await page.locator('#deny').isVisible(), 'Deny is visible');
      // The page's only style is nonce'd under `default-src 'none'`: Approve is filled only if
      // Chromium applied it, and a blocked style would show as a CSP console error.
      const [approveBg, denyBg] = await Promise.all(
        ['#approve', '#deny'].map((sel) => page.locator(sel).evaluate((el) => getComputedStyle(el).backgroundColor)),
      );
      assert(approveBg !== denyBg && approveBg !== 'rgba(0, 0, 0, 0)', `the page's style applies (Approve ${approveBg}, Deny ${denyBg})`);
      assertEqual(problems, [], 'console errors on the consent page');
    }, { timeoutMs: 30_000 });

    await steps.step('a full-page screenshot of the consent page is saved', async () => {
      fs.mkdirSync(OUT_DIR, { recursive: true });
      const file = path.join(OUT_DIR, provider.metadataUrl ? 'consent-cimd.png' : 'consent.png');
      fs.rmSync(file, { force: true });
      await page.screenshot({ path: file, fullPage: true });
      const size = fs.statSync(file).size;
      assert(size > 10_000, `a real screenshot (${size} bytes)`);
      process.stderr.write(`    screenshot: ${path.relative(process.cwd(), file) || file}\n`);
    });

    await steps.step("in Chromium, another local origin cannot frame the consent page (frame-ancestors 'none')", async () => {
      const framing = await startFramingPages(consentUrl);
      const attacker = await context.newPage();
      try {
        const blocked = [];
        const messages = [];
        attacker.on('requestfailed', (r) => {
          if (r.url() === consentUrl) blocked.push(r.failure()?.errorText);
        });
        attacker.on('console', (msg) => messages.push(msg.text()));
        await attacker.goto(framing.url, { waitUntil: 'load' });
        const control = attacker.frame({ name: 'control' });
        assert(control, 'the control frame exists');
        assertEqual(await control.locator('#control').count(), 1, 'the control page (another origin) renders in its frame');
        // Blocked by the response: the page was fetched and Chromium refused to show it, for
        // the page's own policy (and said which).
        assertEqual(blocked, ['net::ERR_BLOCKED_BY_RESPONSE'], 'how the framed consent page failed');
        assert(
          messages.some((m) => m.includes('frame-ancestors') && m.includes("'none'")),
          `Chromium reports the frame-ancestors refusal (console: ${JSON.stringify(messages)})`,
        );
        const target = attacker.frame({ name: 'target' });
        assert(target, 'the target frame exists');
        assert(!target.url().startsWith(serverOrigin), `the frame holds no page of the server (at ${target.url()})`);
        assertEqual(await target.locator('#approve, #redirect-host, form').count(), 0, 'consent page elements inside the frame');
      } finally {
        await attacker.close();
        await framing.close();
      }
    }, { timeoutMs: 30_000 });

    await steps.step(`in Chromium, Approve is inert for ${APPROVE_DELAY_MS} ms after the page renders: a click at once does nothing`, async () => {
      await page.bringToFront();
      await page.goto(consentUrl, { waitUntil: 'load' });
      const inert = await page.locator('#approve').evaluate((el) => getComputedStyle(el).pointerEvents);
      await clickCentre(page, '#approve');
      assertEqual(inert, 'none', "Approve's pointer-events when clicked");
      await page.waitForTimeout(300);
      assertEqual(page.url(), consentUrl, 'the page after a click at once');
    }, { timeoutMs: 15_000 });

    return await steps.step('in Chromium, Approve clicked after the delay goes upstream; its sign-in and consent forms are submitted; the browser reaches the loopback redirect', async () => {
      await page.waitForTimeout(APPROVE_DELAY_MS + 200);
      await clickCentre(page, '#approve');
      await page.waitForURL((u) => !u.href.startsWith(`${serverOrigin}/consent`), { timeout: 10_000 });
      const binding = (await context.cookies(serverOrigin)).find((c) => c.name === BINDING_COOKIE);
      assert(binding, `the binding cookie ${BINDING_COOKIE} is stored (cookies: ${(await context.cookies(serverOrigin)).map((c) => c.name).join(', ')})`);
      assert(binding.httpOnly, 'the binding cookie is HttpOnly');
      assertEqual(binding.sameSite, 'Lax', 'the binding cookie SameSite');
      // The upstream's login, then its consent: plain forms, each submitted by its forward button.
      const forward = page.locator('form button[type="submit"][value="sign-in"], form button[type="submit"][value="allow"]');
      const upstream = [];
      for (let i = 0; i < 4 && !page.url().startsWith(listener.redirectUri); i += 1) {
        await page.waitForLoadState('load');
        if (page.url().startsWith(listener.redirectUri)) break;
        if ((await forward.count()) !== 1) {
          throw new Error(`stuck at ${page.url()}: ${await pageText(page)}`);
        }
        upstream.push(new URL(page.url()).origin);
        await forward.click();
      }
      await page.waitForURL((u) => u.href.startsWith(listener.redirectUri), { timeout: 10_000 });
      process.stderr.write(`    Chromium trail:\n${trail.map((t) => `      ${t}`).join('\n')}\n`);
      assert(upstream.length >= 1 && upstream.every((o) => o !== serverOrigin), `the upstream's own pages came after Approve (${JSON.stringify(upstream)})`);
      assert((await page.locator('body').innerText()).includes('Signed in'), 'the loopback page is shown');
      return checkedCallback(listener, provider);
    }, { timeoutMs: 40_000 });
  } finally {
    await browser.close().catch((err) => process.stderr.write(`    closing Chromium: ${err.message}\n`));
  }
}

async function main() {
  const args = process.argv.slice(2);
  const useBrowser = args.includes('--browser');
  const cimdUrl = args.find((a) => a.startsWith('--cimd='))?.slice('--cimd='.length);
  const mcpUrl = args.find((a) => !a.startsWith('--')) ?? process.env.MCP_URL;
  if (!mcpUrl || args.some((a) => a.startsWith('--') && a !== '--browser' && !a.startsWith('--cimd='))) {
    process.stderr.write('usage: node client.mjs MCP_URL [--browser] [--cimd=URL]\n');
    process.exit(2);
  }
  const steps = new Steps(`e2e (MCP TypeScript SDK client${useBrowser ? ', Chromium' : ''}${cimdUrl ? ', metadata document' : ''})`);
  const log = [];
  const jar = new CookieJar();
  const listener = await startLoopbackListener();
  let walk;
  let holdWalk = false;
  const provider = new InMemoryOAuthProvider(listener.redirectUri, (url) => {
    // With a browser the test itself opens the URL (kept in `provider.redirects`); so does the
    // step-up step, which looks at the consent page first.
    if (useBrowser || holdWalk) return;
    walk = browse(url.href, { stopAt: listener.redirectUri, jar });
    // Observed later; keep an early failure from being an unhandled rejection meanwhile.
    walk.catch(() => {});
  });
  provider.metadataUrl = cimdUrl;
  const open = [];
  let whoami;

  try {
    await steps.step('an unauthenticated connect makes the SDK discover, register and redirect to /authorize', async () => {
      const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: recordingFetch(log) });
      const client = new Client(CLIENT_INFO);
      open.push(client);
      let error;
      try {
        await client.connect(transport);
      } catch (err) {
        error = err;
      }
      assert(error instanceof UnauthorizedError, `connect fails with UnauthorizedError (got ${error?.stack ?? 'success'})`);
      assertEqual(provider.registrations, 1, 'client information saved');
      if (cimdUrl) {
        assertEqual(provider.clientInformation()?.client_id, cimdUrl, 'the client id is the metadata document URL');
        assert(!log.some((e) => e.url.endsWith('/register')), 'no dynamic registration');
      }
      assertEqual(provider.redirects.length, 1, 'redirects to authorization');
      assert(log.some((e) => e.url.includes('/.well-known/oauth-protected-resource') && e.status === 200), 'protected resource metadata fetched');
      assert(
        log.some((e) => (e.url.includes('/.well-known/oauth-authorization-server') || e.url.includes('/.well-known/openid-configuration')) && e.status === 200),
        'authorization server metadata fetched',
      );
      const authorizeUrl = provider.redirects[0];
      assertEqual(authorizeUrl.searchParams.get('code_challenge_method'), 'S256', 'PKCE method');
      assertEqual(authorizeUrl.searchParams.get('state'), provider.expectedState, 'state sent');
    });

    const callback = useBrowser && steps.ok
      ? await signInWithChromium(steps, provider.redirects[0].href, listener, provider, mcpUrl)
      : await signInWithUserAgent(steps, walk, listener, provider);

    await steps.step('finishAuth exchanges the code at the proxy for tokens (access + refresh)', async () => {
      const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: recordingFetch(log) });
      await transport.finishAuth(callback.code);
      const tokens = provider.tokens();
      assert(tokens?.access_token, 'an access token');
      assert(tokens?.refresh_token, 'a refresh token');
      assert(log.some((e) => e.grantType === 'authorization_code' && e.status === 200), 'authorization_code grant answered 200');
      const parts = tokens.access_token.split('.').length;
      if (TOKEN_MODE === 'issued') {
        assertEqual(parts, 5, "the proxy's own access token (a compact JWE): parts");
        assert(!('id_token' in tokens), 'no id_token passed on');
        assert(tokens.expires_in > 0 && tokens.expires_in <= 3600, `expires_in ${tokens.expires_in}`);
        assert(tokens.access_token.length <= 1536, `issued access token of ${tokens.access_token.length} bytes`);
      } else {
        assertEqual(parts, 3, "the provider's JWT access token, passed through: parts");
      }
    });

    whoami = await steps.step('tools/call whoami (reconnected with the token) returns the test user', async () => {
      const { client } = await connect(mcpUrl, provider, log);
      open.push(client);
      const tools = await client.listTools();
      assert(tools.tools.some((t) => t.name === 'whoami'), 'the server lists whoami');
      const who = whoamiFrom(await client.callTool({ name: 'whoami', arguments: {} }));
      assertTestUser(who);
      return who;
    });

    await steps.step('with the access token made unusable, the SDK refreshes it through the proxy and whoami still answers', async () => {
      const before = provider.tokens();
      const spoiled = provider.spoilAccessToken();
      const refreshGrantsBefore = log.filter((e) => e.grantType === 'refresh_token').length;
      const { client } = await connect(mcpUrl, provider, log);
      open.push(client);
      const refreshes = log.filter((e) => e.grantType === 'refresh_token');
      assertEqual(refreshes.length - refreshGrantsBefore, 1, 'refresh_token grants sent');
      assertEqual(refreshes.at(-1).status, 200, 'refresh_token grant status');
      const after = provider.tokens();
      assert(after.access_token !== spoiled && after.access_token !== before.access_token, 'a new access token was saved');
      assertEqual(provider.redirects.length, 1, 'no second authorization redirect');
      assertTestUser(whoamiFrom(await client.callTool({ name: 'whoami', arguments: {} })));
      if (TOKEN_MODE === 'issued') {
        assert(after.refresh_token && after.refresh_token !== before.refresh_token, 'the refresh token was rotated');
        // The refresh token it replaced is refused from now on.
        const replay = await fetch(new URL('/token', mcpUrl), {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'refresh_token',
            refresh_token: before.refresh_token,
            client_id: provider.clientInformation().client_id,
          }),
          signal: AbortSignal.timeout(5_000),
        });
        assertEqual(replay.status, 400, 'status of the replayed refresh token');
        assertEqual((await replay.json()).error, 'invalid_grant', 'error of the replayed refresh token');
      }
    });

    const stepUp = process.env.STEP_UP_SCOPE;
    if (stepUp && !useBrowser && !cimdUrl) {
      await steps.step(`a stock SDK holding a refresh token, on tools/call write_note without ${stepUp}: it refreshes without scope, gets the same grant, the retried call the same 403, and it throws instead of looping`, async () => {
        // SDK 1.32 on 403 insufficient_scope calls auth() with the challenge's scope; auth()
        // refreshes first when it holds a refresh token, and a refresh carries no `scope`.
        const before = provider.tokens();
        assert(before?.refresh_token, 'the client holds a refresh token');
        const grantedBefore = (before.scope ?? '').split(' ').filter(Boolean).sort();
        const redirects = provider.redirects.length;
        const invalidations = provider.invalidations.length;
        holdWalk = true;
        const { client } = await connect(mcpUrl, provider, log);
        open.push(client);
        const from = log.length;
        const started = Date.now();
        let error;
        try {
          await withTimeout(client.callTool({ name: 'write_note', arguments: {} }), 10_000, 'tools/call write_note');
        } catch (err) {
          error = err;
        }
        const elapsed = Date.now() - started;
        holdWalk = false;
        const during = log.slice(from);
        const mcpPath = new URL(mcpUrl).pathname;
        const toToken = during.filter((e) => e.url.endsWith('/token'));
        const calls = during.filter((e) => e.method === 'POST' && new URL(e.url).pathname === mcpPath);
        process.stderr.write(`    requests: ${during.map((e) => `${e.method} ${new URL(e.url).pathname}${e.grantType ? ` ${e.grantType}` : ''} ${e.status}`).join(', ')} (${elapsed} ms)\n`);
        assert(error && !(error instanceof UnauthorizedError), `the SDK surfaces an error, not a redirect (got ${error?.stack ?? 'success'})`);
        assertEqual(error.code, 403, 'the error\'s HTTP status');
        assert(/after trying upscoping/.test(error.message), `the SDK's own loop guard (got ${error.message})`);
        assertEqual(toToken.length, 1, 'requests to /token');
        assertEqual(toToken[0].grantType, 'refresh_token', 'the one token request');
        assertEqual(toToken[0].sentScope, false, 'the refresh sends scope');
        assertEqual(toToken[0].status, 200, 'the refresh answer');
        assertEqual(calls.length, 2, 'tools/call POSTs (the call and its one retry)');
        for (const call of calls) {
          assertEqual(call.status, 403, 'tools/call status');
          assert(/error="insufficient_scope"/.test(call.challenge ?? ''), `insufficient_scope (got ${call.challenge})`);
        }
        assertEqual(calls[1].challenge, calls[0].challenge, 'the retried call\'s challenge, byte for byte');
        const challenged = (/scope="([^"]*)"/.exec(calls[1].challenge)?.[1] ?? '').split(' ');
        assert(challenged.includes(stepUp), `the 403 names ${stepUp}, which the token lacks (got ${calls[1].challenge})`);
        const after = provider.tokens();
        assert(after.access_token !== before.access_token, 'the refresh saved a new access token');
        const grantedAfter = (after.scope ?? '').split(' ').filter(Boolean).sort();
        assertEqual(grantedAfter, grantedBefore, 'the refreshed grant (never widened)');
        assert(!grantedAfter.includes(stepUp), `the refreshed grant lacks ${stepUp}`);
        for (const held of grantedAfter.filter((s) => ['openid', 'email', 'profile'].includes(s))) {
          assert(challenged.includes(held), `the 403 names ${held}, which the token holds (got ${calls[1].challenge})`);
        }
        assertEqual(provider.redirects.length, redirects, 'authorization redirects');
        assertEqual(provider.invalidations.length, invalidations, 'credentials invalidated');
        assert(elapsed < 10_000, `bounded: ${elapsed} ms`);
      });

      await steps.step(`tools/call write_note without ${stepUp}: 403 insufficient_scope, the SDK re-authorizes for it, the consent page lists it, the new token calls the tool`, async () => {
        // The scopes this server defines that the token holds now: the step-up keeps them
        // because the 403 names them, whichever browser or registration the client uses.
        const heldBefore = (provider.tokens().scope ?? '').split(' ').filter((s) => ['openid', 'email', 'profile'].includes(s));
        assert(heldBefore.length > 0, `the first token holds some of openid email profile (got ${provider.tokens().scope})`);
        provider.dropRefreshToken();
        holdWalk = true;
        const { client } = await connect(mcpUrl, provider, log);
        open.push(client);
        const redirects = provider.redirects.length;
        let error;
        try {
          await client.callTool({ name: 'write_note', arguments: {} });
        } catch (err) {
          error = err;
        }
        holdWalk = false;
        const refused = log.filter((e) => e.status === 403).at(-1);
        assert(refused, 'the tool call was answered 403');
        const challenged = (/scope="([^"]*)"/.exec(refused.challenge ?? '')?.[1] ?? '').split(' ');
        assert(challenged.includes(stepUp), `the 403 names ${stepUp} (got ${refused.challenge})`);
        for (const held of heldBefore) {
          assert(challenged.includes(held), `the 403 names ${held}, which the token holds (got ${refused.challenge})`);
        }
        assert(error instanceof UnauthorizedError, `the SDK re-authorizes (got ${error?.stack ?? 'success'})`);
        assertEqual(provider.redirects.length, redirects + 1, 'a second authorization redirect');
        const authorizeUrl = provider.redirects.at(-1);
        const asked = (authorizeUrl.searchParams.get('scope') ?? '').split(' ');
        assert(asked.includes(stepUp), `the SDK asks for ${stepUp} (asked ${asked.join(' ')})`);
        for (const held of heldBefore) {
          assert(asked.includes(held), `the SDK asks for ${held} again, as the 403 said (asked ${asked.join(' ')})`);
        }
        // The consent page, as this browser sees it: the added scope with its description,
        // the scopes approved at the first sign-in marked so.
        const toPage = await fetch(authorizeUrl, { redirect: 'manual', headers: { cookie: jar.header(authorizeUrl.href) ?? '' }, signal: AbortSignal.timeout(5_000) });
        await toPage.body?.cancel();
        assertEqual(toPage.status, 303, 'to the consent page');
        const pageUrl = new URL(toPage.headers.get('location'), authorizeUrl);
        const page = await (await fetch(pageUrl, { headers: { cookie: jar.header(pageUrl.href) ?? '' }, signal: AbortSignal.timeout(5_000) })).text();
        assert(page.includes('Write notes for you') && page.includes(`<code>${stepUp}</code>`), 'the consent page describes the added scope');
        assert(page.includes('(approved before)'), 'the consent page marks the scopes approved before');
        // The loopback listener answers one redirect; this one is read without requesting it.
        const result = await browse(authorizeUrl.href, { stopAt: listener.redirectUri, jar, requestStop: false });
        process.stderr.write(`    user agent trail:\n${result.trail.map((t) => `      ${t}`).join('\n')}\n`);
        const back = new URL(result.url).searchParams;
        assert(back.get('code') && !back.get('error'), `a code at the redirect (got ${back.get('error')}: ${back.get('error_description')})`);
        assertEqual(back.get('state'), authorizeUrl.searchParams.get('state'), 'state returned unchanged');
        const callback = { code: back.get('code') };
        const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: recordingFetch(log) });
        await transport.finishAuth(callback.code);
        const granted = (provider.tokens().scope ?? '').split(' ');
        assert(granted.includes(stepUp), `the new token is granted ${stepUp} (got ${granted.join(' ')})`);
        for (const held of heldBefore) {
          assert(granted.includes(held), `the new token keeps ${held}, granted before (got ${granted.join(' ')})`);
        }
        const { client: again } = await connect(mcpUrl, provider, log);
        open.push(again);
        const noted = await again.callTool({ name: 'write_note', arguments: {} });
        assert(!noted.isError, `write_note answers (got ${JSON.stringify(noted.content)})`);
        assertTestUser(whoamiFrom(await again.callTool({ name: 'whoami', arguments: {} })));
      });
    }

    await steps.step('a POST to the MCP endpoint without a token gets 401 with resource_metadata', async () => {
      const res = await fetch(mcpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
        signal: AbortSignal.timeout(5_000),
      });
      await res.body?.cancel();
      assertEqual(res.status, 401, 'status');
      const challenge = res.headers.get('www-authenticate') ?? '';
      assert(/^Bearer\b/i.test(challenge), `a Bearer challenge (got ${JSON.stringify(challenge)})`);
      const m = /resource_metadata="([^"]+)"/.exec(challenge);
      assert(m, `resource_metadata in WWW-Authenticate (got ${JSON.stringify(challenge)})`);
      const meta = await fetch(m[1], { signal: AbortSignal.timeout(5_000) });
      assertEqual(meta.status, 200, 'resource metadata status');
      const doc = await meta.json();
      assert(Array.isArray(doc.authorization_servers) && doc.authorization_servers.length > 0, 'authorization_servers listed');
    });
  } finally {
    await Promise.allSettled(open.map((c) => withTimeout(Promise.resolve(c.close()), 2_000, 'close')));
    await listener.close();
  }

  if (whoami) process.stdout.write(`${JSON.stringify(whoami)}\n`);
  process.stderr.write(`${steps.summary()}\n`);
  return steps;
}

const deadline = setTimeout(() => {
  process.stderr.write(`client: timed out after ${TOTAL_TIMEOUT_MS} ms\n`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);
deadline.unref();

main().then(
  (steps) => process.exit(steps.ok ? 0 : 1),
  (err) => {
    process.stderr.write(`client: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
