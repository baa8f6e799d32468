#!/usr/bin/env bash
# The README's test command: installs what is missing, builds the default type (Release, -O3:
# what users build) with the tests and benchmarks, warnings as errors, and runs every test with
# ctest (the Go client's included: go_client_test).
# Extra arguments go to cmake's configure step (e.g. -DTLDB_SANITIZE=ON with BUILD_DIR=build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh -DTLDB_BUILD_TESTS=ON -DTLDB_BUILD_BENCH=ON -DTLDB_WERROR=ON "$@"  # explicit: tools/run.sh caches them OFF
root=$(pwd)
build=${BUILD_DIR:-build}
[[ $build == /* ]] || build=$root/$build
notes=$build/tests_skipped_outside_ctest.txt  # skips outside ctest, for skipped_tests.sh
rm -f "$notes"
TLDB_SKIP_NOTES=$notes bash tools/fuzz_smoke.sh  # libFuzzer on the four targets, briefly (clang)
cd "$build"
rc=0
ctest --output-on-failure --no-tests=error -j "$(nproc)" --timeout 900 || rc=$?
bash "$root/tools/skipped_tests.sh" .  # each skipped test with its reason, next to ctest's count
exit "$rc"
