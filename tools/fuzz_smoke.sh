#!/usr/bin/env bash
# The test command's short fuzzing pass: builds the four libFuzzer targets (tools/fuzz_build.sh,
# clang, ASan+UBSan) and runs each briefly from its seed corpus: frame and record 20,000 inputs,
# segment and session 2,000 (each also capped at 30 s). New inputs go to a temporary directory,
# never into the repository; any crash or violated invariant fails the test command.
# Usage: tools/fuzz_smoke.sh [scale]   (inputs are multiplied by scale; long runs: tools/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
set +e
bash tools/fuzz_build.sh
rc=$?
set -e
if [ $rc -eq 3 ]; then
  echo "fuzz_smoke: clang++ not found; skipped" >&2
  exit 0
fi
[ $rc -eq 0 ] || exit $rc
dir=${FUZZ_BUILD_DIR:-build-fuzz}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() {  # name binary seeds runs
  mkdir -p "$out/$1"
  if ! "$2" -runs="$(($4 * scale))" -max_total_time=$((30 * scale)) -max_len=16384 -timeout=30 \
    -artifact_prefix="$out/" "$out/$1" "$3" >"$out/$1.log" 2>&1; then
    tail -n 40 "$out/$1.log" >&2
    echo "fuzz_smoke: $1 FAILED" >&2
    exit 1
  fi
  echo "fuzz_smoke: $1: $(grep -E '^#[0-9]+' "$out/$1.log" | tail -n 1 | sed 's/  */ /g'), 0 crashes"
}
run frame "$dir/server/frame_fuzzer" tests/fuzz/corpus 20000
run record "$dir/tests/fuzz/record_fuzzer" tests/fuzz/record_corpus 20000
run segment "$dir/tests/fuzz/segment_fuzzer" tests/fuzz/segment_corpus 2000
run session "$dir/tests/fuzz/session_fuzzer" tests/fuzz/session_corpus 2000
