#!/usr/bin/env bash
# The README's Run command: starts a local OpenID provider (with a test user) and the example MCP
# server behind the OAuth proxy, signs in with the official MCP TypeScript SDK through the whole
# flow, prints the `whoami` answer and the URLs, then keeps both running for you to try with your
# own MCP client until Ctrl-C (or SIGTERM), which stops everything it started. It also prints how
# to point the server at a real provider.
#
#   scripts/demo.sh            (port 8080 when it is free; PORT=9000 scripts/demo.sh for another)
#
# The provider's, the server's and the build's output go to target/demo.log (DEMO_LOG=path for
# another file); the terminal shows the result. Needs the Rust toolchain and Node >= 20; installs
# the Node packages it needs. Loopback only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

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

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A fixed port makes a callback URL worth registering with a real provider; a random one is used
# only when 8080 is taken.
port=${PORT:-}
if [ -z "$port" ]; then
  if listening 8080; then
    echo "Port 8080 is taken: using a free port. For a callback URL you can register, pick one: PORT=9000 scripts/demo.sh" >&2
  else
    port=8080
  fi
fi

log=${DEMO_LOG:-target/demo.log}
mkdir -p "$(dirname "$log")"
: >"$log"
echo "==> building and starting the provider and the MCP server (their output: $log)" >&2

node_pid=
stop() {
  trap - INT TERM EXIT
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    # run-e2e.mjs leads its own process group (with the cargo build, if one is running); on
    # SIGTERM it stops the provider and the server, each in a group of its own, and exits.
    kill -TERM -- "-$node_pid" 2>/dev/null || kill -TERM "$node_pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$node_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$node_pid" 2>/dev/null || true
  fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

# Job control on: the background job gets a process group of its own, so that `stop` can signal
# it whole. In the background, so that this shell answers signals at once (a foreground child
# would hold them until it exits).
set -m
E2E_PORT="$port" E2E_TIMEOUT_MS="${E2E_TIMEOUT_MS:-60000}" \
  node tests/e2e/run-e2e.mjs --serve </dev/null 2>>"$log" &
node_pid=$!
set +m
status=0
wait "$node_pid" || status=$?
node_pid=
if [ "$status" -ne 0 ]; then
  echo "scripts/demo.sh: the demo failed (exit $status); the end of $log:" >&2
  tail -n 40 "$log" >&2
fi
exit "$status"
