// Child processes for the e2e scripts: start, wait until ready, always stop.

import { spawn } from 'node:child_process';
import * as net from 'node:net';
import process from 'node:process';

const children = new Set();

/** A TCP port free on 127.0.0.1 right now (the kernel picks it; reuse races are unlikely). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function prefixLines(stream, name, sink, quiet, onLine) {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buffered += chunk;
    let i;
    while ((i = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      onLine?.(line);
      if (!quiet) sink.write(line.startsWith(`[${name}]`) ? `${line}\n` : `[${name}] ${line}\n`);
    }
  });
}

/**
 * Spawns `command args` in its own process group, tracked so that it is stopped when this
 * process ends, with its output lines prefixed by `[name]` on stderr (unless `quiet`).
 * `onLine` sees every stdout line.
 */
export function spawnTracked(name, command, args, { env = process.env, cwd, quiet = false, onLine } = {}) {
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: process.platform !== 'win32' });
  children.add(child);
  child.on('exit', () => children.delete(child));
  prefixLines(child.stdout, name, process.stderr, quiet, onLine);
  prefixLines(child.stderr, name, process.stderr, quiet);
  return child;
}

/**
 * Spawns like `spawnTracked` and resolves with `{ child, match }` once a stdout line matches
 * `ready` (a RegExp). Rejects when the process exits first or `timeoutMs` passes.
 */
export function spawnReady(name, command, args, { env = process.env, cwd, ready, timeoutMs = 20_000, quiet = false } = {}) {
  return new Promise((resolve, reject) => {
    let done = false;
    let child;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      reject(new Error(`${name} not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    child = spawnTracked(name, command, args, {
      env,
      cwd,
      quiet,
      onLine: (line) => {
        const match = ready.exec(line);
        if (match && !done) {
          done = true;
          clearTimeout(timer);
          resolve({ child, match });
        }
      },
    });
    child.once('error', (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${name} failed to start: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
    });
  });
}

/** Polls `url` until it answers any HTTP status, or throws after `timeoutMs`. */
export async function waitForHttp(url, { timeoutMs = 20_000, intervalMs = 100, child } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`${url}: the server exited (code ${child.exitCode})`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000), redirect: 'manual' });
      await res.body?.cancel();
      return res.status;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${lastError?.cause?.code ?? lastError?.message})`);
}

/** Stops one child: SIGTERM to its process group, SIGKILL after `graceMs`. */
export function stop(child, graceMs = 3_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal(child, 'SIGKILL');
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    signal(child, 'SIGTERM');
  });
}

function signal(child, sig) {
  try {
    // The child leads its own process group (detached), so `cargo run` takes its server along.
    if (process.platform !== 'win32') process.kill(-child.pid, sig);
    else child.kill(sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  }
}

/** Stops every child still running. */
export async function stopAll() {
  await Promise.all([...children].map((c) => stop(c)));
}

// Never leave a child behind, however this process ends.
process.on('exit', () => {
  for (const child of children) signal(child, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    stopAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}
