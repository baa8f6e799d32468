#!/usr/bin/env bash
# The test command's short fuzzing pass: builds the four libFuzzer targets (tools/fuzz_build.sh,
# clang, ASan+UBSan) and runs each briefly from its seed corpus: the frame decoder [runs] inputs
# (default 20,000), the record codec 20,000, segment/recovery and sessions 2,000 each but at most
# 30 s each (they open a store or a connection per input). New inputs go to a temporary
# directory, never into the repository; any crash or violated invariant fails the test command.
# The seed is fixed (FUZZ_SEED, default 1) so that a CI run is repeatable: finding new inputs is
# the job of the long runs (tools/fuzz.sh), whose finds join the corpus that this smoke replays.
# Without clang it is skipped; with TLDB_SKIP_NOTES set, the skip is added to that file.
# Usage: tools/fuzz_smoke.sh [runs]   (long runs of any target: tools/fuzz.sh TARGET SECONDS)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20000}
set +e
bash tools/fuzz_build.sh
rc=$?
set -e
if [ $rc -eq 3 ]; then
  echo "fuzz_smoke: clang++ not found; skipped" >&2
  # The test command's list of skipped tests reports it (tools/skipped_tests.sh).
  if [ -n "${TLDB_SKIP_NOTES:-}" ]; then
    echo "fuzz_smoke: clang++ not found (tools/deps.sh installs clang)" >>"$TLDB_SKIP_NOTES"
  fi
  exit 0
fi
[ $rc -eq 0 ] || exit $rc
dir=${FUZZ_BUILD_DIR:-build-fuzz}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() {  # name binary seeds runs seconds(0: no limit)
  mkdir -p "$out/$1"
  if ! "$2" -seed="${FUZZ_SEED:-1}" -runs="$4" -max_total_time="$5" -max_len=16384 -timeout=60 \
    -artifact_prefix="$out/" "$out/$1" "$3" >"$out/$1.log" 2>&1; then
    tail -n 40 "$out/$1.log" >&2
    echo "fuzz_smoke: $1 FAILED" >&2
    exit 1
  fi
  echo "fuzz_smoke: $1: $(grep -E '^#[0-9]+' "$out/$1.log" | tail -n 1 | sed 's/  */ /g'), 0 crashes"
}
run frame "$dir/server/frame_fuzzer" tests/fuzz/corpus "$runs" 0
run record "$dir/tests/fuzz/record_fuzzer" tests/fuzz/record_corpus 20000 0
run segment "$dir/tests/fuzz/segment_fuzzer" tests/fuzz/segment_corpus 2000 30
run session "$dir/tests/fuzz/session_fuzzer" tests/fuzz/session_corpus 2000 30
