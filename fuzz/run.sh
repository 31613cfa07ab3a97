#!/usr/bin/env bash
# Runs every fuzz target (or those named after the seconds) for SECONDS each, one after the
# other, from the committed seeds; new inputs go to a scratch directory that is removed after,
# so the committed corpus stays the small seed set. A crash, timeout or leak fails the run and
# leaves its input in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh 30                  # the CI smoke run
#   nice -n 19 fuzz/run.sh 600 jwt  # ten minutes of one target
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
seconds="${1:-30}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  echo "==> fuzz $target for ${seconds}s" >&2
  # -timeout: one input taking longer is a hang; -rss_limit_mb: a leak or a blow-up is a crash.
  status=0
  cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$scratch/$target.log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$scratch/$target.log" >&2 || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$scratch/$target.log" >&2
    echo "fuzz target $target failed; its input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
