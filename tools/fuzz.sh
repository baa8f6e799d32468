#!/usr/bin/env bash
# Runs one libFuzzer target for a while (the long fuzzing runs of docs/reliability.md).
#   tools/fuzz.sh TARGET SECONDS [libFuzzer flags...]     TARGET: frame record segment session
# Builds the targets with clang (ASan+UBSan, coverage) in ${FUZZ_BUILD_DIR:-build-fuzz}, seeds
# from the target's corpus in tests/fuzz/ and keeps what it learns in $FUZZ_BUILD_DIR/corpus/
# (never in the repository). Crashing inputs land in $FUZZ_BUILD_DIR/artifacts/TARGET/: copy one
# into tests/fuzz/TARGET_corpus/ (frame: tests/fuzz/corpus/) and the test suite replays it.
# Prints libFuzzer's last status line (executions, cov, exec/s) and a summary.
# FUZZ_NICE sets its nice level (default 10; 19 beside other work). Stopping it with SIGSTOP
# makes libFuzzer report a timeout when it resumes: end a run instead, runs add up. The session
# target waits on wall-clock bounds (30 s per session; libFuzzer's -timeout 60 s): starved of
# CPU (nice 19 beside a compiler on every core) it reports a hang that is not one.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: tools/fuzz.sh TARGET SECONDS [libFuzzer flags]}
seconds=${2:?usage: tools/fuzz.sh TARGET SECONDS [libFuzzer flags]}
shift 2
bash tools/fuzz_build.sh
dir=${FUZZ_BUILD_DIR:-build-fuzz}
case "$target" in
  frame) bin=$dir/server/frame_fuzzer seeds=tests/fuzz/corpus max_len=4096 ;;
  record | segment | session)
    bin=$dir/tests/fuzz/${target}_fuzzer seeds=tests/fuzz/${target}_corpus max_len=16384 ;;
  *) echo "fuzz.sh: unknown target '$target' (frame record segment session)" >&2; exit 2 ;;
esac
mkdir -p "$dir/corpus/$target" "$dir/artifacts/$target"
log=$dir/fuzz-$target.log
set +e
nice -n ${FUZZ_NICE:-10} "$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=60 -rss_limit_mb=4096 \
  -print_final_stats=1 -artifact_prefix="$dir/artifacts/$target/" "$@" \
  "$dir/corpus/$target" "$seeds" >"$log" 2>&1
rc=$?
set -e
grep -E '^#[0-9]+' "$log" | tail -n 1 || true
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
if [ $rc -ne 0 ]; then
  grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$log" | head -n 20 >&2
  echo "fuzz.sh: $target FAILED (exit $rc); full output in $log" >&2
  exit $rc
fi
echo "fuzz.sh: $target ran ${seconds}s, 0 crashes (log: $log)"
