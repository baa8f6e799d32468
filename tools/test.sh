#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (also a Release build, without
# extra arguments), runs every test with ctest (the Go client's included: go_client_test).
# Extra arguments go to cmake's configure step (e.g. -DTLDB_SANITIZE=ON with BUILD_DIR=build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh -DTLDB_BUILD_TESTS=ON -DTLDB_WERROR=ON "$@"  # explicit: tools/run.sh caches it OFF
if (($# == 0)); then
  # A Release (-O3) build too, warnings as errors: what users build (no tests, no benchmarks).
  BUILD_DIR="${BUILD_DIR:-build}-release" BUILD_TYPE=Release bash tools/build.sh \
    -DTLDB_BUILD_TESTS=OFF -DTLDB_BUILD_BENCH=OFF -DTLDB_WERROR=ON
fi
bash tools/fuzz_smoke.sh  # libFuzzer on the frame decoder, briefly (clang)
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --no-tests=error -j "$(nproc)" --timeout 900
