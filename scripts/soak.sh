#!/usr/bin/env bash
# The soak of tests/faults/soak.rs: wrk on 127.0.0.1 against RequireAuth + JwksVerifier with
# valid, expired, forged and garbage tokens while the key set rotates and flaps. Prints one
# SOAK RESULT line (requests, wrong answers, key-set fetches, RSS first and last 10 s) and fails
# on any wrong answer, 5xx, memory growth or unbounded fetching.
#
#   scripts/soak.sh                      # 60 s, 64 connections
#   SOAK_SECS=20 SOAK_CONNECTIONS=16 scripts/soak.sh
#   SOAK_PROFILE=dev scripts/soak.sh     # without the release build
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v wrk >/dev/null || { echo "scripts/soak.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
profile="${SOAK_PROFILE:-release}"
cargo test --profile "$profile" --all-features --test faults soak -- --ignored --nocapture 2>&1 \
  | grep -E 'SOAK RESULT|test result|panicked|assert'
