#!/usr/bin/env bash
# tldb-server against Redis (issue 15), both with their defaults: tldb-bench runs the given
# workloads on tldb-server and Redis (appendonly yes), REPEATS runs alternating which target goes
# first (tldb-server first in odd runs, Redis in even ones), then prints per workload: ops/s of
# every run, median and min-max of each target, tldb-server/Redis per run and of the medians,
# p50 and p99 latency per run, and each server's own CPU per operation (its process's user +
# system time over the workload's operations; the harness's client CPU not included).
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
#        tools/bench_redis.sh --workloads group_pull longpoll --seconds 5   (pull mode, run P)
# A build directory that exists is used as it is configured (only the two targets are built).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-bench}
repeats=${REPEATS:-3}
args=("$@")
((${#args[@]})) || args=(--workloads ping get latest20 chat chat_pipelined --durability sync buffered
  --clients 50 --pipeline-clients 50 --pipeline-depth 16 --zipf 0 --seconds 5)

bash tools/deps.sh jq libhiredis-dev redis-server
[[ -f $build/CMakeCache.txt ]] ||
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTLDB_BUILD_TESTS=OFF >/dev/null
nice -n 10 cmake --build "$build" -j2 --target tldb-bench tldb-server

out=$build/results/redis-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
echo "== $(date -u '+%F %T UTC')  $(nproc) CPUs  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== git $(git rev-parse --short HEAD 2>/dev/null || echo '?'); tldb-bench ${args[*]}"
for ((i = 1; i <= repeats; i++)); do
  targets=tldb-server,redis
  ((i % 2)) || targets=redis,tldb-server
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
jq -s -r '
  def med: sort | if length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def k: if . >= 1000 then "\(. / 100 | round / 10)k" else "\(. | round)" end;
  def r2: . * 100 | round / 100;
  def us: if . >= 1000 then "\(. / 100 | round / 10) ms" else "\(. | round) us" end;
  [ .[] | .run as $n | (.r.limits.echo_nconn_per_s // null) as $e
    | .r.targets[] | .name as $t | .workloads[]
    | {t: $t, n: $n, e: $e, w: .workload, ops: .ops_per_s, p50: .p50_us, p99: .p99_us,
       cpu: (if .ops > 0 then .store_cpu_s / .ops * 1e6 else 0 end)} ]
  | group_by(.w)[]
  | (map(select(.t == "tldb-server")) | sort_by(.n)) as $a
  | (map(select(.t == "redis")) | sort_by(.n)) as $b
  | "\(.[0].w): tldb-server \($a | map(.ops | k) | join(" / "))"
    + " (median \($a | map(.ops) | med | k), \($a | map(.ops) | min | k)-\($a | map(.ops) | max | k));"
    + " Redis \($b | map(.ops | k) | join(" / "))"
    + " (median \($b | map(.ops) | med | k), \($b | map(.ops) | min | k)-\($b | map(.ops) | max | k));"
    + " tldb-server/Redis per run \([range($a | length)] | map($a[.].ops / $b[.].ops | r2) | join(" "))"
    + ", of the medians \(($a | map(.ops) | med) / ($b | map(.ops) | med) | r2);"
    + (if .[0].w == "ping" and ($a | map(.e) | any) then
         " tldb-server/echo per run \($a | map(if .e then .ops / .e | r2 | tostring else "-" end) | join(" ")),"
         + " Redis/echo per run \($b | map(if .e then .ops / .e | r2 | tostring else "-" end) | join(" "));"
       else "" end)
    + " p50/p99 tldb-server \($a | map("\(.p50 | us)/\(.p99 | us)") | join(" ")),"
    + " Redis \($b | map("\(.p50 | us)/\(.p99 | us)") | join(" "));"
    + " server CPU us per op tldb-server \($a | map(.cpu * 10 | round / 10) | join(" ")),"
    + " Redis \($b | map(.cpu * 10 | round / 10) | join(" "))"
' < <(for d in "$out"/run-*/; do
        b=$(basename "$d")
        jq -c --argjson n "${b#run-}" '{run: $n, r: .}' "$d/results.json"
      done)
