#!/usr/bin/env bash
# benches/load.sh: the example MCP server under load with wrk, beside the bare actix route it
# runs on and (when set up) the two peers, all in one run, on 127.0.0.1 only.
#
#   benches/load.sh                       # from anywhere; builds the release example if needed
#   DURATION=5 RUNS=2 benches/load.sh     # shorter windows, two interleaved runs (medians)
#
# Rows (every request a JSON-RPC `tools/call whoami` POST; the example runs with LOAD_ROUTES=1):
#   a bare       POST /load/bare: the same JSON answer, no auth, no MCP (the floor)
#   b protected  POST /load/protected: the same route behind RequireAuth, one valid token
#   c rotate     the same, 10 000 distinct valid tokens rotating (the cache's default bound)
#   d garbage    the same, one bad-signature token repeated (401 expected)
#   e stateless  POST /mcp, MCP_STATELESS=1 (rmcp-actix-web stateless, JSON responses)
#   f stateful   POST /mcp, sessions and SSE (initialize once, then the session id)
#   g issued     POST /mcp with a token the proxy issued itself. Runs only when ISSUED_TOKEN_FILE
#                names a file holding such a token, sealed with OAUTH_PROXY_KEY (set both; the
#                proxy must issue and accept its own tokens for this row to mean anything)
#   h churn      POST /load/protected, 100 000 distinct valid (EdDSA) tokens rotating: peak RSS
#                with ten times the cache bound in distinct tokens
#   mcpuse-*, fastmcp-*  the peers, stateless and stateful, same tokens, same request
#
# Knobs: DURATION [10] s measured per row, WARMUP [2] s unmeasured before it, CONNS [16],
# THREADS [2] (wrk), RUNS [1] (interleaved; medians reported), ROWS [all of the above],
# PEERS [../shared/peers next to the repository] a set-up copy of the peers harness
# (node_modules and .venv present, see its README) or "none", PORT [3300], PROVIDER_PORT [18090],
# BIN [target/release/examples/mcp_server], OUT [a temporary directory, removed at exit].
#
# Tokens come from benches/provider.mjs, a stand-in provider (RSA and Ed25519 keys, JWKS and
# discovery served on 127.0.0.1). The example accepts these provider-minted tokens as its
# verifier checks them; once it requires ACCEPT_UPSTREAM_TOKENS=1 for that, the variable set
# below keeps this script working.
#
# Per row: req/s, p50/p99 (wrk), statuses and bodies that carry the user, server CPU per request
# (utime+stime from /proc/<pid>/stat over the measured window), peak RSS (VmHWM; the server
# starts afresh for every row). Each wrk run is bounded by -d and an outer timeout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}; CONNS=${CONNS:-16}; THREADS=${THREADS:-2}
RUNS=${RUNS:-1}; PORT=${PORT:-3300}; PROVIDER_PORT=${PROVIDER_PORT:-18090}
ROWS=${ROWS:-"bare protected rotate garbage stateless stateful issued churn mcpuse-stateless mcpuse-stateful fastmcp-stateless fastmcp-stateful"}
BIN=${BIN:-$ROOT/target/release/examples/mcp_server}
PEERS=${PEERS:-$ROOT/../shared/peers}
CLK_TCK=$(getconf CLK_TCK)

log() { echo "[load.sh $(date +%H:%M:%S)] $*" >&2; }

command -v wrk >/dev/null || {
  log "installing wrk (Debian)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }
  else sudo apt-get install -y -qq wrk; fi
}
command -v node >/dev/null || { echo "node is required (benches/provider.mjs)"; exit 1; }
if [ ! -x "$BIN" ] || [ -n "${BUILD:-}" ]; then
  log "building the release example"
  (cd "$ROOT" && cargo build --release --example mcp_server --features rmcp)
fi
peers_ok=0
if [ "$PEERS" != none ] && [ -d "$PEERS/node_modules/mcp-use" ] && [ -x "$PEERS/.venv/bin/python" ]; then
  PEERS=$(cd "$PEERS" && pwd); peers_ok=1
else
  log "peers not set up in $PEERS: their rows are skipped (copy ../shared/peers out, run its setup.sh, pass PEERS=that copy)"
fi

WORK=$(mktemp -d); OUT=${OUT:-$WORK}; mkdir -p "$OUT"; RES="$OUT/results.jsonl"; : >"$RES"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
port_free "$PROVIDER_PORT" || { echo "port $PROVIDER_PORT busy"; exit 1; }

log "minting tokens (10 000 RS256, 100 000 EdDSA)"
node "$ROOT/benches/provider.mjs" "$PROVIDER_PORT" "$WORK" 10000 100000 >"$WORK/provider.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 600); do grep -q ready "$WORK/provider.log" 2>/dev/null && break; sleep 0.2; done
grep -q ready "$WORK/provider.log" || { echo "provider did not start"; cat "$WORK/provider.log"; exit 1; }
ISSUER="http://127.0.0.1:$PROVIDER_PORT"
# A fixed proxy key for the run, so that an issued token (row g) opens in every server started.
PROXY_KEY=${OAUTH_PROXY_KEY:-$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')}

SRV_PID=""
start() {  # $1 = row
  local row=$1 cmd=()
  case $row in
    mcpuse-*)
      cmd=(env NODE_ENV=production MCP_USE_ANONYMIZED_TELEMETRY=false PORT="$PORT" AUTH=1
           JWKS_PORT="$PROVIDER_PORT" AUD=mcp-bench
           MCPUSE_STATELESS=$([ "$row" = mcpuse-stateless ] && echo 1 || echo 0)
           node "$PEERS/mcpuse-server.mjs") ;;
    fastmcp-*)
      local s; s=$([ "$row" = fastmcp-stateless ] && echo 1 || echo 0)
      cmd=(env PORT="$PORT" AUTH=1 JWKS_PORT="$PROVIDER_PORT" AUD=mcp-bench STATELESS="$s"
           JSON_RESPONSE="$s" "$PEERS/.venv/bin/python" "$PEERS/fastmcp-server.py") ;;
    *)
      cmd=(env UPSTREAM_ISSUER="$ISSUER" UPSTREAM_CLIENT_ID=mcp-bench UPSTREAM_CLIENT_SECRET=bench
           UPSTREAM_AUDIENCE=mcp-bench PORT="$PORT" PUBLIC_URL="http://127.0.0.1:$PORT"
           RUST_LOG=warn OAUTH_PROXY_KEY="$PROXY_KEY" LOAD_ROUTES=1 ACCEPT_UPSTREAM_TOKENS=1
           MCP_STATELESS=$([ "$row" = stateful ] && echo 0 || echo 1) "$BIN") ;;
  esac
  port_free "$PORT" || { echo "port $PORT busy"; exit 1; }
  (cd "${PEERS_CWD:-$WORK}" && exec "${cmd[@]}") >"$OUT/server-$row.log" 2>&1 &
  SRV_PID=$!; PIDS+=("$SRV_PID")
  local code=000
  for _ in $(seq 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 2 -X POST "http://127.0.0.1:$PORT/mcp" \
      -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
      -d '{"jsonrpc":"2.0","id":1,"method":"ping"}' || true)
    [ "$code" != 000 ] && break
    kill -0 "$SRV_PID" 2>/dev/null || { echo "server for $row died:"; tail -20 "$OUT/server-$row.log"; exit 1; }
    sleep 0.1
  done
  [ "$code" != 000 ] || { echo "server for $row not ready"; tail -20 "$OUT/server-$row.log"; exit 1; }
}
stop() {
  kill "$SRV_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
}

handshake() {  # $1 = token file; prints the Mcp-Session-Id
  local t; t=$(head -1 "$1")
  local h="$WORK/headers"
  curl -s -D "$h" -o /dev/null -m 10 -X POST "http://127.0.0.1:$PORT/mcp" \
    -H "Authorization: Bearer $t" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"load","version":"1"}}}'
  local sid; sid=$(grep -i '^mcp-session-id:' "$h" | head -1 | awk '{print $2}' | tr -d '\r')
  [ -n "$sid" ] || { echo "no Mcp-Session-Id from initialize" >&2; return 1; }
  curl -s -o /dev/null -m 10 -X POST "http://127.0.0.1:$PORT/mcp" \
    -H "Authorization: Bearer $t" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-06-18' \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  echo "$sid"
}

wrk_run() {  # $1 = seconds, $2 = result file or ""; the row's settings in the environment
  TOKENS_FILE="$TF" ROTATE="$ROT" TARGET="$TARGET" SESSION_ID="$SID" BODY_MARK="$MARK" \
    RESULT_FILE="$2" timeout $(($1 + 30)) wrk -t"$THREADS" -c"$CONNS" -d"$1s" --timeout 10s \
    --latency -s "$ROOT/benches/load.lua" "http://127.0.0.1:$PORT" >/dev/null 2>&1 || true
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kb() { awk '$1 == "VmHWM:" {print $2}' "/proc/$1/status"; }

log "rows: $ROWS; ${DURATION}s each after ${WARMUP}s warm-up, $CONNS connections, $RUNS run(s)"
for run in $(seq "$RUNS"); do
  for row in $ROWS; do
    TF="$WORK/token.txt"; ROT=0; TARGET=/load/protected; SID=""; MARK=user-; EXPECT=200
    case $row in
      bare) TARGET=/load/bare; MARK='"anonymous"' ;;
      protected) ;;
      rotate) TF="$WORK/tokens.txt"; ROT=1 ;;
      garbage) TF="$WORK/garbage.txt"; EXPECT=401 ;;
      stateless|stateful) TARGET=/mcp ;;
      issued)
        # Row g: a proxy-issued token. Runs once the proxy issues its own access tokens and
        # ISSUED_TOKEN_FILE holds one sealed with OAUTH_PROXY_KEY.
        if [ -z "${ISSUED_TOKEN_FILE:-}" ] || [ -z "${OAUTH_PROXY_KEY:-}" ]; then
          [ "$run" = 1 ] && log "row issued skipped: set ISSUED_TOKEN_FILE and OAUTH_PROXY_KEY"
          continue
        fi
        TF="$ISSUED_TOKEN_FILE"; TARGET=/mcp ;;
      churn) TF="$WORK/churn.txt"; ROT=1 ;;
      mcpuse-*|fastmcp-*)
        [ "$peers_ok" = 1 ] || continue
        TARGET=/mcp ;;
      *) echo "unknown row $row"; exit 1 ;;
    esac
    PEERS_CWD=""; case $row in mcpuse-*|fastmcp-*) PEERS_CWD=$PEERS ;; esac
    start "$row"
    case $row in *stateful) SID=$(handshake "$TF") ;; esac
    wrk_run "$WARMUP" ""
    c0=$(ticks "$SRV_PID")
    tmp="$WORK/result.json"; : >"$tmp"
    wrk_run "$DURATION" "$tmp"
    c1=$(ticks "$SRV_PID"); hwm=$(hwm_kb "$SRV_PID")
    stop
    [ -s "$tmp" ] || { log "no result for $row (see $OUT/server-$row.log)"; continue; }
    python3 - "$tmp" "$row" "$run" "$c0" "$c1" "$CLK_TCK" "$hwm" "$EXPECT" >>"$RES" <<'EOF'
import json, sys
a = sys.argv
r = json.loads(open(a[1]).read().strip().splitlines()[-1])
cpu = (int(a[5]) - int(a[4])) / int(a[6])
r.update(row=a[2], run=int(a[3]), cpu_us=1e6 * cpu / max(1, r["requests"]),
         hwm_mib=int(a[7]) / 1024, expect=a[8])
print(json.dumps(r))
EOF
    tail -1 "$RES" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("  %-18s run%d %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  cpu %6.1f us/req  hwm %5.1f MiB  statuses %s  body_ok %d" % (
    r["row"], r["run"], r["rps"], r["p50_ms"], r["p99_ms"], r["cpu_us"], r["hwm_mib"], r["statuses"], r["body_ok"]))' >&2
  done
done

python3 - "$RES" "$(nproc)" "$CONNS" "$DURATION" "$RUNS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
nproc, conns, duration, runs = sys.argv[2:]
by = {}
for r in rows:
    by.setdefault(r["row"], []).append(r)
med = lambda name, key: statistics.median(x[key] for x in by[name])
label = {
    "bare": "(a) bare route, no auth, no MCP", "protected": "(b) protected route, 1 token",
    "rotate": "(c) protected, 10 000 tokens rotating", "garbage": "(d) protected, garbage token (401)",
    "stateless": "(e) MCP stateless tools/call", "stateful": "(f) MCP stateful tools/call",
    "issued": "(g) MCP, proxy-issued token", "churn": "(h) protected, 100 000 tokens rotating",
    "mcpuse-stateless": "mcp-use stateless", "mcpuse-stateful": "mcp-use stateful",
    "fastmcp-stateless": "FastMCP stateless", "fastmcp-stateful": "FastMCP stateful",
}
peer_of = {"stateless": "mcpuse-stateless", "issued": "mcpuse-stateless", "stateful": "mcpuse-stateful"}
a = "bare" in by and med("bare", "rps")
a_cpu = "bare" in by and med("bare", "cpu_us")
print(f"\n{nproc} cores, {conns} connections, {duration} s per row, {runs} run(s), medians\n")
print("| row | req/s | × (a) | × mcp-use | p50 ms | p99 ms | CPU µs/req | CPU × (a) | peak RSS MiB | answers as expected |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name in label:
    if name not in by:
        continue
    rps, cpu = med(name, "rps"), med(name, "cpu_us")
    peer = peer_of.get(name)
    vs_peer = f"{rps / med(peer, 'rps'):.1f}×" if peer in by else "—"
    got = sum(x["statuses"].get(x["expect"], 0) for x in by[name])
    total = sum(sum(x["statuses"].values()) for x in by[name])
    ok = sum(x["body_ok"] for x in by[name])
    want = f"{got}/{total} {by[name][0]['expect']}" + ("" if by[name][0]["expect"] != "200" else f", {ok} with the expected body")
    print(f"| {label[name]} | {rps:.0f} | {rps / a:.2f} | {vs_peer} | {med(name, 'p50_ms'):.2f} | "
          f"{med(name, 'p99_ms'):.2f} | {cpu:.1f} | {cpu / a_cpu:.2f} | {max(x['hwm_mib'] for x in by[name]):.1f} | {want} |"
          if a else f"| {label[name]} | {rps:.0f} | — | {vs_peer} | {med(name, 'p50_ms'):.2f} | {med(name, 'p99_ms'):.2f} | {cpu:.1f} | — | {max(x['hwm_mib'] for x in by[name]):.1f} | {want} |")
EOF
