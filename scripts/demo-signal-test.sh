#!/usr/bin/env bash
# Checks that scripts/demo.sh stops everything it started when it is signalled: starts the demo
# on a free port, waits until it serves, sends SIGTERM (then, in a second run, SIGINT) to the
# demo's own process only, and checks that it exits and that the MCP server's and the local
# provider's ports are closed. Run by scripts/test.sh after the e2e suite (the example server is
# built by then, so each run takes seconds).
#
#   scripts/demo-signal-test.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

out=$(mktemp)
demo=
cleanup() {
  # A failed check may leave the demo running: SIGTERM lets it stop what it started.
  if [ -n "$demo" ] && kill -0 "$demo" 2>/dev/null; then
    kill -TERM "$demo" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$demo" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$demo" 2>/dev/null || true
  fi
  rm -f "$out"
}
trap cleanup EXIT

run() {
  local sig=$1 port provider_port
  port=$(free_port)
  : >"$out"
  # With job control on, as in a terminal: a background job of a script without it would
  # start with SIGINT ignored, which no trap can undo.
  set -m
  PORT=$port DEMO_LOG=target/demo-signal-test.log scripts/demo.sh >"$out" 2>&1 &
  demo=$!
  set +m
  # Ready when it says so (the build, if needed, is bounded by run-e2e.mjs itself).
  for _ in $(seq 600); do
    grep -q 'Running until Ctrl-C' "$out" && break
    kill -0 "$demo" 2>/dev/null || { cat "$out" >&2; echo "demo-signal-test: the demo ended before it served" >&2; exit 1; }
    sleep 0.5
  done
  grep -q 'Running until Ctrl-C' "$out" || { cat "$out" >&2; echo "demo-signal-test: the demo never served" >&2; exit 1; }
  provider_port=$(sed -n 's|^Local OpenID provider (upstream) *http://127.0.0.1:\([0-9]*\).*|\1|p' "$out")
  [ -n "$provider_port" ] || { cat "$out" >&2; echo "demo-signal-test: no provider URL printed" >&2; exit 1; }
  listening "$port" || { echo "demo-signal-test: the server is not on $port" >&2; exit 1; }
  listening "$provider_port" || { echo "demo-signal-test: the provider is not on $provider_port" >&2; exit 1; }
  [ "$(grep -c 'passed, ' "$out")" -eq 1 ] || { cat "$out" >&2; echo "demo-signal-test: more than one result printed" >&2; exit 1; }

  kill "-$sig" "$demo"
  for _ in $(seq 150); do kill -0 "$demo" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$demo" 2>/dev/null; then echo "demo-signal-test: demo.sh still runs 15 s after SIG$sig" >&2; exit 1; fi
  demo=
  for p in "$port" "$provider_port"; do
    if listening "$p"; then echo "demo-signal-test: port $p still open after SIG$sig" >&2; exit 1; fi
  done
  echo "demo-signal-test: SIG$sig stopped the demo; ports $port and $provider_port are closed"
}

run TERM
run INT
