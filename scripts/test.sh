#!/usr/bin/env bash
# The README's Test command: formatting, lints, every test target, the doc tests, and the
# end-to-end suite (local OpenID provider + example MCP server + the official MCP TypeScript SDK).
#
#   scripts/test.sh
#
# Needs the Rust toolchain (with rustfmt and clippy), Node >= 20, and Debian's Chromium
# (/usr/bin/chromium, or $E2E_CHROMIUM) for the consent page in a real browser. Installs the e2e
# suite's Node packages (`npm ci` in tests/e2e) when they are missing or out of date. Everything it starts
# listens on 127.0.0.1 and is stopped when it ends; every e2e step is bounded in time.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cleanup() {
  local pids
  pids=$(jobs -p)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

step() { printf '\n==> %s\n' "$*" >&2; }

# The Node side first: the Rust end-to-end test (cargo test) uses it too.
if ! command -v node >/dev/null 2>&1; then
  echo "scripts/test.sh: node (>= 20) is required for the end-to-end suite; install it and rerun" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "scripts/test.sh: node >= 20 is required (found $(node --version))" >&2
  exit 1
fi
chromium=${E2E_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "scripts/test.sh: $chromium is missing; the end-to-end suite renders the consent page in Debian's" >&2
  echo "  headless Chromium: apt-get install chromium (or set E2E_CHROMIUM to a Chromium executable)" >&2
  exit 1
fi
# Also when the lockfile changed since the last install (npm keeps its copy in node_modules).
if [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
  step "npm ci (tests/e2e)"
  (cd tests/e2e && npm ci --no-audit --no-fund)
fi

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets --all-features -- -D warnings"
cargo clippy --all-targets --all-features -- -D warnings

step "cargo test --all-targets --all-features"
cargo test --all-targets --all-features

step "cargo test --doc --all-features"
cargo test --doc --all-features

step "e2e: the local OpenID provider behaves like the upstream the proxy expects"
timeout 120 node tests/e2e/provider-smoke.mjs

step "e2e: harness self-check (the SDK client against the SDK's own server, no proxy)"
timeout 120 node tests/e2e/run-e2e.mjs --server=selfcheck

step "e2e: the MCP TypeScript SDK signs in through the proxy and calls whoami (RS256, ES256, EdDSA upstream; RS256 in Chromium)"
# The build inside is bounded by run-e2e.mjs itself (E2E_BUILD_TIMEOUT_MS), each run by E2E_TIMEOUT_MS.
# The RS256 run signs in with headless Chromium (consent page checked, framed, photographed to
# tests/e2e/out/consent.png, Approve clicked); the others with the fetch user agent.
node tests/e2e/run-e2e.mjs --alg=RS256,ES256,EdDSA --browser=RS256

step "e2e: the same flow in passthrough mode (the provider's tokens go to the client; RS256)"
node tests/e2e/run-e2e.mjs --mode=passthrough

step "e2e: the access policy at sign-in (an allowed user signs in, a refused one gets the page and no code)"
timeout 180 node tests/e2e/policy.mjs

step "demo: scripts/demo.sh stops everything it started on SIGTERM and SIGINT (ports closed)"
timeout 300 scripts/demo-signal-test.sh
