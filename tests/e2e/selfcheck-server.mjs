#!/usr/bin/env node
// Harness self-check: a reference MCP server (the TypeScript SDK's own server) protected by the
// local provider directly, with no proxy. It exists to prove the harness itself (provider, user
// agent, loopback listener, client.mjs) end to end while the Rust proxy is not there, and to tell
// a harness fault from a proxy fault later. It is NOT a test of this crate.
//
// `node run-e2e.mjs --server=selfcheck` starts the provider with dynamic registration open (the
// MCP client registers at the provider itself here), this server, and client.mjs.
//
// Environment: PORT, UPSTREAM_ISSUER, UPSTREAM_AUDIENCE (default UPSTREAM_CLIENT_ID).
// Listens on 127.0.0.1:PORT; `/` answers 200; `/mcp` is the MCP endpoint.

import * as http from 'node:http';
import process from 'node:process';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import * as jose from 'jose';

const port = Number(process.env.PORT || 0);
const issuer = process.env.UPSTREAM_ISSUER;
const audience = process.env.UPSTREAM_AUDIENCE || process.env.UPSTREAM_CLIENT_ID;
if (!issuer || !audience) {
  process.stderr.write('selfcheck-server: UPSTREAM_ISSUER and UPSTREAM_AUDIENCE (or UPSTREAM_CLIENT_ID) are required\n');
  process.exit(2);
}

const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
const jwks = jose.createRemoteJWKSet(new URL(discovery.jwks_uri));

function challenge(res, base, error) {
  const parts = [`resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`];
  if (error) parts.unshift(`error="${error}"`);
  res.writeHead(401, { 'www-authenticate': `Bearer ${parts.join(', ')}`, 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: error ?? 'unauthorized' }));
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

function mcpServer() {
  const server = new McpServer({ name: 'selfcheck', version: '1.0.0' });
  server.registerTool('whoami', { description: 'The signed-in user' }, async (extra) => {
    const claims = extra.authInfo?.extra?.claims ?? {};
    const who = {
      id: claims.sub,
      email: claims.email ?? null,
      name: claims.name ?? null,
      scopes: extra.authInfo?.scopes ?? [],
    };
    return { content: [{ type: 'text', text: JSON.stringify(who) }] };
  });
  return server;
}

const httpServer = http.createServer(async (req, res) => {
  const base = `http://${req.headers.host}`;
  const url = new URL(req.url, base);
  try {
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('selfcheck MCP server\n');
      return;
    }
    if (url.pathname === '/.well-known/oauth-protected-resource/mcp' || url.pathname === '/.well-known/oauth-protected-resource') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ resource: `${base}/mcp`, authorization_servers: [issuer], scopes_supported: ['openid', 'email', 'profile'] }));
      return;
    }
    if (url.pathname !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) {
      challenge(res, base);
      return;
    }
    let payload;
    try {
      ({ payload } = await jose.jwtVerify(m[1], jwks, { issuer, audience }));
    } catch {
      challenge(res, base, 'invalid_token');
      return;
    }
    req.auth = {
      token: m[1],
      clientId: String(payload.client_id ?? ''),
      scopes: String(payload.scope ?? '').split(' ').filter(Boolean),
      expiresAt: payload.exp,
      extra: { claims: payload },
    };
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const body = await readJson(req);
    const server = mcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  } catch (err) {
    process.stderr.write(`selfcheck-server: ${err?.stack ?? err}\n`);
    if (!res.headersSent) res.writeHead(500).end();
  }
});

httpServer.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY http://127.0.0.1:${httpServer.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => httpServer.close(() => process.exit(0)));
