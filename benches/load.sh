#!/usr/bin/env bash
# benches/load.sh: the example MCP server under load with wrk, beside the bare actix route it
# runs on and (when set up) the two peers, all in one run, on 127.0.0.1 only.
#
#   benches/load.sh                       # from anywhere; builds the release example if needed
#   DURATION=5 RUNS=2 benches/load.sh     # shorter windows, two interleaved runs (medians)
#
# Rows (every request a JSON-RPC `tools/call whoami` POST; the example runs with LOAD_ROUTES=1):
#   a bare       POST /load/bare: the JSON answer of (e), no auth, no MCP (checked first, below)
#   b protected  POST /load/auth: the same route behind RequireAuth, one valid token
#   c rotate     the same, 10 000 distinct valid tokens rotating, as many as the token cache's
#                default capacity: the warm-up goes on (30 s at most) until the cache holds
#                them all, so every measured request is a hit on a full cache, each on another
#                entry (the lookup with the entries out of the CPU caches, not the cost of
#                verifying; the cache fill after the row shows that nothing was evicted)
#   d garbage    the same, one bad-signature token repeated (401 expected): refusal cache hits
#   d2 garbage-distinct  10 000 distinct bad-signature tokens rotating (401 expected): every
#                request a signature check, the honest cost of a flood of distinct bad tokens
#   e stateless  POST /mcp, MCP_STATELESS=1 (rmcp-actix-web stateless, JSON responses)
#   f stateful   POST /mcp, sessions and SSE: CONNS sessions (initialized before the row), as
#                many as connections, as MCP clients have; each wrk thread takes the next of
#                its share of them for every request, so each session has one request in
#                flight at a time. Same wrk threads and connections as every other row
#   g issued     POST /mcp stateless, with an access token the proxy issued itself: the example
#                runs in front of tests/e2e/provider.mjs (oidc-provider, needs tests/e2e's
#                `npm ci`) without ACCEPT_UPSTREAM_TOKENS, and benches/sign-in.mjs signs in
#                through it as an MCP client does (registration, /authorize with PKCE, the
#                consent page and the provider's forms, /token) before the row
#   h churn      POST /load/auth, 100 000 distinct valid (EdDSA) tokens, each wrk thread
#                through its own slice so that all are sent (CHURN_DURATION [30] s; the row
#                reports how many were sent, and the cache fill against its capacity): peak
#                RSS with ten times the cache bound in distinct tokens
#   mcpuse-*, fastmcp-*  the peers, stateless and stateful, same tokens, same request
#   stateless-upstream, stateful-upstream  (e′) and (f′): rows e and f run exactly as they are,
#                with UPSTREAM_BIN instead of BIN: the example built against rmcp and
#                rmcp-actix-web with the changes proposed to them (benches/upstream.sh prints
#                its path); in the default rows, after f, only when UPSTREAM_BIN is set
#
# Knobs: DURATION [10] s measured per row, WARMUP [2] s unmeasured before it, CONNS [16],
# THREADS [2] (wrk), RUNS [1] (interleaved; medians reported, and each ratio the median of the
# ratios within a run), ROWS [all of the above],
# PEERS_DIR (or PEERS) [/tmp/peers, else ../shared/peers next to the repository] a set-up copy
# of the peers harness (node_modules and .venv present; docs/performance.md says how) or "none",
# PORT [3300], PROVIDER_PORT [18090], E2E_PROVIDER_PORT [18091] (row g's upstream),
# BIN [target/release/examples/mcp_server], OUT [a temporary directory, removed at exit],
# UPSTREAM_BIN [unset] the binary of rows e′ and f′, e.g.
#   UPSTREAM_BIN=$(benches/upstream.sh | tail -1) benches/load.sh
#
# Tokens come from benches/provider.mjs, a stand-in provider (RSA and Ed25519 keys, JWKS and
# discovery served on 127.0.0.1). The example refuses provider-minted tokens at /mcp in issued
# mode unless ACCEPT_UPSTREAM_TOKENS=1, which the runs below set.
#
# Before any row: benches/same-json.py checks that /load/bare, /load/auth and a stateless
# tools/call whoami at /mcp answer the same JSON (the bare route is no floor otherwise); the run
# stops when they do not.
#
# Per row: req/s, p50/p99 (wrk), the share of answers as expected (status, and for 200 the body
# carrying the user), server CPU per expected answer (utime+stime from /proc/<pid>/stat over the
# measured window), peak RSS (VmHWM; the server starts afresh for every row). A row under 99 %
# expected answers gets no ratios. Each wrk run is bounded by -d and an outer timeout; installs
# and the build are bounded by timeout too. A row whose server or handshake fails is skipped.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}; CONNS=${CONNS:-16}; THREADS=${THREADS:-2}
RUNS=${RUNS:-1}; PORT=${PORT:-3300}; PROVIDER_PORT=${PROVIDER_PORT:-18090}
UPSTREAM_BIN=${UPSTREAM_BIN:-}
ROWS=${ROWS:-"bare protected rotate garbage garbage-distinct stateless stateful${UPSTREAM_BIN:+ stateless-upstream stateful-upstream} issued churn mcpuse-stateless mcpuse-stateful fastmcp-stateless fastmcp-stateful"}
CHURN_DURATION=${CHURN_DURATION:-30}
# wrk gives each thread CONNS / THREADS connections, and the stateful row as many sessions.
[ $((CONNS % THREADS)) = 0 ] || { echo "CONNS ($CONNS) must be a multiple of THREADS ($THREADS)"; exit 1; }
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/mcp_server}
# The servers start in a scratch directory: a relative BIN is taken from here.
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
case $UPSTREAM_BIN in /*|"") ;; *) UPSTREAM_BIN=$PWD/$UPSTREAM_BIN ;; esac
PEERS=${PEERS_DIR:-${PEERS:-}}
if [ -z "$PEERS" ]; then
  PEERS=$ROOT/../shared/peers
  [ -d /tmp/peers/node_modules/mcp-use ] && PEERS=/tmp/peers
fi
E2E_PROVIDER_PORT=${E2E_PROVIDER_PORT:-18091}
CLK_TCK=$(getconf CLK_TCK)

log() { echo "[load.sh $(date +%H:%M:%S)] $*" >&2; }

command -v wrk >/dev/null || {
  log "installing wrk (Debian)"
  SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo -n)
  timeout 300 "${SUDO[@]}" apt-get install -y -qq wrk \
    || { timeout 300 "${SUDO[@]}" apt-get update -qq && timeout 300 "${SUDO[@]}" apt-get install -y -qq wrk; } \
    || { echo "cannot install wrk (needs root or passwordless sudo): install it and rerun"; exit 1; }
}
command -v node >/dev/null || { echo "node is required (benches/provider.mjs)"; exit 1; }
if [ ! -x "$BIN" ] || [ -n "${BUILD:-}" ]; then
  log "building the release example"
  (cd "$ROOT" && timeout 1800 cargo build --release --example mcp_server --features rmcp)
fi
peers_ok=0
if [ "$PEERS" != none ] && [ -d "$PEERS/node_modules/mcp-use" ] && [ -x "$PEERS/.venv/bin/python" ]; then
  PEERS=$(cd "$PEERS" && pwd); peers_ok=1
else
  log "peers not set up in $PEERS: their rows are skipped (copy ../shared/peers out, run its setup.sh, pass PEERS_DIR=that copy)"
fi
issued_ok=0
case " $ROWS " in *" issued "*)
  if [ -d "$ROOT/tests/e2e/node_modules/oidc-provider" ]; then issued_ok=1
  else log "row issued skipped: tests/e2e/node_modules is missing (cd tests/e2e && npm ci)"; fi ;;
esac

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

CHURN_COUNT=0; case " $ROWS " in *" churn "*) CHURN_COUNT=100000 ;; esac
log "minting tokens (10 000 RS256, $CHURN_COUNT EdDSA)"
node "$ROOT/benches/provider.mjs" "$PROVIDER_PORT" "$WORK" 10000 "$CHURN_COUNT" >"$WORK/provider.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 600); do grep -q ready "$WORK/provider.log" 2>/dev/null && break; sleep 0.2; done
grep -q ready "$WORK/provider.log" || { echo "provider did not start"; cat "$WORK/provider.log"; exit 1; }
ISSUER="http://127.0.0.1:$PROVIDER_PORT"
PROXY_KEY=${OAUTH_PROXY_KEY:-$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')}

# Row g's upstream: the e2e suite's OpenID provider, its one static client and test user.
E2E_ISSUER="http://127.0.0.1:$E2E_PROVIDER_PORT"; E2E_SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '=+/\n')
if [ "$issued_ok" = 1 ]; then
  port_free "$E2E_PROVIDER_PORT" || { echo "port $E2E_PROVIDER_PORT busy"; exit 1; }
  env UPSTREAM_CLIENT_ID=e2e-static-client UPSTREAM_CLIENT_SECRET="$E2E_SECRET" \
    PUBLIC_URL="http://127.0.0.1:$PORT" node "$ROOT/tests/e2e/provider.mjs" "$E2E_PROVIDER_PORT" \
    >"$WORK/e2e-provider.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 150); do grep -q '^READY' "$WORK/e2e-provider.log" 2>/dev/null && break; sleep 0.2; done
  grep -q '^READY' "$WORK/e2e-provider.log" \
    || { log "row issued skipped: the e2e provider did not start"; tail -5 "$WORK/e2e-provider.log" >&2; issued_ok=0; }
fi

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
    issued)
      cmd=(env UPSTREAM_ISSUER="$E2E_ISSUER" UPSTREAM_CLIENT_ID=e2e-static-client
           UPSTREAM_CLIENT_SECRET="$E2E_SECRET" UPSTREAM_AUDIENCE=e2e-static-client
           PORT="$PORT" PUBLIC_URL="http://127.0.0.1:$PORT" RUST_LOG=warn
           OAUTH_PROXY_KEY="$PROXY_KEY" TOKEN_MODE=issued MCP_STATELESS=1 "$BIN") ;;
    *)
      cmd=(env UPSTREAM_ISSUER="$ISSUER" UPSTREAM_CLIENT_ID=bench UPSTREAM_CLIENT_SECRET=bench
           UPSTREAM_AUDIENCE=mcp-bench PORT="$PORT" PUBLIC_URL="http://127.0.0.1:$PORT"
           RUST_LOG=warn OAUTH_PROXY_KEY="$PROXY_KEY" LOAD_ROUTES=1 ACCEPT_UPSTREAM_TOKENS=1
           MCP_STATELESS=$(case $row in stateful*) echo 0 ;; *) echo 1 ;; esac)
           "$(case $row in *-upstream) echo "$UPSTREAM_BIN" ;; *) echo "$BIN" ;; esac)") ;;
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
    kill -0 "$SRV_PID" 2>/dev/null || { log "server for $row died:"; tail -20 "$OUT/server-$row.log" >&2; return 1; }
    sleep 0.1
  done
  [ "$code" != 000 ] || { log "server for $row not ready"; tail -20 "$OUT/server-$row.log" >&2; stop; return 1; }
}
stop() {
  kill "$SRV_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
}

preflight() {  # the bare route's JSON is the MCP endpoint's, or the run stops
  start preflight || { echo "the example server did not start for the pre-flight check"; exit 1; }
  local ok=0
  timeout 200 python3 "$ROOT/benches/same-json.py" "$PORT" "$(head -1 "$WORK/token.txt")" >&2 || ok=$?
  stop
  [ "$ok" = 0 ] || { echo "pre-flight failed: the bare route does not answer what /mcp answers, so it is no floor; fix load_whoami in examples/mcp_server.rs"; exit 1; }
}

handshake() {  # $1 = token file; prints the Mcp-Session-Id
  local t; t=$(head -1 "$1")
  local h="$WORK/headers"; : >"$h"
  curl -s -D "$h" -o /dev/null -m 10 -X POST "http://127.0.0.1:$PORT/mcp" \
    -H "Authorization: Bearer $t" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"load","version":"1"}}}' \
    || true
  local sid; sid=$(grep -i '^mcp-session-id:' "$h" | head -1 | awk '{print $2}' | tr -d '\r')
  [ -n "$sid" ] || { echo "no Mcp-Session-Id from initialize" >&2; return 1; }
  curl -s -o /dev/null -m 10 -X POST "http://127.0.0.1:$PORT/mcp" \
    -H "Authorization: Bearer $t" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-06-18' \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' || return 1
  echo "$sid"
}

wrk_run() {  # $1 = seconds, $2 = result file or ""; the row's settings in the environment
  TOKENS_FILE="$TF" ROTATE="$ROT" TARGET="$TARGET" SESSIONS_FILE="$SF" BODY_MARK="$MARK" \
    THREADS="$T" RESULT_FILE="$2" timeout $(($1 + 30)) wrk -t"$T" -c"$CONNS" -d"$1s" --timeout 10s \
    --latency -s "$ROOT/benches/load.lua" "http://127.0.0.1:$PORT" >/dev/null 2>&1 || true
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kb() { awk '$1 == "VmHWM:" {print $2}' "/proc/$1/status"; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
case " $ROWS " in *" bare "*|*" protected "*|*" stateless "*) preflight ;; esac
log "rows: $ROWS; ${DURATION}s each after ${WARMUP}s warm-up, $CONNS connections, $RUNS run(s); load average $LOAD_BEFORE"
for run in $(seq "$RUNS"); do
  for row in $ROWS; do
    TF="$WORK/token.txt"; ROT=0; TARGET=/load/auth; SF=""; MARK=user-0; EXPECT=200
    T=$THREADS; D=$DURATION
    case $row in
      bare) TARGET=/load/bare ;;
      protected) ;;
      rotate) TF="$WORK/tokens.txt"; ROT=1; MARK=user- ;;
      garbage) TF="$WORK/garbage.txt"; EXPECT=401 ;;
      garbage-distinct) TF="$WORK/garbage-distinct.txt"; ROT=1; EXPECT=401 ;;
      stateless|stateful) TARGET=/mcp ;;
      stateless-upstream|stateful-upstream)
        [ -x "$UPSTREAM_BIN" ] || { log "row $row skipped: UPSTREAM_BIN is not an executable"; continue; }
        TARGET=/mcp ;;
      issued)
        [ "$issued_ok" = 1 ] || continue
        TF="$WORK/issued.txt"; TARGET=/mcp; MARK=e2e-user- ;;
      churn) TF="$WORK/churn.txt"; ROT=disjoint; MARK=user-; D=$CHURN_DURATION ;;
      mcpuse-*|fastmcp-*)
        [ "$peers_ok" = 1 ] || continue
        TARGET=/mcp ;;
      *) echo "unknown row $row"; exit 1 ;;
    esac
    PEERS_CWD=""; case $row in mcpuse-*|fastmcp-*) PEERS_CWD=$PEERS ;; esac
    start "$row" || { log "row $row skipped: its server did not start"; continue; }
    case $row in
      *stateful|stateful-upstream)
        # As many sessions as connections, each thread rotating through its share.
        SF="$WORK/sessions.txt"; : >"$SF"; ok=1
        for _ in $(seq "$CONNS"); do
          sid=$(handshake "$TF") || { ok=0; break; }
          echo "$sid" >>"$SF"
        done
        [ "$ok" = 1 ] || { log "row $row skipped: the MCP handshake failed"; stop; continue; } ;;
      issued)
        : >"$TF"
        timeout 40 node "$ROOT/benches/sign-in.mjs" "http://127.0.0.1:$PORT" "$TF" 2>>"$OUT/server-$row.log" \
          || { log "row issued skipped: the sign-in failed (see $OUT/server-$row.log)"; stop; continue; } ;;
    esac
    # The churn row sends each token once: no warm-up that would send the first ones early.
    [ "$row" = churn ] || wrk_run "$WARMUP" ""
    if [ "$row" = rotate ]; then
      # Warm until every token is cached (each was a signature check once), at most 30 s more.
      want=$(wc -l <"$TF")
      for _ in $(seq 30); do
        held=$(curl -s -m 5 "http://127.0.0.1:$PORT/load/cache" | python3 -c 'import json,sys; print(json.load(sys.stdin)["len"])' 2>/dev/null || echo 0)
        [ "$held" -ge "$want" ] && break
        wrk_run 1 ""
      done
    fi
    c0=$(ticks "$SRV_PID")
    tmp="$WORK/result.json"; : >"$tmp"
    wrk_run "$D" "$tmp"
    c1=$(ticks "$SRV_PID"); hwm=$(hwm_kb "$SRV_PID")
    cache=$(curl -s -m 5 "http://127.0.0.1:$PORT/load/cache" || true)
    case $row in mcpuse-*|fastmcp-*) cache="" ;; esac
    stop
    [ -s "$tmp" ] || { log "no result for $row (see $OUT/server-$row.log)"; continue; }
    python3 - "$tmp" "$row" "$run" "$c0" "$c1" "$CLK_TCK" "$hwm" "$EXPECT" "${cache:-null}" >>"$RES" <<'EOF'
import json, sys
a = sys.argv
r = json.loads(open(a[1]).read().strip().splitlines()[-1])
cpu = (int(a[5]) - int(a[4])) / int(a[6])
expect = a[8]
good = r["statuses"].get(expect, 0) if expect != "200" else r["body_ok"]
try:
    cache = json.loads(a[9])
except ValueError:
    cache = None
r.update(row=a[2], run=int(a[3]), good=good, cpu_us=1e6 * cpu / max(1, good),
         hwm_mib=int(a[7]) / 1024, expect=expect, cache=cache)
print(json.dumps(r))
EOF
    tail -1 "$RES" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("  %-18s run%d %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  cpu %6.1f us/good  hwm %5.1f MiB  statuses %s  good %d  distinct %d  cache %s" % (
    r["row"], r["run"], r["rps"], r["p50_ms"], r["p99_ms"], r["cpu_us"], r["hwm_mib"], r["statuses"], r["good"], r["distinct_tokens"], r["cache"]))' >&2
  done
done

CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
python3 - "$RES" "$(nproc)" "$CONNS" "$DURATION" "$RUNS" "$(cut -d' ' -f1-3 /proc/loadavg)" "$LOAD_BEFORE" "$CPU_MODEL" "$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)" "$THREADS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
nproc, conns, duration, runs, load, load_before, cpu_model, wrk, threads = sys.argv[2:]
by = {}
for r in rows:
    by.setdefault(r["row"], []).append(r)
med = lambda name, key: statistics.median(x[key] for x in by[name])
label = {
    "bare": "(a) bare route, no auth, no MCP", "protected": "(b) protected route, 1 token",
    "rotate": "(c) protected, 10 000 tokens rotating (a full default cache)", "garbage": "(d) protected, garbage token (401)",
    "garbage-distinct": "(d2) protected, 10 000 distinct garbage tokens (401)",
    "stateless": "(e) MCP stateless tools/call", "stateful": "(f) MCP stateful tools/call",
    "stateless-upstream": "(e′) MCP stateless tools/call, with the rmcp patches",
    "stateful-upstream": "(f′) MCP stateful tools/call, with the rmcp patches",
    "issued": "(g) MCP, proxy-issued token", "churn": "(h) protected, 100 000 tokens",
    "mcpuse-stateless": "mcp-use stateless", "mcpuse-stateful": "mcp-use stateful",
    "fastmcp-stateless": "FastMCP stateless", "fastmcp-stateful": "FastMCP stateful",
}
peer_of = {"stateless": "mcpuse-stateless", "issued": "mcpuse-stateless", "stateful": "mcpuse-stateful",
           "stateless-upstream": "mcpuse-stateless", "stateful-upstream": "mcpuse-stateful"}
def share(name):
    good = sum(x["good"] for x in by[name])
    total = sum(sum(x["statuses"].values()) + x["sock_errors"] for x in by[name])
    return good, total
def sound(name):
    if name not in by:
        return False
    good, total = share(name)
    return total > 0 and good >= 0.99 * total
a = sound("bare")
# A ratio is the median over runs of the ratio within each run: the machine's speed drifts
# from one run to the next more than two rows of the same run differ.
def ratio(name, other, key):
    within = [x[key] / y[key] for x in by[name] for y in by[other] if y["run"] == x["run"] and y[key]]
    return statistics.median(within) if within else None
print(f"\n{nproc} cores ({cpu_model}), load average {load_before} before and {load} after, {wrk}, "
      f"{conns} connections over {threads} wrk threads in every row (stateful: {conns} sessions, "
      f"one a connection), {duration} s per row, {runs} run(s), medians (each ratio: the median of the ratios within a run)\n")
print("| row | req/s | × (a) | × mcp-use | p50 ms | p99 ms | CPU µs per expected answer | CPU × (a) | peak RSS MiB | answers as expected |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name in label:
    if name not in by:
        continue
    rps, cpu = med(name, "rps"), med(name, "cpu_us")
    good, total = share(name)
    ok = sound(name)
    peer = peer_of.get(name)
    shown = lambda r, fmt: fmt.format(r) if r else "—"
    vs_peer = shown(ok and sound(peer) and ratio(name, peer, "rps"), "{:.1f}×")
    vs_a = shown(ok and a and ratio(name, "bare", "rps"), "{:.2f}")
    cpu_a = shown(ok and a and ratio(name, "bare", "cpu_us"), "{:.2f}")
    expect = by[name][0]["expect"]
    want = f"{good}/{total} ({100 * good / max(1, total):.1f} %) {expect}" + (" with the user's JSON" if expect == "200" else "")
    extra = ""
    cache = by[name][-1].get("cache")
    if name in ("rotate", "churn") and cache:
        extra = f"; cache {cache['len']}/{cache['capacity']}"
    if name == "churn":
        extra += f"; {by[name][-1]['distinct_tokens']} distinct tokens sent"
    print(f"| {label[name]} | {rps:.0f} | {vs_a} | {vs_peer} | {med(name, 'p50_ms'):.2f} | "
          f"{med(name, 'p99_ms'):.2f} | {cpu:.1f} | {cpu_a} | {max(x['hwm_mib'] for x in by[name]):.1f} | {want}{extra} |")
EOF
