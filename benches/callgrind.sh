#!/usr/bin/env bash
# benches/callgrind.sh: instructions per request of the example server's routes, counted by
# valgrind's callgrind, which is deaf to other processes on the machine (wrk's req/s is not).
#
#   benches/callgrind.sh                  # bare protected garbage stateless stateful, 2 000 each
#   N=500 ROUTES="bare protected" benches/callgrind.sh
#
# The release example runs under callgrind with instrumentation off; per route a keep-alive
# client sends N/10 unmeasured requests, then callgrind counts exactly N more (zeroed before,
# dumped after), one at a time on one connection. Prints instructions per request per route
# and leaves the dumps (callgrind.out.*) in OUT [target/callgrind] for callgrind_annotate:
#   callgrind_annotate --inclusive=yes target/callgrind/callgrind.out.<pid>.<n> | head -60
# Routes: bare, protected (POST /load/bare and /load/auth, LOAD_ROUTES=1), garbage (/load/auth
# with one bad-signature token, answered 401 from the refusal cache), stateless (POST /mcp,
# MCP_STATELESS=1), stateful (POST /mcp in a session opened before). Tokens come
# from benches/provider.mjs as in benches/load.sh; benches/same-json.py first checks that the
# bare route answers the JSON /mcp does. 127.0.0.1 only; every wait is bounded.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-2000}; PORT=${PORT:-3310}; PROVIDER_PORT=${PROVIDER_PORT:-18092}
ROUTES=${ROUTES:-"bare protected garbage stateless stateful"}
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/mcp_server}
OUT=${OUT:-$ROOT/target/callgrind}
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)"; exit 1; }
[ -x "$BIN" ] || (cd "$ROOT" && timeout 1800 cargo build --release --example mcp_server --features rmcp)
mkdir -p "$OUT"
WORK=$(mktemp -d); PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

node "$ROOT/benches/provider.mjs" "$PROVIDER_PORT" "$WORK" 1 0 >"$WORK/provider.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 150); do grep -q ready "$WORK/provider.log" 2>/dev/null && break; sleep 0.2; done
grep -q ready "$WORK/provider.log" || { echo "provider did not start"; exit 1; }

# Sends $3 requests to path $2 on one keep-alive connection; $1 = the Mcp-Session-Id or "";
# $4 = the token file (token.txt), $5 = the status expected (200: with the user's JSON).
client() {
  timeout 600 python3 - "$PORT" "$2" "$3" "$(head -1 "$WORK/${4:-token.txt}")" "$1" "${5:-200}" <<'EOF'
import http.client, sys
port, path, n, token, session, expect = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "MCP-Protocol-Version": "2025-06-18", "Authorization": "Bearer " + token}
if session:
    headers["Mcp-Session-Id"] = session
bad = 0
for i in range(n):
    body = '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"whoami","arguments":{}}}' % (i + 1)
    conn.request("POST", path, body, headers)
    r = conn.getresponse()
    data = r.read()
    if r.status != expect or (expect == 200 and b"user-0" not in data):
        bad += 1
if bad:
    sys.exit("%d of %d answers were not as expected" % (bad, n))
EOF
}

handshake() {  # prints the Mcp-Session-Id of a new session
  local t; t=$(head -1 "$WORK/token.txt")
  curl -s -D "$WORK/h" -o /dev/null -m 30 -X POST "http://127.0.0.1:$PORT/mcp" \
    -H "Authorization: Bearer $t" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"callgrind","version":"1"}}}'
  local sid; sid=$(grep -i '^mcp-session-id:' "$WORK/h" | awk '{print $2}' | tr -d '\r')
  curl -s -o /dev/null -m 30 -X POST "http://127.0.0.1:$PORT/mcp" \
    -H "Authorization: Bearer $t" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-06-18' \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  echo "$sid"
}

run_server() {  # $1 = MCP_STATELESS; leaves SRV set
  env UPSTREAM_ISSUER="http://127.0.0.1:$PROVIDER_PORT" UPSTREAM_CLIENT_ID=bench \
    UPSTREAM_CLIENT_SECRET=bench UPSTREAM_AUDIENCE=mcp-bench PORT="$PORT" RUST_LOG=warn \
    LOAD_ROUTES=1 ACCEPT_UPSTREAM_TOKENS=1 MCP_STATELESS="$1" \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out.%p" \
    "$BIN" >"$WORK/server.log" 2>&1 &
  SRV=$!; PIDS+=("$SRV")
  for _ in $(seq 300); do
    curl -s -o /dev/null -m 2 "http://127.0.0.1:$PORT/" && return 0
    kill -0 "$SRV" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.2
  done
  echo "server not ready"; exit 1
}

stop_server() {  # TERM, then KILL after 30 s
  kill "$SRV" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$SRV" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$SRV" 2>/dev/null || true
  wait "$SRV" 2>/dev/null || true
}

control() {  # callgrind_control "$@" on the server, bounded like every other wait
  timeout 120 callgrind_control "$@" "$SRV" >/dev/null \
    || { echo "callgrind_control $* did not answer within 120 s"; exit 1; }
}

measure() {  # $1 = route label, $2 = path, $3 = session or "", $4 $5 as for client
  client "$3" "$2" $((N / 10)) "${4:-}" "${5:-}"
  control -z
  control -i on
  client "$3" "$2" "$N" "${4:-}" "${5:-}"
  control -i off
  control -d "$1"
  local f; f=$(ls -t "$OUT"/callgrind.out."$SRV".* | head -1)
  local ir; ir=$(awk '/^totals:/ {print $2}' "$f")
  printf '%-10s %9.0f instructions per request (%s requests, %s)\n' "$1" "$((ir / N))" "$N" "$f"
}

stateful=0
for route in $ROUTES; do [ "$route" = stateful ] && stateful=1; done
rm -f "$OUT"/callgrind.out.*
run_server 1
# (a) is the floor of (e) only if it answers the same JSON (benches/same-json.py).
timeout 300 python3 "$ROOT/benches/same-json.py" "$PORT" "$(head -1 "$WORK/token.txt")" \
  || { echo "pre-flight failed: the bare route does not answer what /mcp answers"; exit 1; }
for route in $ROUTES; do
  case $route in
    bare) measure bare /load/bare "" ;;
    protected) measure protected /load/auth "" ;;
    garbage) measure garbage /load/auth "" garbage.txt 401 ;;
    stateless) measure stateless /mcp "" ;;
    stateful) ;;
    *) echo "unknown route $route"; exit 1 ;;
  esac
done
stop_server
if [ "$stateful" = 1 ]; then
  run_server 0
  measure stateful /mcp "$(handshake)"
  stop_server
fi
