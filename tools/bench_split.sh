#!/usr/bin/env bash
# Times `tldb cluster split` of a partition holding about MIB MiB (docs/benchmarks.md
# "Sharding"): one etcd and three tldb-servers on 127.0.0.1 (different ports), a slot map of one
# partition of three replicas over servers 0, 1, 2; net_bench writes buffered appends of
# 4,000-byte payloads to partition 0's primary until its partition-0 directory holds MIB MiB,
# then `tldb cluster split 0` gives the upper half of its slots to partition 1 on the same
# servers. Its output (each step with the time since the command started: the freeze, the
# frozen positions, each server's clone, the map, the unfreeze, the child's first primary) is
# printed, with the bytes each server's partition-1 directory holds (hard links: shared with
# partition-0) and the space the file system lost to the clones.
# Usage: tools/bench_split.sh [--mib 256] [DIR]     Build first (tldb-server, tldb, net_bench).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${TLDB_BUILD:-build}
mib=256
dir=
while (($#)); do
  case $1 in
    --mib) mib=$2; shift 2 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) dir=$1; shift ;;
  esac
done
source tools/bench_cluster_lib.sh
bench_cluster_start split 3
find_primary
echo "partition 0: primary server $primary_id at $primary_address; loading ${mib} MiB"
want=$((mib * 1024 * 1024))
while true; do
  "$net_bench" --server "$primary_address" --mode append --durability buffered \
    --payload-bytes 4000 --connections 4 --depth 8 --timelines 1000 --seconds 5 >/dev/null
  bytes=$(du -sb "$dir/server$primary_id/partition-0" | cut -f1)
  echo "  primary's partition-0 directory: $((bytes / 1048576)) MiB"
  ((bytes >= want)) && break
done
sync
# Files with more than one link are the clones' hard links: the space the split cost is what
# du counts once for both directories minus partition-0 alone.
before=$(du -sb "$dir/server$primary_id" | cut -f1)
echo "splitting partition 0 (server $primary_id's directory: $((before / 1048576)) MiB)"
start=$(date +%s.%N)
"$cli" cluster split 0 --etcd "$etcd_url" --timeout-s 600 | cat
end=$(date +%s.%N)
for n in 0 1 2; do
  for _ in $(seq 100); do [[ -d $dir/server$n/partition-1 ]] && break; sleep 0.1; done
  child=$(du -sb "$dir/server$n/partition-1" 2>/dev/null | cut -f1 || echo 0)
  both=$(du -sb "$dir/server$n" | cut -f1)
  echo "server $n: partition-1 holds $((child / 1048576)) MiB by itself;" \
    "partition-0 and partition-1 together $((both / 1048576)) MiB"
done
echo "the command took $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
