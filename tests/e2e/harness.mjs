// A tiny step runner for the e2e scripts: named steps in order, each bounded in time, stopping at
// the first failure (later steps depend on earlier ones), and a one-line summary.

import process from 'node:process';

export class Steps {
  constructor(suite) {
    this.suite = suite;
    this.passed = 0;
    this.failed = 0;
    this.skipped = 0;
    this.failures = [];
  }

  /** Runs `fn` as the step `name` unless an earlier step failed; returns its value. */
  async step(name, fn, { timeoutMs = 15_000 } = {}) {
    if (this.failed > 0) {
      this.skipped += 1;
      process.stderr.write(`  skip  ${name}\n`);
      return undefined;
    }
    const started = Date.now();
    let timer;
    try {
      const value = await Promise.race([
        Promise.resolve().then(fn),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      this.passed += 1;
      process.stderr.write(`  ok    ${name} (${Date.now() - started} ms)\n`);
      return value;
    } catch (err) {
      this.failed += 1;
      this.failures.push({ name, err });
      process.stderr.write(`  FAIL  ${name}: ${err?.stack ?? err}\n`);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  get ok() {
    return this.failed === 0;
  }

  summary() {
    const skipped = this.skipped ? `, ${this.skipped} skipped` : '';
    return `${this.suite}: ${this.passed} passed, ${this.failed} failed${skipped}`;
  }
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export function assertEqual(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** Rejects after `ms` unless `promise` settles first. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
