#!/usr/bin/env node
// Proves the local OpenID provider behaves like the upstream the proxy expects (Google-like), with
// no proxy involved: discovery without registration, PKCE required, a plain authorization-code +
// PKCE flow through the headless user agent, a JWT access token (aud = client id) for the test
// user, a refresh token and its exchange, introspection, revocation, deny, and wrong secrets.
// Runs once per signing algorithm (RS256, ES256, EdDSA) with JWT access tokens, and once with
// opaque access tokens (checked by introspection instead).
//
// Usage: node provider-smoke.mjs [VARIANT...]   (variants: RS256 ES256 EdDSA opaque)

import * as crypto from 'node:crypto';
import * as path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';

import { TEST_USER } from './fixtures.mjs';
import { Steps, assert, assertEqual } from './harness.mjs';
import { spawnReady, stop, stopAll } from './processes.mjs';
import { CookieJar, browse, startLoopbackListener } from './user-agent.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLIENT_ID = 'smoke-client';
const CLIENT_SECRET = crypto.randomBytes(24).toString('base64url');
const TOTAL_TIMEOUT_MS = 60_000;

function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

function basic(id, secret) {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function postForm(url, form, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

async function smoke(variant) {
  const opaque = variant === 'opaque';
  const alg = opaque ? 'RS256' : variant;
  const steps = new Steps(`provider smoke (${variant})`);
  process.stderr.write(`provider smoke, ${variant}:\n`);
  const approve = await startLoopbackListener();
  const deny = await startLoopbackListener();
  let provider;
  try {
    const started = await steps.step('provider starts and prints READY', () =>
      spawnReady('provider', process.execPath, [path.join(HERE, 'provider.mjs'), '0'], {
        env: {
          ...process.env,
          UPSTREAM_CLIENT_ID: CLIENT_ID,
          UPSTREAM_CLIENT_SECRET: CLIENT_SECRET,
          PROVIDER_REDIRECT_URIS: `${approve.redirectUri},${deny.redirectUri}`,
          PROVIDER_SIGNING_ALG: alg,
          PROVIDER_ACCESS_TOKEN_FORMAT: opaque ? 'opaque' : 'jwt',
        },
        ready: /^READY (http:\/\/127\.0\.0\.1:\d+)$/,
        quiet: process.env.E2E_VERBOSE !== '1',
      }),
    );
    provider = started?.child;
    const issuer = started?.match[1];

    const meta = await steps.step('discovery is Google-like: no registration endpoint, S256, introspection, revocation', async () => {
      const res = await fetch(`${issuer}/.well-known/openid-configuration`);
      assertEqual(res.status, 200, 'discovery status');
      const m = await res.json();
      assertEqual(m.issuer, issuer, 'issuer');
      assert(m.registration_endpoint === undefined, 'no registration_endpoint');
      assertEqual(m.code_challenge_methods_supported, ['S256'], 'code_challenge_methods_supported');
      assert(m.introspection_endpoint && m.revocation_endpoint, 'introspection and revocation endpoints');
      assert(m.token_endpoint_auth_methods_supported.includes('client_secret_basic'), 'client_secret_basic');
      assert(m.token_endpoint_auth_methods_supported.includes('client_secret_post'), 'client_secret_post');
      assert(m.grant_types_supported.includes('refresh_token'), 'refresh_token grant');
      return m;
    });

    const authorizeUrl = (redirectUri, challenge, state, extra = {}) => {
      const u = new URL(meta.authorization_endpoint);
      const params = {
        client_id: CLIENT_ID,
        response_type: 'code',
        redirect_uri: redirectUri,
        scope: 'openid email profile',
        state,
        ...(challenge ? { code_challenge: challenge, code_challenge_method: 'S256' } : {}),
        ...extra,
      };
      for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
      return u.href;
    };

    await steps.step('an authorization request without PKCE is refused', async () => {
      const res = await fetch(authorizeUrl(approve.redirectUri, undefined, 'no-pkce'), { redirect: 'manual' });
      const location = new URL(res.headers.get('location') ?? '', issuer);
      assertEqual(location.searchParams.get('error'), 'invalid_request', 'error');
      assert(/PKCE/.test(location.searchParams.get('error_description') ?? ''), 'says PKCE is required');
    });

    const jar = new CookieJar();
    const { verifier, challenge } = pkce();
    const state = crypto.randomBytes(12).toString('base64url');
    const callback = await steps.step('the user agent signs in and consents through the HTML forms', async () => {
      // `resource` is ignored, as by Google: the token's audience stays the client id.
      const url = authorizeUrl(approve.redirectUri, challenge, state, { resource: 'http://127.0.0.1:9/mcp' });
      const walk = await browse(url, { stopAt: approve.redirectUri, jar });
      assertEqual(walk.status, 200, 'listener answered');
      const cb = await approve.waitForCallback(1_000);
      assert(cb.code, `a code (got ${JSON.stringify(cb.params)})`);
      assertEqual(cb.state, state, 'state');
      return cb;
    });

    const jwks = jose.createRemoteJWKSet(new URL(meta?.jwks_uri ?? 'http://127.0.0.1:9'));
    const introspect = async (token) => {
      const res = await postForm(meta.introspection_endpoint, { token }, { authorization: basic(CLIENT_ID, CLIENT_SECRET) });
      assertEqual(res.status, 200, `introspection status (${res.text})`);
      return res.json;
    };
    const verifyAccessToken = async (token) => {
      if (opaque) {
        assert(token.split('.').length !== 3, 'an opaque access token');
        const info = await introspect(token);
        assertEqual(info.active, true, 'active');
        assertEqual(info.sub, TEST_USER.sub, 'sub');
        assertEqual(info.aud, CLIENT_ID, 'aud');
        assertEqual(info.email, TEST_USER.email, 'email');
        return info;
      }
      const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
        issuer,
        audience: CLIENT_ID,
        algorithms: [alg],
        typ: 'at+jwt',
      });
      if (process.env.E2E_VERBOSE === '1') process.stderr.write(`    access token: ${JSON.stringify({ protectedHeader, payload })}\n`);
      assertEqual(protectedHeader.alg, alg, 'alg');
      assert(typeof protectedHeader.kid === 'string', 'kid in the header');
      assertEqual(payload.sub, TEST_USER.sub, 'sub');
      assertEqual(payload.email, TEST_USER.email, 'email');
      assertEqual(payload.name, TEST_USER.name, 'name');
      assertEqual(payload.picture, TEST_USER.picture, 'picture');
      const scopes = String(payload.scope ?? '').split(' ');
      for (const s of ['openid', 'email', 'profile']) assert(scopes.includes(s), `scope has ${s} (got ${payload.scope})`);
      return payload;
    };

    const tokens = await steps.step('the code + verifier (client_secret_basic) give an access token (JWT, or opaque and introspected) and a refresh token', async () => {
      const res = await postForm(
        meta.token_endpoint,
        {
          grant_type: 'authorization_code',
          code: callback.code,
          code_verifier: verifier,
          redirect_uri: approve.redirectUri,
          resource: 'http://127.0.0.1:9/mcp',
        },
        { authorization: basic(CLIENT_ID, CLIENT_SECRET) },
      );
      assertEqual(res.status, 200, `token status (${res.text})`);
      assertEqual(res.json.token_type, 'Bearer', 'token_type');
      assert(res.json.refresh_token, 'a refresh token without offline_access');
      assert(res.json.id_token, 'an id token');
      await verifyAccessToken(res.json.access_token);
      return res.json;
    });

    const refreshed = await steps.step('the refresh token (client_secret_post) gives a new access token', async () => {
      const res = await postForm(meta.token_endpoint, {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
      });
      assertEqual(res.status, 200, `refresh status (${res.text})`);
      assert(res.json.access_token !== tokens.access_token, 'a new access token');
      await verifyAccessToken(res.json.access_token);
      return res.json;
    });

    await steps.step('introspection says the refresh token is active, for the test user', async () => {
      const info = await introspect(refreshed.refresh_token ?? tokens.refresh_token);
      assertEqual(info.active, true, 'active');
      assertEqual(info.sub, TEST_USER.sub, 'sub');
    });

    await steps.step('a wrong client secret is refused with invalid_client', async () => {
      const res = await postForm(
        meta.token_endpoint,
        { grant_type: 'refresh_token', refresh_token: refreshed.refresh_token ?? tokens.refresh_token },
        { authorization: basic(CLIENT_ID, 'not-the-secret') },
      );
      assertEqual(res.status, 401, 'status');
      assertEqual(res.json?.error, 'invalid_client', 'error');
    });

    await steps.step('a revoked refresh token no longer refreshes', async () => {
      const current = refreshed.refresh_token ?? tokens.refresh_token;
      const rev = await postForm(
        meta.revocation_endpoint,
        { token: current, token_type_hint: 'refresh_token' },
        { authorization: basic(CLIENT_ID, CLIENT_SECRET) },
      );
      assertEqual(rev.status, 200, 'revocation status');
      const res = await postForm(
        meta.token_endpoint,
        { grant_type: 'refresh_token', refresh_token: current },
        { authorization: basic(CLIENT_ID, CLIENT_SECRET) },
      );
      assertEqual(res.json?.error, 'invalid_grant', 'error');
    });

    await steps.step('with the session kept, Deny on the consent form sends access_denied back', async () => {
      const p = pkce();
      const url = authorizeUrl(deny.redirectUri, p.challenge, 'deny-state', { prompt: 'consent' });
      const walk = await browse(url, { stopAt: deny.redirectUri, jar, button: /^deny$/i });
      const cb = await deny.waitForCallback(1_000);
      assertEqual(cb.error, 'access_denied', `error (trail: ${walk.trail.join(' | ')})`);
      assertEqual(cb.state, 'deny-state', 'state');
      const posts = walk.trail.filter((t) => t.startsWith('POST') && t.includes('/interaction/'));
      assertEqual(posts.length, 1, `one form posted, the consent (no second login); trail: ${walk.trail.join(' | ')}`);
    });
    await steps.step('the code cannot be used twice (last: a replay revokes the grant)', async () => {
      const res = await postForm(
        meta.token_endpoint,
        { grant_type: 'authorization_code', code: callback.code, code_verifier: verifier, redirect_uri: approve.redirectUri },
        { authorization: basic(CLIENT_ID, CLIENT_SECRET) },
      );
      assertEqual(res.json?.error, 'invalid_grant', 'error');
    });
  } finally {
    await stop(provider);
    await approve.close();
    await deny.close();
  }
  return steps;
}

async function main() {
  const variants = process.argv.slice(2).length ? process.argv.slice(2) : ['RS256', 'ES256', 'EdDSA', 'opaque'];
  const timer = setTimeout(() => {
    process.stderr.write(`provider smoke: timed out after ${TOTAL_TIMEOUT_MS} ms\n`);
    stopAll().finally(() => process.exit(1));
  }, TOTAL_TIMEOUT_MS);
  let passed = 0;
  let failed = 0;
  for (const variant of variants) {
    const steps = await smoke(variant);
    passed += steps.passed;
    failed += steps.failed;
    process.stderr.write(`${steps.summary()}\n`);
  }
  clearTimeout(timer);
  process.stdout.write(`provider-smoke: ${passed} passed, ${failed} failed\n`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`provider smoke: ${err?.stack ?? err}\n`);
  stopAll().finally(() => process.exit(1));
});
