#!/usr/bin/env bash
# tldb-server against Redis (issue 15), both with their defaults: tldb-bench runs the given
# workloads on tldb-server and Redis (appendonly yes), REPEATS runs alternating which target goes
# first (tldb-server first in odd runs, Redis in even ones), then prints per workload: ops/s of
# every run, median and min-max of each target, tldb-server/Redis per run and of the medians,
# p50 and p99 latency per run, and each server's own CPU per operation (its process's user +
# system time over the workload's operations; the harness's client CPU not included).
# PAIR=a,b compares two other tldb-bench targets the same way (e.g. PAIR=tldb,rocksdb: the
# embedded engine against RocksDB); the CPU per operation of an embedded target is its whole
# process's (the store and the harness's client threads).
# LIMITS=1 measures the machine's limits in run 1 (a trivial epoll echo server at 1 and
# --clients connections, and raw fdatasync rates) and prints the echo rates: the ping
# workload's rate is read against them. LIMITS=all measures them in every run, and the ping row
# then also gives tldb-server/echo per run (the echo measured at the start of the same run).
# Results: $BUILD_DIR/results/redis-<UTC time>/run-<n>/ (results.json, report.txt).
#
# Usage: tools/bench_redis.sh [tldb-bench options]
#          default: the issue-15 table: --workloads ping get latest20 chat chat_pipelined
#          --durability sync buffered --clients 50 --pipeline-clients 50 --pipeline-depth 16
#          --zipf 0 --seconds 5
#        REPEATS=5 LIMITS=1 BUILD_DIR=build-x tools/bench_redis.sh ...   (defaults: 3, 0, build-bench)
#        LIMITS=all tools/bench_redis.sh --workloads ping --clients 50 --seconds 5   (PING vs echo)
#        PAIR=tldb,rocksdb tools/bench_redis.sh --workloads get latest20 chat --seconds 5
#        tools/bench_redis.sh --workloads group_pull longpoll --seconds 5   (pull mode, run P)
# A build directory that exists is used as it is configured (only the two targets are built).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-bench}
repeats=${REPEATS:-3}
pair=${PAIR:-tldb-server,redis}
a=${pair%%,*} b=${pair#*,}
[[ $a != "$pair" && -n $b && $b != *,* ]] || { echo "PAIR must name two targets: a,b" >&2; exit 2; }
args=("$@")
((${#args[@]})) || args=(--workloads ping get latest20 chat chat_pipelined --durability sync buffered
  --clients 50 --pipeline-clients 50 --pipeline-depth 16 --zipf 0 --seconds 5)

bash tools/deps.sh jq libhiredis-dev redis-server librocksdb-dev
[[ -f $build/CMakeCache.txt ]] ||
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTLDB_BUILD_TESTS=OFF >/dev/null
nice -n 10 cmake --build "$build" -j2 --target tldb-bench tldb-server

out=$build/results/redis-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
echo "== $(date -u '+%F %T UTC')  $(nproc) CPUs  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== git $(git rev-parse --short HEAD 2>/dev/null || echo '?'); tldb-bench ${args[*]}"
for ((i = 1; i <= repeats; i++)); do
  targets=$a,$b
  ((i % 2)) || targets=$b,$a
  limits=(--no-limits)
  [[ (${LIMITS:-0} == 1 && $i == 1) || ${LIMITS:-0} == all ]] && limits=()
  "$build"/bench/tldb_bench/tldb-bench --targets "$targets" "${args[@]}" \
    --server-bin "$build"/server/tldb-server "${limits[@]}" --no-plots --no-progress \
    --out "$out/run-$i" >/dev/null 2>"$out/run-$i.log"
  echo "   run $i ($targets) done (load $(cut -d' ' -f1 /proc/loadavg))"
done
echo "== $(date -u '+%F %T UTC')  load: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 1; i <= repeats; i++)); do
  jq -r --arg i "$i" 'select(.limits != null) | .limits | "echo server (run \($i)): \(.echo_1conn_per_s | round)/s on 1 connection, \(.echo_nconn_per_s | round)/s on \(.echo_connections) connections"' \
    "$out/run-$i/results.json"
done

# One row per workload from every results.json.
jq -s -r --arg a "$a" --arg b "$b" '
  def med: sort | if length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def k: if . >= 1000 then "\(. / 100 | round / 10)k" else "\(. | round)" end;
  def r2: . * 100 | round / 100;
  def us: if . >= 1000 then "\(. / 100 | round / 10) ms" else "\(. | round) us" end;
  [ .[] | .run as $n | (.r.limits.echo_nconn_per_s // null) as $e
    | .r.targets[] | .name as $t | .workloads[]
    | {t: $t, n: $n, e: $e, w: .workload, ops: .ops_per_s, p50: .p50_us, p99: .p99_us,
       cpu: (if .ops == 0 then 0 elif .store_cpu_s > 0 then .store_cpu_s / .ops * 1e6
             else .cpu_s / .ops * 1e6 end)} ]
  | group_by(.w)[]
  | (map(select(.t == $a)) | sort_by(.n)) as $x
  | (map(select(.t == $b)) | sort_by(.n)) as $y
  | "\(.[0].w): \($a) \($x | map(.ops | k) | join(" / "))"
    + " (median \($x | map(.ops) | med | k), \($x | map(.ops) | min | k)-\($x | map(.ops) | max | k));"
    + " \($b) \($y | map(.ops | k) | join(" / "))"
    + " (median \($y | map(.ops) | med | k), \($y | map(.ops) | min | k)-\($y | map(.ops) | max | k));"
    + " \($a)/\($b) per run \([range($x | length)] | map($x[.].ops / $y[.].ops | r2) | join(" "))"
    + ", of the medians \(($x | map(.ops) | med) / ($y | map(.ops) | med) | r2);"
    + (if .[0].w == "ping" and ($x | map(.e) | any) then
         " \($a)/echo per run \($x | map(if .e then .ops / .e | r2 | tostring else "-" end) | join(" ")),"
         + " \($b)/echo per run \($y | map(if .e then .ops / .e | r2 | tostring else "-" end) | join(" "));"
       else "" end)
    + " p50/p99 \($a) \($x | map("\(.p50 | us)/\(.p99 | us)") | join(" ")),"
    + " \($b) \($y | map("\(.p50 | us)/\(.p99 | us)") | join(" "));"
    + " process CPU us per op \($a) \($x | map(.cpu * 10 | round / 10) | join(" ")),"
    + " \($b) \($y | map(.cpu * 10 | round / 10) | join(" "))"
' < <(for d in "$out"/run-*/; do
        b=$(basename "$d")
        jq -c --argjson n "${b#run-}" '{run: $n, r: .}' "$d/results.json"
      done)
