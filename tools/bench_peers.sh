#!/usr/bin/env bash
# The side-by-side benchmark of issue 6: tldb (embedded and tldb-server over loopback) against
# RocksDB (embedded) and Redis Streams (over loopback) on IM workloads, with the machine's
# limits measured in the same run. Installs the peers (librocksdb-dev, libhiredis-dev,
# redis-server) and gnuplot, builds tldb-bench and tldb-server in Release in build-peer/, runs
# everything (about 10 minutes on 2 cores) and prints the ratio table.
# Results: build-peer/results/<UTC time>/ (results.json, report.txt, throughput.png,
# latency-<workload>.png). docs/benchmarks.md explains the figures.
#
# Usage: tools/bench_peers.sh [tldb-bench options]   e.g. --quick, --seconds 3, --targets tldb,redis
#        BUILD_DIR=build-x tools/bench_peers.sh ...       another build directory (default build-peer)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-peer}

bash tools/deps.sh librocksdb-dev libhiredis-dev redis-server gnuplot-nox
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTLDB_BUILD_TESTS=OFF \
  -DTLDB_BUILD_PEER_BENCH=ON >/dev/null
nice -n 10 cmake --build "$build" -j2 --target tldb-bench tldb-server

out=$build/results/$(date -u +%Y%m%dT%H%M%SZ)
echo "== $(date -u '+%F %T UTC')  $(uname -r)  $(nproc) CPUs  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== git $(git rev-parse --short HEAD 2>/dev/null || echo '?'); results in $out"
exec "$build"/bench/tldb_bench/tldb-bench --out "$out" "$@"
