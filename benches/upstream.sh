#!/usr/bin/env bash
# benches/upstream.sh: builds the release example against rmcp and rmcp-actix-web with the
# changes proposed to them (benches/upstream/*.patch), beside the stock build, and prints the
# binary's path. The crate itself keeps building against crates.io: nothing here touches
# Cargo.toml, and the stock build in target/release stays as it is.
#
#   benches/upstream.sh                              # every patch
#   PATCHES="3 7" benches/upstream.sh                # only the patches whose names start so
#   PATCHES=none benches/upstream.sh                 # the pristine sources, built the same way
#   BIN=$(benches/upstream.sh | tail -1) N=1000 benches/callgrind.sh
#   UPSTREAM_BIN=$(benches/upstream.sh | tail -1) benches/load.sh
#
# What it does:
# 1. copies the pristine crates.io sources (rmcp-3.11.0, rmcp-actix-web-0.13.2, rmcp-macros-3.11.0
#    from cargo's registry cache, fetched first when missing) into a scratch directory and applies
#    the chosen patches there (`patch -p1`; a patch that does not apply cleanly stops the run);
# 2. moves each crate to target/upstream/src/ only when it differs from what is there, so that a
#    second run with the same patches rebuilds nothing;
# 3. builds `--example mcp_server --features rmcp` in release in UPSTREAM_TARGET_DIR
#    [target/upstream/target] and `--config patch.crates-io.<crate>.path=...` for the three
#    crates (Cargo.lock is restored afterwards: the patched build rewrites the source of the
#    three packages in it). MODE=test runs `cargo test` instead, with ARGS as its arguments
#    (e.g. MODE=test ARGS="--all-features --test mcp"), in [target/upstream/debug-target];
#    MODE=debug builds the debug example there (what tests/mcp/example_flags.rs runs, and
#    E2E_SERVER_BIN for the Node e2e suite) and prints its path.
#
# Knobs: PATCHES [all], MODE [build | debug | test], ARGS, UPSTREAM_TARGET_DIR [target/upstream/
# target, or target/upstream/debug-target for MODE=debug and MODE=test], TIMEOUT [3600] s for
# cargo. An exported CARGO_TARGET_DIR is not used: the patched binary must never land where
# the stock one is (benches/load.sh runs both). A run killed with SIGKILL cannot put Cargo.lock
# back: `git checkout Cargo.lock` does.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATCH_DIR=$ROOT/benches/upstream
SRC=$ROOT/target/upstream/src
MODE=${MODE:-build}
TIMEOUT=${TIMEOUT:-3600}
CRATES=(rmcp-3.11.0 rmcp-actix-web-0.13.2 rmcp-macros-3.11.0)
log() { echo "[upstream.sh] $*" >&2; }

registry_dir() {  # the registry source directory that holds crate $1, or nothing
  local d
  for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/index.crates.io-*/"$1"; do
    [ -f "$d/Cargo.toml" ] && { echo "$d"; return 0; }
  done
  return 0
}

# The pristine sources: cargo's own cache of the crates the lockfile names.
for crate in "${CRATES[@]}"; do
  if [ -z "$(registry_dir "$crate")" ]; then
    log "fetching the locked dependencies (cargo fetch), $crate is not in the registry cache"
    (cd "$ROOT" && timeout 600 cargo fetch --locked)
  fi
  [ -n "$(registry_dir "$crate")" ] || { log "$crate is not in cargo's registry cache"; exit 1; }
done

# The patches chosen, in name order.
chosen=()
for p in "$PATCH_DIR"/*.patch; do
  name=$(basename "$p")
  if [ "${PATCHES:-all}" = all ]; then chosen+=("$p"); continue; fi
  for want in ${PATCHES:-}; do
    [ "$want" = none ] && continue
    case $name in "$want"-*|"$want"|"$want".patch) chosen+=("$p") ;; esac
  done
done
if [ "${PATCHES:-all}" != all ] && [ "${PATCHES:-}" != none ] && [ ${#chosen[@]} = 0 ]; then
  log "no patch in $PATCH_DIR matches PATCHES=\"$PATCHES\""; exit 1
fi

STAGE=$(mktemp -d "$ROOT/target/upstream-stage.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT INT TERM
for crate in "${CRATES[@]}"; do
  # -p keeps the registry's timestamps, so unpatched files look unchanged to cargo.
  cp -rp "$(registry_dir "$crate")" "$STAGE/$crate"
done
for p in "${chosen[@]}"; do
  log "applying $(basename "$p")"
  timeout 60 patch -p1 --batch --forward --quiet --no-backup-if-mismatch -d "$STAGE" <"$p" \
    || { log "$(basename "$p") does not apply to the pristine sources"; exit 1; }
done
[ ${#chosen[@]} = 0 ] && log "no patches: the pristine sources"

# Each crate is replaced only when its sources differ, so cargo rebuilds only what changed.
mkdir -p "$SRC"
for crate in "${CRATES[@]}"; do
  if [ -d "$SRC/$crate" ] && diff -rq "$STAGE/$crate" "$SRC/$crate" >/dev/null 2>&1; then
    log "target/upstream/src/$crate: unchanged"
  else
    rm -rf "$SRC/$crate"
    mv "$STAGE/$crate" "$SRC/$crate"
    log "target/upstream/src/$crate: replaced"
  fi
done
log "patches applied: ${chosen[*]:+$(for p in "${chosen[@]}"; do basename "$p"; done | tr '\n' ' ')}"

CONFIG=()
for crate in "${CRATES[@]}"; do
  CONFIG+=(--config "patch.crates-io.${crate%-*}.path=\"$SRC/$crate\"")
done

# The patched build rewrites the three packages' source lines in Cargo.lock; put it back.
cp "$ROOT/Cargo.lock" "$STAGE/Cargo.lock.orig"
restore_lock() { cp "$STAGE/Cargo.lock.orig" "$ROOT/Cargo.lock"; rm -rf "$STAGE"; }
trap restore_lock EXIT INT TERM

cd "$ROOT"
if [ "$MODE" = test ]; then
  export CARGO_TARGET_DIR=${UPSTREAM_TARGET_DIR:-$ROOT/target/upstream/debug-target}
  log "cargo test ${ARGS:-} (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  # shellcheck disable=SC2086
  timeout "$TIMEOUT" cargo test "${CONFIG[@]}" ${ARGS:-}
  exit $?
fi
PROFILE=(--release); DIR=release; DEFAULT_TARGET=$ROOT/target/upstream/target
if [ "$MODE" = debug ]; then PROFILE=(); DIR=debug; DEFAULT_TARGET=$ROOT/target/upstream/debug-target; fi
export CARGO_TARGET_DIR=${UPSTREAM_TARGET_DIR:-$DEFAULT_TARGET}
log "cargo build ${PROFILE[*]} --example mcp_server --features rmcp (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
timeout "$TIMEOUT" cargo build "${PROFILE[@]}" --example mcp_server --features rmcp "${CONFIG[@]}" >&2
BIN=$CARGO_TARGET_DIR/$DIR/examples/mcp_server
[ -x "$BIN" ] || { log "no binary at $BIN"; exit 1; }
log "built $BIN"
echo "$BIN"
