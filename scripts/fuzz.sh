#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang and the address and
# undefined-behaviour sanitizers in build-fuzz/, then runs each for a bounded
# time from its seed corpus (fuzz/corpus/<target>/); fails on any crash, leak,
# sanitizer report or timeout. New inputs found go to a temporary directory,
# not into the repo; the input that failed is kept in <build>/fuzz-artifacts/.
# Usage: scripts/fuzz.sh [total seconds, default 80, shared evenly by the targets]
# FUZZ_TARGETS="api" runs one target; FUZZ_BUILD_DIR picks the build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
total="${1:-${SHOAL_FUZZ_SECONDS:-80}}"
build="${FUZZ_BUILD_DIR:-build-fuzz}"
targets="${FUZZ_TARGETS:-api objects dns}"
CXX=clang++ cmake -S . -B "$build" -DSHOAL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" $(for t in $targets; do echo --target "fuzz_$t"; done)
n=$(wc -w <<<"$targets")
secs=$(( total / n > 5 ? total / n : 5 ))
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
artifacts="$PWD/$build/fuzz-artifacts"
for target in $targets; do
  mkdir -p "$work/$target"
  echo "fuzzing $target for ${secs}s"
  # -max_len bounds one input; -timeout flags a single slow input (a hang).
  if ! (cd "$work" && "$OLDPWD/$build/fuzz/fuzz_$target" -max_total_time="$secs" -max_len=65536 -timeout=10 \
        -rss_limit_mb=4096 -print_final_stats=1 "$work/$target" "$OLDPWD/fuzz/corpus/$target" \
        >"$work/$target.log" 2>&1); then
    tail -60 "$work/$target.log"
    mkdir -p "$artifacts"
    cp "$work"/crash-* "$work"/timeout-* "$work"/leak-* "$work"/oom-* "$artifacts"/ 2>/dev/null || true
    echo "fuzz_$target failed: the report is above; the failing input is in $artifacts" \
         "(replay: $build/fuzz/fuzz_$target FILE)"
    exit 1
  fi
  grep -E "stat::number_of_executed_units|Done" "$work/$target.log" | tail -2
done
echo "fuzzing passed"
