#!/usr/bin/env bash
# tools/skipped_tests.sh on a made-up ctest log: a GoogleTest skip and a go test skip are each
# listed once with their reason, a passed test is not, tests left out at configure time and
# skipped outside ctest are listed too, and the count is right.
set -euo pipefail
script="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/Testing/Temporary"
cat > "$dir/Testing/Temporary/LastTest.log" <<'LOG'
[ RUN      ] IoTest.RingWorks
/src/tests/io_test.cc:12: Skipped
io_uring not supported here: NOT_SUPPORTED
[  SKIPPED ] IoTest.RingWorks (0 ms)
[  SKIPPED ] 1 test, listed below:
[  SKIPPED ] IoTest.RingWorks
[ RUN      ] IoTest.PosixWorks
[       OK ] IoTest.PosixWorks (1 ms)
=== RUN   TestTLS
--- SKIP: TestTLS (0.00s)
    tls_test.go:20: openssl not found
--- PASS: TestAppend (0.01s)
LOG
out=$(bash "$script" "$dir")
echo "$out"
grep -qx "skipped tests: 2" <<<"$out"
grep -qx "  IoTest.RingWorks: io_uring not supported here: NOT_SUPPORTED" <<<"$out"
grep -qx "  go:TestTLS: tls_test.go:20: openssl not found" <<<"$out"
! grep -q "PosixWorks\|TestAppend" <<<"$out"
# Tests that never reached ctest: as CMake writes them (no final newline) and as the test
# command notes them.
printf '%s\n%s' "go_client_test: not added at configure: go or gofmt not found" \
  "package_test: not added at configure: dpkg-deb not found" >"$dir/tests_not_added.txt"
echo "fuzz_smoke: clang++ not found" >"$dir/tests_skipped_outside_ctest.txt"
out=$(bash "$script" "$dir")
echo "$out"
grep -qx "skipped tests: 5" <<<"$out"
grep -qx "  go_client_test: not added at configure: go or gofmt not found" <<<"$out"
grep -qx "  package_test: not added at configure: dpkg-deb not found" <<<"$out"
grep -qx "  fuzz_smoke: clang++ not found" <<<"$out"
# An empty list (every test was added) adds nothing.
: >"$dir/tests_not_added.txt"
rm "$dir/tests_skipped_outside_ctest.txt"
grep -qx "skipped tests: 2" <<<"$(bash "$script" "$dir")"
echo OK
