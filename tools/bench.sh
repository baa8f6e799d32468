#!/usr/bin/env bash
# Builds the engine benchmarks in Release (build-bench/, bench targets only) and runs them:
#   bench/engine_bench  appends (buffered; sync with 1/16/64 writers; fan-out to 200; group commit
#                       through AppendAsync), reads (Get, latest-20, 20-message page), hot paths;
#                       then the fdatasync-bound benchmarks twice more, for their spread
#   bench/open_bench    Db::Open time and RAM for 10M messages over 1M timelines (~3 GB in /tmp)
#   bench/compaction_bench  compaction MB/s, space and compression, history scans before/after
#                       (warm and cold cache), sync append latency idle vs during compaction
# Results are printed and saved under build-bench/results/. docs/benchmarks.md reads them.
#
# Usage: tools/bench.sh [--quick] [--engine-only | --open-only | --compaction-only]
#   --quick   a short smoke run (small stores, short sync benchmarks, no repeats): ~1 minute
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0 engine=1 open=1 compaction=1
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --engine-only) open=0 compaction=0 ;;
    --open-only) engine=0 compaction=0 ;;
    --compaction-only) engine=0 open=0 ;;
    *) echo "usage: tools/bench.sh [--quick] [--engine-only | --open-only | --compaction-only]" >&2; exit 2 ;;
  esac
done

bash tools/deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTLDB_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench -j2 --target engine_bench open_bench compaction_bench

out=build-bench/results
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
echo "== $(date -u '+%F %T UTC')  $(uname -r)  $(nproc) CPUs  load: $(cut -d' ' -f1-3 /proc/loadavg)"

if ((engine)); then
  if ((quick)); then
    build-bench/bench/engine_bench --tldb_read_messages=300000 --tldb_sync_min_time=0.3 \
      --benchmark_min_time=0.1 | tee "$out/engine-quick-$stamp.txt"
  else
    build-bench/bench/engine_bench | tee "$out/engine-$stamp.txt"
    echo "== fdatasync-bound benchmarks again, 2 repetitions, for their spread"
    build-bench/bench/engine_bench --benchmark_filter='sync|Disk' --benchmark_repetitions=2 \
      | tee "$out/engine-sync-repeat-$stamp.txt"
  fi
fi

if ((open)); then
  if ((quick)); then
    build-bench/bench/open_bench --messages=200000 --timelines=20000 | tee "$out/open-quick-$stamp.txt"
  else
    build-bench/bench/open_bench | tee "$out/open-$stamp.txt"
  fi
fi
if ((compaction)); then
  if ((quick)); then
    build-bench/bench/compaction_bench --quick | tee "$out/compaction-quick-$stamp.txt"
  else
    build-bench/bench/compaction_bench | tee "$out/compaction-$stamp.txt"
  fi
fi
echo "== results saved in $out/*-$stamp.txt"
