#!/usr/bin/env bash
# The Debian package: builds it with CPack from the build directory, checks its file list
# (dpkg-deb -c) and control files, then extracts it and runs the unit's ExecStart command line
# with the packaged binary and config (a temporary data dir and port given on top, as no systemd
# runs here), talks to the server with the packaged tldb tool, and stops it with SIGTERM.
# Usage: [CPACK=path/to/cpack] tests/package_test.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/tldb-package-XXXXXX")
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill -9 "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "package_test: $*" >&2; exit 1; }

"${CPACK:-cpack}" -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
debs=("$work"/out/tldb_*.deb)
[[ -f ${debs[0]} ]] || fail "no tldb_*.deb in $(ls "$work/out")"
deb=${debs[0]}
echo "package_test: built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$work/files"
for f in /usr/bin/tldb-server /usr/bin/tldb /usr/lib/systemd/system/tldb-server.service \
         /etc/tldb/tldb.conf /usr/share/doc/tldb/operations.md /usr/share/doc/tldb/README.md \
         /usr/share/doc/tldb/protocol.md /usr/share/doc/tldb/grafana-tldb.json; do
  grep -qx "$f" "$work/files" || { cat "$work/files"; fail "$f missing from the package"; }
done
# Nothing but the binaries, the unit, the config and the docs.
if grep -v -e '/$' -e '^/usr/bin/tldb\(-server\)\?$' -e '^/usr/lib/systemd/system/tldb-server.service$' \
    -e '^/etc/tldb/tldb.conf$' -e '^/usr/share/doc/tldb/' "$work/files"; then
  fail "unexpected files in the package (above)"
fi
dpkg-deb -f "$deb" Package | grep -qx tldb || fail "package name"
dpkg-deb -f "$deb" Depends | grep -q liburing || fail "Depends lacks liburing: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/tldb/tldb.conf || fail "/etc/tldb/tldb.conf is not a conffile"

root=$work/root
dpkg-deb -x "$deb" "$root"
unit=$root/usr/lib/systemd/system/tldb-server.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ $exec_start == "/usr/bin/tldb-server --config /etc/tldb/tldb.conf" ]] ||
  fail "unexpected ExecStart: $exec_start"
grep -q '^data-dir = "/var/lib/tldb"' "$root/etc/tldb/tldb.conf" || fail "config data-dir"
grep -qx 'StateDirectory=tldb' "$unit" || fail "unit without StateDirectory=tldb"
# The unit's command line, with the package's files in place of the installed ones.
read -r -a argv <<<"${exec_start//\/usr\/bin\//$root/usr/bin/}"
argv=("${argv[@]//\/etc\/tldb\//$root/etc/tldb/}")
"${argv[@]}" --data-dir "$work/data" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$work/stdout" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/stderr"; fail "server exited"; }
  sleep 0.1
done
addr=$(sed -n 's/^tldb-server listening on //p' "$work/stdout")
[[ -n $addr ]] || { cat "$work/stderr"; fail "no listening line"; }
tldb=$root/usr/bin/tldb
"$tldb" append --server "$addr" --ns store --timeline pkg:1 'from the package' >/dev/null
"$tldb" get --server "$addr" --ns store --timeline pkg:1 1 | grep -q 'from the package' ||
  fail "get did not return the appended message"
metrics_port=$(sed -n 's/.*metrics at .* (port \([0-9]*\)).*/\1/p' "$work/stderr")
[[ -n $metrics_port ]] || { cat "$work/stderr"; fail "no metrics line"; }
exec 3<>"/dev/tcp/127.0.0.1/$metrics_port"
printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
tr -d '\r' <&3 >"$work/metrics"
exec 3<&-
grep -q '^tldb_engine_appends_total 1$' "$work/metrics" ||
  { head -20 "$work/metrics"; fail "metrics do not show the append"; }
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
[[ $status -eq 0 ]] || { cat "$work/stderr"; fail "server exit status $status after SIGTERM"; }
[[ -d $work/data ]] || fail "no data directory"
echo "package_test: ok"
