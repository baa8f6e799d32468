#!/usr/bin/env bash
# Builds the libFuzzer frame-decoder target with clang (the main build may use gcc) and runs it
# briefly: 20,000 inputs seeded from tests/fuzz/corpus. New inputs go to a temporary directory,
# never into the repository. Usage: tools/fuzz_smoke.sh [runs]   (the long run: a larger number)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20000}
if ! command -v clang++ >/dev/null; then
  echo "fuzz_smoke: clang++ not found; skipped (tools/deps.sh installs clang)" >&2
  exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Iserver -Iengine/include \
  tests/fuzz/frame_fuzzer.cc server/protocol/*.cc -o "$out/frame_fuzzer"
mkdir -p "$out/corpus"
"$out/frame_fuzzer" -runs="$runs" -max_len=4096 "$out/corpus" tests/fuzz/corpus 2>&1 | tail -n 1
echo "fuzz_smoke: frame decoder, $runs inputs, no crash"
