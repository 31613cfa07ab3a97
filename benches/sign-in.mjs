#!/usr/bin/env node
// Signs in through the proxy the way an MCP client does, for row (g) of benches/load.sh, and
// writes the access token the proxy issued to a file: dynamic registration (RFC 7591), /authorize
// with PKCE S256 and the resource (RFC 8707), the consent page and the upstream provider's forms
// walked by the e2e suite's headless user agent (tests/e2e/user-agent.mjs), the code caught on a
// loopback redirect URI, and /token.
//
//   node benches/sign-in.mjs PUBLIC_URL OUT_FILE
//
// PUBLIC_URL is the example server's (on 127.0.0.1); its upstream is tests/e2e/provider.mjs,
// whose test user signs in without a password prompt. Bounded: every request has a timeout and
// the whole walk gives up after 30 s. Exit status 0 once OUT_FILE holds the token.

import * as crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import process from 'node:process';

import { CookieJar, browse, startLoopbackListener } from '../tests/e2e/user-agent.mjs';

const [publicUrl, out] = process.argv.slice(2);
if (!publicUrl || !out) {
  process.stderr.write('usage: node benches/sign-in.mjs PUBLIC_URL OUT_FILE\n');
  process.exit(2);
}
const deadline = setTimeout(() => {
  process.stderr.write('sign-in: gave up after 30 s\n');
  process.exit(1);
}, 30_000);

async function json(response, what) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${what}: ${response.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
  return body;
}

const listener = await startLoopbackListener();
try {
  const timeout = () => AbortSignal.timeout(10_000);
  const meta = await json(await fetch(`${publicUrl}/.well-known/oauth-authorization-server`, { signal: timeout() }), 'metadata');
  const resource = `${publicUrl}/mcp`;
  const registered = await json(
    await fetch(meta.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'benches/load.sh',
        redirect_uris: [listener.redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }),
      signal: timeout(),
    }),
    'registration',
  );
  const verifier = crypto.randomBytes(32).toString('base64url');
  const state = crypto.randomBytes(16).toString('base64url');
  const authorize = new URL(meta.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: registered.client_id,
    redirect_uri: listener.redirectUri,
    state,
    code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    resource,
  })) authorize.searchParams.set(k, v);
  await browse(authorize.href, { stopAt: listener.redirectUri, jar: new CookieJar(), timeoutMs: 20_000 });
  const callback = await listener.waitForCallback(5_000);
  if (callback.error || !callback.code) throw new Error(`no code at the redirect URI: ${callback.error ?? 'nothing'}`);
  if (callback.state !== state) throw new Error('the state came back changed');
  const tokens = await json(
    await fetch(meta.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: callback.code,
        redirect_uri: listener.redirectUri,
        client_id: registered.client_id,
        code_verifier: verifier,
        resource,
      }),
      signal: timeout(),
    }),
    'token',
  );
  if (!tokens.access_token) throw new Error('/token answered no access token');
  writeFileSync(out, `${tokens.access_token}\n`, { mode: 0o600 });
  process.stderr.write(`sign-in: token issued (${tokens.token_type}, expires in ${tokens.expires_in} s)\n`);
} catch (err) {
  process.stderr.write(`sign-in: ${err?.message ?? err}\n`);
  process.exitCode = 1;
} finally {
  clearTimeout(deadline);
  await listener.close();
}
