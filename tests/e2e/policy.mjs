#!/usr/bin/env node
// The proxy's access policy, applied at sign-in, against the real local OpenID provider.
//
// Two runs of the example MCP server (issued mode), each with its own provider:
//   1. `ALLOWED_EMAILS` names the test user: the sign-in completes, the client's loopback
//      redirect URI receives a code, /token answers tokens and /mcp accepts the access token;
//   2. `ALLOWED_EMAILS` names someone else: the callback answers 403 with the "Access denied"
//      page and no Location, and the loopback redirect URI never receives a request.
//
// Usage: node policy.mjs   (E2E_SERVER_BIN / E2E_NO_BUILD as in run-e2e.mjs; no build here:
// without either it runs target/debug/examples/mcp_server, or $CARGO_TARGET_DIR's)
// Everything listens on 127.0.0.1 and is stopped at the end. Bounded by E2E_TIMEOUT_MS (default
// 120000). The last line is `policy-e2e: N passed, M failed`; exit status 0 only when M is 0.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import { DEFAULT_CLIENT_ID, TEST_USER } from './fixtures.mjs';
import { Steps, assert, assertEqual } from './harness.mjs';
import { freePort, spawnReady, spawnTracked, stopAll, waitForHttp } from './processes.mjs';
import { CookieJar, UserAgentError, browse, startLoopbackListener } from './user-agent.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS || 120_000);
const REFUSED_EMAIL = 'grace.hopper@example.test';

function serverBinary() {
  if (process.env.E2E_SERVER_BIN) return process.env.E2E_SERVER_BIN;
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(REPO, process.env.CARGO_TARGET_DIR) : path.join(REPO, 'target');
  const bin = path.join(target, 'debug', 'examples', 'mcp_server');
  if (!fs.existsSync(bin)) throw new Error(`${bin} does not exist: build it (cargo build --example mcp_server --features rmcp) or set E2E_SERVER_BIN`);
  return bin;
}

/** Starts a provider and the example server with `ALLOWED_EMAILS=allowed`; returns the server's URL. */
async function start(steps, bin, allowed) {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    UPSTREAM_CLIENT_ID: DEFAULT_CLIENT_ID,
    UPSTREAM_AUDIENCE: DEFAULT_CLIENT_ID,
    UPSTREAM_CLIENT_SECRET: crypto.randomBytes(24).toString('base64url'),
    PUBLIC_URL: publicUrl,
    PORT: String(port),
    PROVIDER_SIGNING_ALG: 'RS256',
    TOKEN_MODE: 'issued',
  };
  delete env.UPSTREAM_ISSUER;
  delete env.ALLOWED_DOMAINS;
  const provider = await steps.step('the local OpenID provider starts', () =>
    spawnReady('provider', process.execPath, [path.join(HERE, 'provider.mjs'), '0'], {
      env,
      ready: /^READY (http:\/\/127\.0\.0\.1:\d+)$/,
      quiet: process.env.E2E_VERBOSE !== '1',
    }),
  );
  if (!provider) return undefined;
  env.UPSTREAM_ISSUER = provider.match[1];
  await steps.step(`the example MCP server starts with ALLOWED_EMAILS=${allowed}`, async () => {
    const child = spawnTracked('server', bin, [], {
      env: {
        ...env,
        ALLOWED_EMAILS: allowed,
        OAUTH_PROXY_KEY: crypto.randomBytes(32).toString('base64url'),
        RUST_LOG: process.env.RUST_LOG || 'info',
      },
      quiet: process.env.E2E_VERBOSE !== '1',
    });
    await waitForHttp(`${publicUrl}/`, { timeoutMs: 30_000, child });
  }, { timeoutMs: 35_000 });
  return steps.ok ? publicUrl : undefined;
}

/** Registers a public client for `redirectUri` and builds its /authorize URL (PKCE S256). */
async function prepare(publicUrl, redirectUri) {
  const meta = await (await fetch(`${publicUrl}/.well-known/oauth-authorization-server`)).json();
  const reg = await fetch(meta.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'actix-mcp-oauth policy e2e',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  assertEqual(reg.status, 201, 'registration status');
  const { client_id: clientId } = await reg.json();
  const verifier = crypto.randomBytes(32).toString('base64url');
  const state = crypto.randomBytes(16).toString('base64url');
  const authorize = new URL(meta.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    state,
    code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    resource: `${publicUrl}/mcp`,
  })) authorize.searchParams.set(k, v);
  return { meta, clientId, verifier, state, authorizeUrl: authorize.href };
}

/** `fetch` that keeps the status, headers and body of the answer to /oauth/callback. */
function recordingCallback(publicUrl, seen) {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (url.startsWith(`${publicUrl}/oauth/callback`)) {
      seen.push({ status: response.status, location: response.headers.get('location'), body: await response.clone().text() });
    }
    return response;
  };
}

async function allowedRun(bin) {
  const steps = new Steps('policy-e2e [allowed]');
  const listener = await startLoopbackListener();
  try {
    const publicUrl = await start(steps, bin, TEST_USER.email);
    if (!publicUrl) return steps;
    const flow = await steps.step('a client registers and builds its /authorize URL', () => prepare(publicUrl, listener.redirectUri));
    const seen = [];
    await steps.step(`${TEST_USER.email}, who is allowed, signs in: consent, upstream forms, the callback redirects to the client`, async () => {
      await browse(flow.authorizeUrl, { stopAt: listener.redirectUri, jar: new CookieJar(), fetchFn: recordingCallback(publicUrl, seen) });
      assertEqual(seen.length, 1, 'answers from /oauth/callback');
      assertEqual(seen[0].status, 302, 'the callback status');
      assert(seen[0].location?.startsWith(listener.redirectUri), `the callback redirects to the client (Location ${seen[0].location})`);
    });
    const cb = await steps.step('the loopback redirect URI receives a code and the state', async () => {
      const got = await listener.waitForCallback(2_000);
      assert(!got.error, `no error (got ${got.error})`);
      assert(got.code, 'a code');
      assertEqual(got.state, flow.state, 'state');
      return got;
    });
    const tokens = await steps.step('/token exchanges the code for tokens', async () => {
      const res = await fetch(flow.meta.token_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: cb.code,
          redirect_uri: listener.redirectUri,
          client_id: flow.clientId,
          code_verifier: flow.verifier,
          resource: `${publicUrl}/mcp`,
        }),
      });
      const body = await res.json();
      assertEqual(res.status, 200, `token status (${JSON.stringify(body.error ?? '')})`);
      assert(body.access_token && body.refresh_token, 'an access token and a refresh token');
      return body;
    });
    await steps.step('a POST to /mcp with the access token is let through (neither 401 nor 403)', async () => {
      const res = await fetch(`${publicUrl}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokens.access_token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'policy-e2e', version: '1.0.0' } },
        }),
        signal: AbortSignal.timeout(10_000),
      });
      await res.body?.cancel();
      assert(res.status !== 401 && res.status !== 403, `/mcp status ${res.status}`);
      assert(res.status < 400, `/mcp status ${res.status}`);
    });
  } finally {
    await listener.close();
    await stopAll();
  }
  return steps;
}

async function refusedRun(bin) {
  const steps = new Steps('policy-e2e [refused]');
  const listener = await startLoopbackListener();
  try {
    const publicUrl = await start(steps, bin, REFUSED_EMAIL);
    if (!publicUrl) return steps;
    const flow = await steps.step('a client registers and builds its /authorize URL', () => prepare(publicUrl, listener.redirectUri));
    await steps.step(`${TEST_USER.email}, who is not allowed, signs in upstream: the callback answers 403 "Access denied", no Location`, async () => {
      const seen = [];
      let err;
      try {
        await browse(flow.authorizeUrl, { stopAt: listener.redirectUri, jar: new CookieJar(), fetchFn: recordingCallback(publicUrl, seen) });
      } catch (e) {
        err = e;
      }
      assert(err instanceof UserAgentError, `the walk stops before the client (got ${err?.message ?? 'the loopback redirect'})`);
      assertEqual(seen.length, 1, 'answers from /oauth/callback');
      assertEqual(seen[0].status, 403, 'the callback status');
      assertEqual(seen[0].location, null, 'the Location header of the callback');
      assert(seen[0].body.includes('Access denied'), `the page says Access denied: ${seen[0].body.slice(0, 200)}`);
      assert(!seen[0].body.includes(TEST_USER.email) && !seen[0].body.includes(REFUSED_EMAIL), 'the page names no account');
    });
    await steps.step('the loopback redirect URI never receives a request', async () => {
      let got;
      try {
        got = await listener.waitForCallback(1_500);
      } catch {
        // nothing came: what we want
      }
      assertEqual(got, undefined, 'a request at the loopback redirect URI');
    });
  } finally {
    await listener.close();
    await stopAll();
  }
  return steps;
}

async function main() {
  const deadline = setTimeout(() => {
    process.stderr.write(`policy-e2e: timed out after ${TIMEOUT_MS} ms\n`);
    process.stdout.write('policy-e2e: 0 passed, 1 failed\n');
    stopAll().finally(() => process.exit(1));
  }, TIMEOUT_MS);
  let passed = 0;
  let failed = 0;
  try {
    const bin = serverBinary();
    for (const run of [allowedRun, refusedRun]) {
      const steps = await run(bin);
      process.stderr.write(`${steps.summary()}\n`);
      passed += steps.passed;
      failed += steps.failed;
    }
  } catch (err) {
    process.stderr.write(`policy-e2e: ${err?.stack ?? err}\n`);
    failed += 1;
  } finally {
    clearTimeout(deadline);
    await stopAll();
  }
  process.stdout.write(`policy-e2e: ${passed} passed, ${failed} failed\n`);
  process.exit(failed === 0 ? 0 : 1);
}

main();
