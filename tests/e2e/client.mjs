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
// Usage: node client.mjs MCP_URL            (e.g. http://127.0.0.1:8080/mcp)
// Prints the `whoami` answer as JSON on stdout; the steps and a summary on stderr.
// Exit status 0 when every step passed. Bounded by E2E_CLIENT_TIMEOUT_MS (default 60000).

import * as crypto from 'node:crypto';
import process from 'node:process';

import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { TEST_USER } from './fixtures.mjs';
import { Steps, assert, assertEqual, withTimeout } from './harness.mjs';
import { CookieJar, browse, startLoopbackListener } from './user-agent.mjs';

const TOTAL_TIMEOUT_MS = Number(process.env.E2E_CLIENT_TIMEOUT_MS || 60_000);
const CLIENT_INFO = { name: 'actix-mcp-oauth-e2e', version: '1.0.0' };

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

  get clientMetadata() {
    return {
      client_name: 'actix-mcp-oauth e2e (MCP TypeScript SDK)',
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
      if (form.has('grant_type')) entry.grantType = form.get('grant_type');
    }
    const response = await fetch(input, init);
    entry.status = response.status;
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

async function main() {
  const mcpUrl = process.argv[2] ?? process.env.MCP_URL;
  if (!mcpUrl) {
    process.stderr.write('usage: node client.mjs MCP_URL\n');
    process.exit(2);
  }
  const steps = new Steps('e2e (MCP TypeScript SDK client)');
  const log = [];
  const jar = new CookieJar();
  const listener = await startLoopbackListener();
  let walk;
  const provider = new InMemoryOAuthProvider(listener.redirectUri, (url) => {
    walk = browse(url.href, { stopAt: listener.redirectUri, jar });
    // Observed later; keep an early failure from being an unhandled rejection meanwhile.
    walk.catch(() => {});
  });
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
      assertEqual(provider.registrations, 1, 'dynamic registrations at the proxy');
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

    const callback = await steps.step('the user agent completes the sign-in (consent, upstream login and consent) and reaches the loopback redirect', async () => {
      const result = await walk;
      process.stderr.write(`    user agent trail:\n${result.trail.map((t) => `      ${t}`).join('\n')}\n`);
      const cb = await listener.waitForCallback(2_000);
      assert(!cb.error, `no error at the redirect (got ${cb.error}: ${cb.errorDescription})`);
      assert(cb.code, 'a code at the redirect');
      assertEqual(cb.state, provider.expectedState, 'state returned unchanged');
      return cb;
    });

    await steps.step('finishAuth exchanges the code at the proxy for tokens (access + refresh)', async () => {
      const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: recordingFetch(log) });
      await transport.finishAuth(callback.code);
      const tokens = provider.tokens();
      assert(tokens?.access_token, 'an access token');
      assert(tokens?.refresh_token, 'a refresh token');
      assert(log.some((e) => e.grantType === 'authorization_code' && e.status === 200), 'authorization_code grant answered 200');
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
    });

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
