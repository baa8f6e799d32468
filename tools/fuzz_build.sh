#!/usr/bin/env bash
# Builds the libFuzzer targets (frame, record, segment, session) with clang, ASan+UBSan and
# coverage instrumentation in ${FUZZ_BUILD_DIR:-build-fuzz} (-O1, line tables: quick to build).
# Used by tools/fuzz_smoke.sh and tools/fuzz.sh; exits 3 when clang++ is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang++ >/dev/null; then
  echo "fuzz_build: clang++ not found (tools/deps.sh installs clang)" >&2
  exit 3
fi
dir=${FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" \
  -DCMAKE_C_FLAGS_RELEASE="-O1 -gline-tables-only" \
  -DTLDB_FUZZERS=ON -DTLDB_BUILD_TESTS=OFF -DTLDB_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)" --target frame_fuzzer record_fuzzer segment_fuzzer \
  session_fuzzer >/dev/null
