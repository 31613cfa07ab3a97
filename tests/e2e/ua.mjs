#!/usr/bin/env node
// The headless user agent as a command, for clients in other languages (the Rust e2e test):
// follows AUTHORIZE_URL through redirects and forms until the next URL starts with REDIRECT_URI,
// and prints that URL (with `code`, `state`, `iss`) as `CALLBACK <url>` without requesting it.
//
// Usage: node ua.mjs AUTHORIZE_URL REDIRECT_URI       exit 0 on success, 1 with the trail on stderr

import process from 'node:process';

import { browse } from './user-agent.mjs';

const [authorizeUrl, redirectUri] = process.argv.slice(2);
if (!authorizeUrl || !redirectUri) {
  process.stderr.write('usage: node ua.mjs AUTHORIZE_URL REDIRECT_URI\n');
  process.exit(2);
}

try {
  const result = await browse(authorizeUrl, { stopAt: redirectUri, requestStop: false, timeoutMs: 20_000 });
  process.stderr.write(`${result.trail.map((t) => `  ${t}`).join('\n')}\n`);
  process.stdout.write(`CALLBACK ${result.url}\n`);
} catch (err) {
  process.stderr.write(`ua: ${err?.message ?? err}\n`);
  process.exit(1);
}
