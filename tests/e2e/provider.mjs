#!/usr/bin/env node
// A local OpenID provider configured like Google, for the end-to-end suite.
//
// `oidc-provider` (a certified OpenID provider) with:
// - ONE static confidential client (no dynamic registration), like an app registered in a console;
// - authorization code + PKCE (S256, required) + refresh tokens (issued without `offline_access`);
// - JWT access tokens (RFC 9068) whose audience is the client id, like Google's ID tokens;
// - RS256 signing by default, ES256 or EdDSA on request;
// - a fixed test user whose login and consent are plain HTML forms the headless user agent posts;
// - introspection and revocation enabled; `resource` parameters ignored, as Google does.
//
// Usage: node provider.mjs [PORT]          (PORT 0 or absent: any free port)
// Prints exactly one line `READY http://127.0.0.1:PORT` on stdout once it listens; logs to stderr.
//
// Environment:
//   PROVIDER_PORT              port, when not given as the first argument (default 0)
//   UPSTREAM_CLIENT_ID         the static client id (default: fixtures.DEFAULT_CLIENT_ID)
//   UPSTREAM_CLIENT_SECRET     its secret (default: fixtures.DEFAULT_CLIENT_SECRET)
//   PROVIDER_REDIRECT_URIS     comma-separated redirect URIs of the client; default
//                              `$PUBLIC_URL/oauth/callback` (the proxy's callback)
//   PUBLIC_URL                 the MCP server's public URL (used for the default redirect URI)
//   UPSTREAM_AUDIENCE          `aud` of the access tokens (default: the client id)
//   PROVIDER_SIGNING_ALG       RS256 (default) | ES256 | EdDSA
//   PROVIDER_ACCESS_TOKEN_TTL  access token lifetime in seconds (default 3600)
//   PROVIDER_ACCESS_TOKEN_FORMAT  jwt (default) | opaque (for verifiers that introspect; JWT
//                              access tokens cannot be introspected or revoked at oidc-provider)
//   PROVIDER_HONOR_RESOURCE    1 to honour RFC 8707 `resource` parameters (default: ignored)
//   PROVIDER_EXTRA_SCOPES      space-separated scopes the provider knows besides the OpenID ones
//                              (granted like them), e.g. `files.read files.write`
//   PROVIDER_WITHHELD_SCOPES   space-separated scopes left out of every authorization request,
//                              as if the user unticked them: never granted, and the token
//                              answer's `scope` does not list them
//   PROVIDER_DEBUG             1 to log every request
//   PROVIDER_DYNAMIC_REGISTRATION  1 to open dynamic client registration. ONLY for the harness
//                              self-check (selfcheck-server.mjs), where no proxy stands between
//                              the MCP client and this provider; the proxy's upstream never has it.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import process from 'node:process';

import * as jose from 'jose';
import Provider from 'oidc-provider';

import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, TEST_USER } from './fixtures.mjs';

const SIGNING_ALGS = new Set(['RS256', 'ES256', 'EdDSA']);
// The resource every access token is issued for when the request names none (which, since
// `resource` is ignored by default, is every request). Only its audience matters to clients.
const DEFAULT_RESOURCE = 'urn:actix-mcp-oauth:e2e:api';
const EXTRA_SCOPES = (process.env.PROVIDER_EXTRA_SCOPES ?? '').split(' ').filter(Boolean);
const WITHHELD_SCOPES = new Set((process.env.PROVIDER_WITHHELD_SCOPES ?? '').split(' ').filter(Boolean));
const RESOURCE_SCOPES = ['openid email profile offline_access', ...EXTRA_SCOPES].join(' ');

function log(...args) {
  process.stderr.write(`[provider] ${args.join(' ')}\n`);
}

function fail(message) {
  process.stderr.write(`[provider] error: ${message}\n`);
  process.exit(2);
}

function config() {
  const port = Number(process.argv[2] ?? process.env.PROVIDER_PORT ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad port: ${port}`);

  const clientId = process.env.UPSTREAM_CLIENT_ID || DEFAULT_CLIENT_ID;
  const clientSecret = process.env.UPSTREAM_CLIENT_SECRET || DEFAULT_CLIENT_SECRET;

  let redirectUris = (process.env.PROVIDER_REDIRECT_URIS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (redirectUris.length === 0) {
    const publicUrl = process.env.PUBLIC_URL;
    if (!publicUrl) fail('set PROVIDER_REDIRECT_URIS or PUBLIC_URL (the redirect URI is $PUBLIC_URL/oauth/callback)');
    redirectUris = [new URL('oauth/callback', publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`).href];
  }
  for (const uri of redirectUris) {
    try {
      new URL(uri);
    } catch {
      fail(`redirect URI is not a URL: ${uri}`);
    }
  }

  const alg = process.env.PROVIDER_SIGNING_ALG || 'RS256';
  if (!SIGNING_ALGS.has(alg)) fail(`PROVIDER_SIGNING_ALG must be one of ${[...SIGNING_ALGS].join(', ')}`);

  const accessTokenTtl = Number(process.env.PROVIDER_ACCESS_TOKEN_TTL || 3600);
  if (!Number.isInteger(accessTokenTtl) || accessTokenTtl <= 0) fail('PROVIDER_ACCESS_TOKEN_TTL must be a positive integer');

  const accessTokenFormat = process.env.PROVIDER_ACCESS_TOKEN_FORMAT || 'jwt';
  if (!['jwt', 'opaque'].includes(accessTokenFormat)) fail('PROVIDER_ACCESS_TOKEN_FORMAT must be jwt or opaque');

  return {
    port,
    accessTokenFormat,
    clientId,
    clientSecret,
    redirectUris,
    audience: process.env.UPSTREAM_AUDIENCE || clientId,
    alg,
    accessTokenTtl,
    honorResource: process.env.PROVIDER_HONOR_RESOURCE === '1',
    debug: process.env.PROVIDER_DEBUG === '1',
    registration: process.env.PROVIDER_DYNAMIC_REGISTRATION === '1',
  };
}

async function signingKey(alg) {
  // Ed25519 is the curve behind the JOSE name `EdDSA`.
  const { privateKey } = await jose.generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, alg, use: 'sig', kid: `e2e-${alg.toLowerCase()}-${crypto.randomBytes(4).toString('hex')}` };
}

function escapeHtml(value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>`;
}

async function readForm(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The login and consent pages: one form each, posted by the headless user agent (or a person).
function interactionRoutes(provider) {
  return async (ctx, next) => {
    const match = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(ctx.path);
    if (!match) return next();
    ctx.set('Cache-Control', 'no-store');

    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { uid, prompt, params, session, grantId } = details;
    if (uid !== match[1]) ctx.throw(400, 'interaction mismatch');
    const client = await provider.Client.find(params.client_id);
    const clientName = client?.clientName || params.client_id;

    if (ctx.method === 'GET') {
      ctx.type = 'html';
      if (prompt.name === 'login') {
        ctx.body = page(
          'Sign in',
          `<p>Sign in to continue to <strong>${escapeHtml(clientName)}</strong>.</p>
<form method="post" action="/interaction/${escapeHtml(uid)}">
  <input type="hidden" name="prompt" value="login">
  <input type="hidden" name="login" value="${escapeHtml(TEST_USER.sub)}">
  <p>Test user: ${escapeHtml(TEST_USER.name)} &lt;${escapeHtml(TEST_USER.email)}&gt;</p>
  <button type="submit" name="action" value="sign-in">Sign in as ${escapeHtml(TEST_USER.name)}</button>
</form>`,
        );
      } else if (prompt.name === 'consent') {
        ctx.body = page(
          'Allow access',
          `<p><strong>${escapeHtml(clientName)}</strong> asks for: ${escapeHtml(params.scope ?? '')}</p>
<form method="post" action="/interaction/${escapeHtml(uid)}">
  <input type="hidden" name="prompt" value="consent">
  <button type="submit" name="action" value="allow">Allow</button>
  <button type="submit" name="action" value="deny">Deny</button>
</form>`,
        );
      } else {
        ctx.throw(400, `unexpected prompt ${prompt.name}`);
      }
      return undefined;
    }

    if (ctx.method !== 'POST') ctx.throw(405);
    const form = await readForm(ctx.req);
    if (form.get('prompt') !== prompt.name) ctx.throw(400, 'form does not match the pending prompt');

    if (prompt.name === 'login') {
      if (form.get('login') !== TEST_USER.sub) ctx.throw(400, 'unknown user');
      ctx.respond = false;
      await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: TEST_USER.sub } }, { mergeWithLastSubmission: false });
      return undefined;
    }

    if (form.get('action') === 'deny') {
      ctx.respond = false;
      await provider.interactionFinished(
        ctx.req,
        ctx.res,
        { error: 'access_denied', error_description: 'the test user denied access' },
        { mergeWithLastSubmission: false },
      );
      return undefined;
    }

    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const savedGrantId = await grant.save();
    ctx.respond = false;
    await provider.interactionFinished(
      ctx.req,
      ctx.res,
      { consent: { grantId: savedGrantId } },
      { mergeWithLastSubmission: true },
    );
    return undefined;
  };
}

// The scopes a user declines on the provider's own page: removed from the request, so the
// grant and the token answer's `scope` leave them out.
function withholdScopes() {
  return async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/auth' && typeof ctx.query.scope === 'string') {
      const query = new URLSearchParams(ctx.querystring);
      query.set('scope', ctx.query.scope.split(' ').filter((s) => !WITHHELD_SCOPES.has(s)).join(' '));
      ctx.querystring = query.toString();
    }
    return next();
  };
}

// Google ignores RFC 8707 `resource`; so does this provider unless told otherwise, so that a
// proxy forwarding (or not forwarding) the MCP client's `resource` gets the same tokens.
function ignoreResource() {
  return async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.query.resource !== undefined) {
      const query = new URLSearchParams(ctx.querystring);
      query.delete('resource');
      ctx.querystring = query.toString();
    } else if (ctx.method === 'POST' && ctx.is('application/x-www-form-urlencoded')) {
      const form = await readForm(ctx.req);
      form.delete('resource');
      // The stream is consumed; oidc-provider then reads the already-parsed body from here.
      ctx.req.body = form.toString();
    }
    return next();
  };
}

async function main() {
  const cfg = config();
  const jwk = await signingKey(cfg.alg);
  const server = http.createServer();

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const extraClaims = {
    email: TEST_USER.email,
    email_verified: TEST_USER.email_verified,
    name: TEST_USER.name,
    picture: TEST_USER.picture,
  };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: cfg.clientId,
        client_secret: cfg.clientSecret,
        client_name: 'actix-mcp-oauth (static upstream client)',
        redirect_uris: cfg.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: cfg.alg,
      },
    ],
    // Confidential clients only, like Google; the self-check's registered MCP client is public.
    // ID tokens signed with the one key there is, for registered clients too (self-check).
    clientDefaults: { id_token_signed_response_alg: cfg.alg },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', ...(cfg.registration ? ['none'] : [])],
    responseTypes: ['code'],
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'picture'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', ...EXTRA_SCOPES],
    async findAccount(_ctx, sub) {
      if (sub !== TEST_USER.sub) return undefined;
      return { accountId: sub, async claims() { return { ...TEST_USER }; } };
    },
    pkce: { required: () => true },
    // Like Google with `access_type=offline`: a refresh token for every code grant of a client
    // allowed the grant type, without asking for `offline_access`.
    async issueRefreshToken(_ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && code.kind === 'AuthorizationCode';
    },
    async expiresWithSession() {
      return false;
    },
    async extraTokenClaims(_ctx, token) {
      return token.kind === 'AccessToken' && token.accountId === TEST_USER.sub ? extraClaims : undefined;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: cfg.registration },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        async defaultResource(_ctx, _client, oneOf) {
          return oneOf ?? DEFAULT_RESOURCE;
        },
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo() {
          return {
            scope: RESOURCE_SCOPES,
            audience: cfg.audience,
            accessTokenTTL: cfg.accessTokenTtl,
            accessTokenFormat: cfg.accessTokenFormat,
            ...(cfg.accessTokenFormat === 'jwt' ? { jwt: { sign: { alg: cfg.alg } } } : {}),
          };
        },
      },
    },
    ttl: {
      AccessToken: cfg.accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 24 * 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 24 * 3600,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<pre>${escapeHtml(JSON.stringify(out, null, 2))}</pre>`);
    },
  });

  if (cfg.debug) {
    provider.use(async (ctx, next) => {
      await next();
      log(`${ctx.method} ${ctx.path} -> ${ctx.status}`);
    });
  }
  // The interaction pages come first: they read their own form bodies.
  provider.use(interactionRoutes(provider));
  if (!cfg.honorResource) provider.use(ignoreResource());
  if (WITHHELD_SCOPES.size > 0) provider.use(withholdScopes());

  for (const event of ['server_error', 'authorization.error', 'grant.error', 'introspection.error', 'revocation.error', 'userinfo.error']) {
    provider.on(event, (_ctx, err) => {
      log(`${event}: ${err?.name ?? 'error'}: ${err?.message ?? err}${err?.error_description ? ` (${err.error_description})` : ''}`);
    });
  }
  provider.on('grant.success', (ctx) => {
    log(`grant.success: ${ctx.oidc.params.grant_type} for ${ctx.oidc.client?.clientId}`);
  });

  server.on('request', provider.callback());

  const shutdown = () => server.close(() => process.exit(0));
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  log(`issuer ${issuer}, client ${cfg.clientId}, redirect_uris ${cfg.redirectUris.join(' ')}, alg ${cfg.alg}, aud ${cfg.audience}, access tokens ${cfg.accessTokenFormat}${cfg.registration ? ', DYNAMIC REGISTRATION OPEN (self-check only)' : ''}`);
  process.stdout.write(`READY ${issuer}\n`);
}

main().catch((err) => fail(err?.stack ?? String(err)));
