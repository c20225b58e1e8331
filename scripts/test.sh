#!/usr/bin/env bash
# Builds shoal and runs all tests (unit, system, conformance) through ctest.
# Needs root (system tests run real containers). Usage: scripts/test.sh [ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
images/build.sh >/dev/null
# Fuzz targets (fuzz/): built with clang in build-fuzz, each run for a bounded
# time from its seed corpus; a crash fails the run. Before ctest, so that
# ctest's summary closes the output.
scripts/fuzz.sh "${SHOAL_FUZZ_SECONDS:-60}"
ctest --test-dir build --output-on-failure --timeout 600 "$@"
