#!/usr/bin/env bash
# The soak of tests/faults/soak.rs: wrk on 127.0.0.1 against RequireAuth + JwksVerifier with
# valid, expired, forged, unknown-kid and garbage tokens while the key set rotates and flaps.
# Prints one SOAK RESULT line (requests, wrong answers, key-set fetches, RSS first and last 10 s
# after a 10 s warm-up, RSS every 5 s) and fails on any wrong answer, 5xx, memory growth or
# unbounded fetching.
#
#   scripts/soak.sh                      # 10 s warm-up, then 60 s, 64 connections
#   SOAK_SECS=20 SOAK_CONNECTIONS=16 SOAK_WARMUP=10 scripts/soak.sh
#   SOAK_PROFILE=dev scripts/soak.sh     # without the release build
#
# One malloc arena (MALLOC_ARENA_MAX=1, unless set): glibc otherwise gives threads arenas of
# their own as they come and go, each keeping what was freed in it, which adds about 1 MiB
# steps of resident memory that are the allocator's, not ours (the heap in use stays flat).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v wrk >/dev/null || { echo "scripts/soak.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
profile="${SOAK_PROFILE:-release}"
cargo test --profile "$profile" --all-features --test faults --no-run
MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-1}" \
  cargo test --profile "$profile" --all-features --test faults soak -- --ignored --nocapture 2>&1 \
  | grep -E 'SOAK RESULT|test result|panicked|assert'
