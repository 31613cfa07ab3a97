#!/usr/bin/env bash
# The README's Run command: starts a local OpenID provider (with a test user) and the example MCP
# server behind the OAuth proxy, signs in with the official MCP TypeScript SDK through the whole
# flow, prints the `whoami` answer and the URLs, then keeps both running for you to try with your
# own MCP client until Ctrl-C. It also prints how to point the server at a real provider.
#
#   scripts/demo.sh            (PORT=8080 scripts/demo.sh for a fixed port)
#
# Needs the Rust toolchain and Node >= 20; installs the Node packages it needs. Loopback only.
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

for tool in cargo node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "scripts/demo.sh: $tool is required (Rust toolchain and Node >= 20)" >&2
    exit 1
  fi
done
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "scripts/demo.sh: node >= 20 is required (found $(node --version))" >&2
  exit 1
fi

if [ ! -d tests/e2e/node_modules ]; then
  echo "==> npm ci (tests/e2e)" >&2
  (cd tests/e2e && npm ci --no-audit --no-fund)
fi

# run-e2e.mjs builds the example (cargo build --example mcp_server --features rmcp), starts the
# provider and the server on 127.0.0.1, runs the SDK client, and with --serve stays up until
# Ctrl-C, stopping everything it started on the way out.
E2E_PORT="${PORT:-}" E2E_TIMEOUT_MS="${E2E_TIMEOUT_MS:-60000}" node tests/e2e/run-e2e.mjs --serve
