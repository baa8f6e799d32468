#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test with ctest.
# Extra arguments go to cmake's configure step (e.g. -DTLDB_SANITIZE=ON with BUILD_DIR=build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh -DTLDB_BUILD_TESTS=ON "$@"  # explicit: tools/run.sh caches it OFF
bash tools/fuzz_smoke.sh  # libFuzzer on the frame decoder, briefly (clang)
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --no-tests=error -j "$(nproc)" --timeout 900
