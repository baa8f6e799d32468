#!/usr/bin/env bash
# The cost of TLS on tldb-server: tldb-bench drives the server over plain TCP and over TLS
# (tldb-bench --tls: a throwaway CA and certificate made with the openssl command) in one run,
# REPEATS pairs alternating (plain first in odd pairs, TLS first in even ones), then prints per
# workload: ops/s of every run, median and min-max of each mode, TLS/plain per pair and of the
# medians, p50 latency per run, CPU seconds per million operations (server + client).
# Results: $BUILD_DIR/results/tls-<UTC time>/{plain,tls}-<pair>/ (results.json, report.txt).
#
# Usage: tools/bench_tls.sh [tldb-bench options]
#          default: --workloads get chat --durability buffered --clients 50 --seconds 3
#        REPEATS=5 BUILD_DIR=build-x tools/bench_tls.sh ...   (defaults: 3, build-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-bench}
repeats=${REPEATS:-3}
args=("$@")
((${#args[@]})) || args=(--workloads get chat --durability buffered --clients 50 --seconds 3)

bash tools/deps.sh jq
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTLDB_BUILD_TESTS=OFF >/dev/null
nice -n 10 cmake --build "$build" -j2 --target tldb-bench tldb-server

out=$build/results/tls-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
echo "== $(date -u '+%F %T UTC')  $(nproc) CPUs  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== git $(git rev-parse --short HEAD 2>/dev/null || echo '?'); tldb-bench --targets tldb-server ${args[*]}"
run() {  # run MODE PAIR
  local extra=()
  [[ $1 == tls ]] && extra=(--tls)
  "$build"/bench/tldb_bench/tldb-bench --targets tldb-server "${args[@]}" "${extra[@]}" \
    --server-bin "$build"/server/tldb-server --no-limits --no-plots --no-progress \
    --out "$out/$1-$2" >/dev/null 2>"$out/$1-$2.log"
  echo "   pair $2 $1 done (load $(cut -d' ' -f1 /proc/loadavg))"
}
for ((i = 1; i <= repeats; i++)); do
  if ((i % 2)); then run plain "$i"; run tls "$i"; else run tls "$i"; run plain "$i"; fi
done
echo "== $(date -u '+%F %T UTC')  load: $(cut -d' ' -f1-3 /proc/loadavg)"

# One row per workload (and durability, clients) from every results.json.
jq -s -r '
  def med: sort | if length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def k: if . >= 1000 then "\(. / 100 | round / 10)k" else "\(. | round)" end;
  def r2: . * 100 | round / 100;
  [ .[] | .mode as $m | .pair as $p | .r.targets[] | select(.name == "tldb-server")
    | .workloads[] | {m: $m, p: $p, w: "\(.workload) \(.clients)c", ops: .ops_per_s,
                      p50: .p50_us, cpu: .cpu_s_per_Mop} ]
  | group_by(.w)[]
  | (map(select(.m == "plain")) | sort_by(.p)) as $a
  | (map(select(.m == "tls")) | sort_by(.p)) as $b
  | "\(.[0].w): plain \($a | map(.ops | k) | join(" / ")) (median \($a | map(.ops) | med | k),"
    + " \($a | map(.ops) | min | k)-\($a | map(.ops) | max | k));"
    + " TLS \($b | map(.ops | k) | join(" / ")) (median \($b | map(.ops) | med | k),"
    + " \($b | map(.ops) | min | k)-\($b | map(.ops) | max | k));"
    + " TLS/plain per pair \([range($a | length)] | map($b[.].ops / $a[.].ops | r2) | join(" "))"
    + ", of the medians \(($b | map(.ops) | med) / ($a | map(.ops) | med) | r2);"
    + " p50 us plain \($a | map(.p50 | round) | join(" ")), TLS \($b | map(.p50 | round) | join(" "));"
    + " CPU s per M ops plain \($a | map(.cpu) | med | round), TLS \($b | map(.cpu) | med | round)"
' < <(for d in "$out"/*-*/; do
        b=$(basename "$d")
        jq -c --arg m "${b%-*}" --argjson p "${b##*-}" '{mode: $m, pair: $p, r: .}' "$d/results.json"
      done)
