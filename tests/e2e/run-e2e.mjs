#!/usr/bin/env node
// Runs the end-to-end suite: the local OpenID provider, the example MCP server behind the OAuth
// proxy (`examples/mcp_server.rs`), and the MCP TypeScript SDK client through the whole flow.
// Everything listens on 127.0.0.1 on free ports and is stopped at the end, however it ends.
//
// Usage: node run-e2e.mjs [--serve] [--server=rust|selfcheck] [--alg=RS256[,ES256,EdDSA]] [--browser[=ALGS]]
//                         [--mode=issued[,passthrough]]
//   --serve      after a passing run, keep the provider and the server running until Ctrl-C
//                and print their URLs (the Run command of the README uses this)
//   --server=selfcheck  the harness self-check: the SDK's own MCP server on the provider, no proxy
//   --alg=A,B    the upstream's signing algorithms, one full run each (default RS256)
//   --browser[=A,B]  sign in with a real headless Chromium (Debian's /usr/bin/chromium, see
//                browser.mjs) instead of the fetch user agent, in the runs of these algorithms
//                (all runs when no list is given); the consent page's screenshot goes to
//                $E2E_OUT_DIR/consent.png (default tests/e2e/out/). Those runs then sign in a
//                second client in Chromium, identified by the https URL of its metadata
//                document (cimd-server.mjs), which the proxy fetches itself
//   --mode=M,N   the proxy's token modes (`TOKEN_MODE` of the example): `issued` (default, the
//                proxy's own tokens) and/or `passthrough` (the provider's); every algorithm
//                runs once per mode
//
// Environment:
//   E2E_SERVER_BIN          the example server binary to run, instead of building it with cargo
//   E2E_NO_BUILD=1          do not run cargo; use target/debug/examples/mcp_server as built
//   E2E_TIMEOUT_MS          bound on the run after the build (default 120000)
//   E2E_BUILD_TIMEOUT_MS    bound on the cargo build (default 900000)
//   E2E_PORT                the example server's port (default: a free one)
//   E2E_VERBOSE=1           show the provider's log too
//   RUST_LOG                passed to the server (default: info,actix_mcp_oauth=debug)
// The last line of output is `e2e: N passed, M failed`; the exit status is 0 only when M is 0.

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import * as os from 'node:os';

import { startDocumentServer } from './cimd-server.mjs';
import { DEFAULT_CLIENT_ID, TEST_USER } from './fixtures.mjs';
import { Steps, assert } from './harness.mjs';
import { freePort, spawnReady, spawnTracked, stopAll, waitForHttp } from './processes.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const EXAMPLE = 'mcp_server';

function parseArgs(argv) {
  const opts = { serve: false, server: 'rust', algs: ['RS256'], browser: [], modes: ['issued'] };
  for (const arg of argv) {
    if (arg === '--serve') opts.serve = true;
    else if (arg === '--browser') opts.browser = ['*'];
    else if (arg.startsWith('--browser=')) opts.browser = arg.slice('--browser='.length).split(',').filter(Boolean);
    else if (arg.startsWith('--server=')) opts.server = arg.slice('--server='.length);
    else if (arg.startsWith('--alg=')) opts.algs = arg.slice('--alg='.length).split(',').filter(Boolean);
    else if (arg.startsWith('--mode=')) opts.modes = arg.slice('--mode='.length).split(',').filter(Boolean);
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!['rust', 'selfcheck'].includes(opts.server)) throw new Error('--server must be rust or selfcheck');
  for (const alg of opts.algs) {
    if (!['RS256', 'ES256', 'EdDSA'].includes(alg)) throw new Error(`--alg: ${alg} is not RS256, ES256 or EdDSA`);
  }
  for (const alg of opts.browser) {
    if (alg !== '*' && !opts.algs.includes(alg)) throw new Error(`--browser: ${alg} is not one of the runs (--alg=${opts.algs.join(',')})`);
  }
  // The self-check server has no proxy, hence no consent page for the browser to check.
  if (opts.browser.length > 0 && opts.server !== 'rust') throw new Error('--browser needs --server=rust');
  for (const mode of opts.modes) {
    if (!['issued', 'passthrough'].includes(mode)) throw new Error(`--mode: ${mode} is not issued or passthrough`);
  }
  if (opts.modes.length > 1 && opts.server !== 'rust') throw new Error('--mode needs --server=rust');
  if (opts.serve && (opts.algs.length > 1 || opts.modes.length > 1)) throw new Error('--serve runs one algorithm in one mode');
  return opts;
}

/** Builds the example with cargo and returns the path of its executable. */
function buildExample(timeoutMs) {
  return new Promise((resolve, reject) => {
    const args = ['build', '--example', EXAMPLE, '--features', 'rmcp', '--message-format=json-render-diagnostics'];
    process.stderr.write(`[build] cargo ${args.join(' ')}\n`);
    const child = spawn('cargo', args, { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let executable;
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      let i;
      while ((i = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        try {
          const msg = JSON.parse(line);
          if (msg.reason === 'compiler-artifact' && msg.target?.name === EXAMPLE && msg.executable) executable = msg.executable;
        } catch {
          // not a JSON line
        }
      }
    });
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`cargo build did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run cargo: ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        const missing = !fs.existsSync(path.join(REPO, 'examples', `${EXAMPLE}.rs`));
        reject(new Error(`cargo build failed (exit ${code})${missing ? `: examples/${EXAMPLE}.rs does not exist` : ''}`));
      } else if (!executable) {
        reject(new Error('cargo build succeeded but reported no executable for the example'));
      } else {
        resolve(executable);
      }
    });
  });
}

function prebuiltExample() {
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(REPO, process.env.CARGO_TARGET_DIR) : path.join(REPO, 'target');
  const bin = path.join(target, 'debug', 'examples', EXAMPLE);
  if (!fs.existsSync(bin)) throw new Error(`E2E_NO_BUILD=1 but ${bin} does not exist`);
  return bin;
}

async function serverBinary(steps) {
  if (process.env.E2E_SERVER_BIN) return process.env.E2E_SERVER_BIN;
  if (process.env.E2E_NO_BUILD === '1') return prebuiltExample();
  const timeoutMs = Number(process.env.E2E_BUILD_TIMEOUT_MS || 900_000);
  return steps.step('the example MCP server builds', () => buildExample(timeoutMs), { timeoutMs: timeoutMs + 1_000 });
}

/** Runs client.mjs; resolves with its exit code, stdout and step counts. */
function runClient(mcpUrl, env, timeoutMs, browser, extraArgs = []) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(HERE, 'client.mjs'), mcpUrl, ...(browser ? ['--browser'] : []), ...extraArgs], {
      env: { ...env, E2E_CLIENT_TIMEOUT_MS: String(timeoutMs) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let summary;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      process.stderr.write(chunk);
      const m = /(\d+) passed, (\d+) failed/.exec(chunk);
      if (m) summary = { passed: Number(m[1]), failed: Number(m[2]) };
    });
    child.once('exit', (code) => resolve({ code, stdout: stdout.trim(), summary }));
  });
}

function providerNotes(publicUrl) {
  return `
Point the same server at a real identity provider instead: register ONE web application there
with the redirect URI ${publicUrl}/oauth/callback, then set
  UPSTREAM_ISSUER  UPSTREAM_CLIENT_ID  UPSTREAM_CLIENT_SECRET  UPSTREAM_AUDIENCE  PUBLIC_URL  OAUTH_PROXY_KEY
and run: cargo run --example mcp_server --features rmcp
  Google     opaque access tokens: run the preset instead (Cloud console > Credentials > OAuth client ID > Web application)
             GOOGLE_CLIENT_ID=... GOOGLE_CLIENT_SECRET=... PUBLIC_URL=... PROXY_KEY=... cargo run --example google --features rmcp
  Okta       UPSTREAM_ISSUER=https://YOUR_DOMAIN.okta.com/oauth2/default  UPSTREAM_AUDIENCE=api://default
  Entra ID   UPSTREAM_ISSUER=https://login.microsoftonline.com/TENANT_ID/v2.0  UPSTREAM_AUDIENCE=the app's client id
  Auth0      UPSTREAM_ISSUER=https://YOUR_TENANT.auth0.com/  UPSTREAM_AUDIENCE=your API identifier
  GitHub     no discovery, opaque tokens: run the preset instead (an OAuth App, callback as above)
             GITHUB_CLIENT_ID=... GITHUB_CLIENT_SECRET=... PUBLIC_URL=... PROXY_KEY=... cargo run --example github --features rmcp
The example verifies JWT access tokens against the issuer's JWKS; every provider also has a preset
and an example (examples/okta.rs, auth0.rs, entra_id.rs, keycloak.rs: see docs/providers.md).
PUBLIC_URL must be https off loopback.
`;
}

/**
 * One run of the flow with the upstream signing with `alg`: provider, server, client. Leaves the
 * processes running (the caller stops them). Returns the counts, the whoami answer and the URLs.
 */
async function runFlow(opts, alg, mode, bin, runTimeoutMs) {
  const browser = opts.browser.includes('*') || opts.browser.includes(alg);
  const modeLabel = mode === 'issued' ? '' : `, ${mode}`;
  const label = opts.algs.length > 1 || browser || modeLabel ? ` [${alg}${modeLabel}${browser ? ', Chromium' : ''}]` : '';
  const steps = new Steps(`e2e${label}`);
  const serverPort = process.env.E2E_PORT ? Number(process.env.E2E_PORT) : await freePort();
  const publicUrl = `http://127.0.0.1:${serverPort}`;
  const env = {
    ...process.env,
    UPSTREAM_CLIENT_ID: process.env.UPSTREAM_CLIENT_ID || DEFAULT_CLIENT_ID,
    // The `aud` the provider writes in its access tokens, and the one the server requires.
    UPSTREAM_AUDIENCE: process.env.UPSTREAM_AUDIENCE || process.env.UPSTREAM_CLIENT_ID || DEFAULT_CLIENT_ID,
    UPSTREAM_CLIENT_SECRET: crypto.randomBytes(24).toString('base64url'),
    PUBLIC_URL: publicUrl,
    PORT: String(serverPort),
    PROVIDER_SIGNING_ALG: alg,
    TOKEN_MODE: mode,
    E2E_TOKEN_MODE: opts.server === 'rust' ? mode : 'passthrough',
    // The example's `write_note` tool needs a scope beyond the default set, which the provider
    // knows: the client steps up to it (client.mjs).
    ...(opts.server === 'rust' ? { STEP_UP_SCOPE: 'notes:write', PROVIDER_EXTRA_SCOPES: 'notes:write' } : {}),
    ...(opts.server === 'selfcheck' ? { PROVIDER_DYNAMIC_REGISTRATION: '1' } : {}),
  };
  delete env.UPSTREAM_ISSUER;
  let client;

  const provider = await steps.step(`the local OpenID provider starts (${alg})`, () =>
    spawnReady('provider', process.execPath, [path.join(HERE, 'provider.mjs'), '0'], {
      env,
      ready: /^READY (http:\/\/127\.0\.0\.1:\d+)$/,
      quiet: process.env.E2E_VERBOSE !== '1',
    }),
  );
  if (provider) env.UPSTREAM_ISSUER = provider.match[1];

  // The metadata document of the client identified by URL, over https with a CA of this run,
  // which the example server is told to trust (and to reach on loopback, for this test only).
  const docs = opts.server === 'rust'
    ? await steps.step('the https server of the client metadata document starts', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'actix-mcp-oauth-e2e-cimd-'));
      const server = await startDocumentServer(dir);
      const close = server.close;
      server.close = async () => {
        await close();
        fs.rmSync(dir, { recursive: true, force: true });
      };
      return server;
    })
    : undefined;

  await steps.step(`the ${opts.server === 'rust' ? 'example MCP server' : 'self-check MCP server'} starts and answers on /`, async () => {
    const serverEnv = {
      ...env,
      OAUTH_PROXY_KEY: process.env.OAUTH_PROXY_KEY || crypto.randomBytes(32).toString('base64url'),
      RUST_LOG: process.env.RUST_LOG || 'info,actix_mcp_oauth=debug',
      ...(docs ? { CIMD_EXTRA_ROOT_CERT: docs.caPath, CIMD_ALLOW_LOOPBACK: '1' } : {}),
    };
    const [command, args] = opts.server === 'rust' ? [bin, []] : [process.execPath, [path.join(HERE, 'selfcheck-server.mjs')]];
    const child = spawnTracked('server', command, args, { env: serverEnv });
    await waitForHttp(`${publicUrl}/`, { timeoutMs: 30_000, child });
  }, { timeoutMs: 35_000 });

  if (steps.ok) {
    const result = await runClient(`${publicUrl}/mcp`, env, Math.max(5_000, runTimeoutMs - 20_000), browser);
    client = result.summary ?? { passed: 0, failed: 0 };
    if (result.code !== 0 && client.failed === 0) {
      client.failed = 1;
      process.stderr.write(`e2e${label}: client.mjs exited with ${result.code}\n`);
    }
    client.whoami = result.stdout;
    if (browser && docs) {
      const cimd = await runClient(`${publicUrl}/mcp`, env, Math.max(5_000, runTimeoutMs - 20_000), true, [`--cimd=${docs.url}`]);
      const counts = cimd.summary ?? { passed: 0, failed: 1 };
      if (cimd.code !== 0 && counts.failed === 0) counts.failed = 1;
      client.passed += counts.passed;
      client.failed += counts.failed;
      await steps.step('the proxy fetched the metadata document itself, through its guard', () => {
        assert(docs.hits >= 1, `document fetches: ${docs.hits}`);
      });
    }
  }
  if (!opts.serve) await docs?.close();
  return {
    passed: steps.passed + (client?.passed ?? 0),
    failed: steps.failed + (client?.failed ?? 0),
    whoami: client?.whoami,
    publicUrl,
    issuer: env.UPSTREAM_ISSUER,
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const runTimeoutMs = Number(process.env.E2E_TIMEOUT_MS || 120_000);
  let passed = 0;
  let failed = 0;

  // The binary first: the build is bounded separately from the runs.
  let bin;
  if (opts.server === 'rust') {
    const build = new Steps('e2e build');
    bin = await serverBinary(build);
    passed += build.passed;
    failed += build.failed;
  }

  let last;
  const runs = opts.algs.flatMap((alg) => opts.modes.map((mode) => [alg, mode]));
  for (const [alg, mode] of failed === 0 ? runs : []) {
    // A Chromium run signs in two clients (registered, then by metadata document).
    const browserRun = opts.browser.includes('*') || opts.browser.includes(alg);
    const deadline = setTimeout(() => {
      process.stderr.write(`e2e: the ${alg} ${mode} run timed out after ${runTimeoutMs} ms\n`);
      process.stdout.write(`e2e: ${passed} passed, ${failed + 1} failed\n`);
      stopAll().finally(() => process.exit(1));
    }, browserRun ? 2 * runTimeoutMs : runTimeoutMs);
    last = await runFlow(opts, alg, mode, bin, runTimeoutMs);
    clearTimeout(deadline);
    passed += last.passed;
    failed += last.failed;
    if (last.whoami && !opts.serve) process.stdout.write(`whoami (${alg}, ${mode}): ${last.whoami}\n`);
    if (opts.serve) break;
    await stopAll();
  }

  if (failed === 0 && opts.serve && last) {
    assert(last.whoami, 'whoami printed');
    const { publicUrl, issuer } = last;
    const proxied = opts.server === 'rust';
    process.stdout.write(`
whoami (MCP TypeScript SDK client, signed in${proxied ? ' through the proxy' : ''} as the test user):
  ${last.whoami}

MCP server${proxied ? ' (behind the OAuth proxy)' : ' (self-check, no proxy) '}  ${publicUrl}/mcp
Protected resource metadata          ${publicUrl}/.well-known/oauth-protected-resource/mcp
Authorization server metadata        ${proxied ? `${publicUrl}/.well-known/oauth-authorization-server` : `${issuer}/.well-known/openid-configuration`}
Local OpenID provider (upstream)     ${issuer}  (test user ${TEST_USER.name} <${TEST_USER.email}>; one-click sign-in and consent)

Try it with your own MCP client, e.g.:  npx @modelcontextprotocol/inspector  (Streamable HTTP, URL ${publicUrl}/mcp)
${providerNotes(publicUrl)}
e2e: ${passed} passed, ${failed} failed
Running until Ctrl-C.
`);
    await new Promise(() => {});
  }

  await stopAll();
  process.stdout.write(`e2e: ${passed} passed, ${failed} failed\n`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch(async (err) => {
  process.stderr.write(`e2e: ${err?.stack ?? err}\n`);
  await stopAll();
  process.stdout.write('e2e: 0 passed, 1 failed\n');
  process.exit(1);
});
