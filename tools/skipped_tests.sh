#!/usr/bin/env bash
# Prints every test that ctest's last run skipped, with the reason it gave, so that a machine
# where part of the suite cannot run (no io_uring, no device-mapper, no network namespaces)
# does not pass quietly. Reads Testing/Temporary/LastTest.log of the build directory given
# (default: build). GoogleTest skips ("FILE:LINE: Skipped" + reason + "[  SKIPPED ] NAME") and
# go test skips ("--- SKIP: NAME" + indented reason) are recognised. Tests that never reached
# ctest are counted too, one "NAME: REASON" line each: those left out at configure time
# (tests_not_added.txt, written by CMake) and those the test command skipped outside ctest
# (tests_skipped_outside_ctest.txt, e.g. the fuzzing pass without clang).
set -euo pipefail
dir="${1:-build}"
log="$dir/Testing/Temporary/LastTest.log"
[[ -f $log ]] || { echo "skipped tests: no ctest log at $log" >&2; exit 1; }
extra=()
for f in "$dir/tests_not_added.txt" "$dir/tests_skipped_outside_ctest.txt"; do
  [[ -f $f ]] && extra+=("$f")
done
awk '
  FILENAME != ARGV[1]     { if ($0 != "") { n++; out[n] = $0 } next }
  /: Skipped$/            { want = 1; reason = ""; next }
  want == 1               { reason = $0; want = 2; next }
  /^\[  SKIPPED \] .* \([0-9]+ ms\)$/ { name = $4; if (!(name in seen)) { seen[name] = 1; n++;
                              out[n] = name ": " (reason == "" ? "(no reason given)" : reason) }
                            want = 0; reason = ""; next }
  /^ *--- SKIP: /         { name = "go:" $3; gowant = 1; goreason = ""; next }
  gowant == 1 && /^ +[^ ]/ { goreason = $0; sub(/^ +/, "", goreason); gowant = 0
                            if (!(name in seen)) { seen[name] = 1; n++; out[n] = name ": " goreason } next }
  gowant == 1             { if (!(name in seen)) { seen[name] = 1; n++; out[n] = name ": (no reason given)" }
                            gowant = 0 }
  END { printf "skipped tests: %d\n", n; for (i = 1; i <= n; i++) print "  " out[i] }
' "$log" ${extra[@]+"${extra[@]}"}
