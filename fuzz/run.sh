#!/usr/bin/env bash
# Runs every fuzz target (or those named after the seconds) for SECONDS each from the committed
# seeds; new inputs go to a scratch directory that is removed after, so the committed corpus
# stays the small seed set. A crash, timeout or leak fails the run and leaves its input in
# fuzz/artifacts/<target>/. FUZZ_PARALLEL targets run at once (default 1); the targets are built
# together first, so parallel runs do not wait on each other's builds. FUZZ_TIMEOUT (default 10)
# is the seconds one input may take before it counts as a hang: raise it only when the fuzzer
# runs starved of CPU (at a low priority beside builds), where the first input, which also
# generates the target's keys, can take longer.
#
#   FUZZ_PARALLEL=2 fuzz/run.sh 30  # the CI smoke run (one target per core on a 2-core machine)
#   nice -n 19 fuzz/run.sh 600 jwt  # ten minutes of one target
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
seconds="${1:-30}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
parallel="${FUZZ_PARALLEL:-1}"
timeout="${FUZZ_TIMEOUT:-10}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

echo "==> cargo +nightly fuzz build ${targets[*]}" >&2
for target in "${targets[@]}"; do
  cargo +nightly fuzz build "$target"
done

run_one() {
  local target=$1 status=0
  mkdir -p "$scratch/$target"
  # -timeout: one input taking longer is a hang; -rss_limit_mb: a leak or a blow-up is a crash.
  cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1 \
    >"$scratch/$target.log" 2>&1 || status=$?
  {
    echo "==> fuzz $target for ${seconds}s"
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$scratch/$target.log" || true
    if [ "$status" -ne 0 ]; then
      tail -n 40 "$scratch/$target.log"
      echo "fuzz target $target failed; its input is in fuzz/artifacts/$target/"
    fi
  } >&2
  return "$status"
}

failed=0
running=0
for target in "${targets[@]}"; do
  if [ "$running" -ge "$parallel" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  run_one "$target" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit "$failed"
