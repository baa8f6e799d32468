#!/usr/bin/env bash
# Times `tldb cluster move` of a partition holding about MIB MiB (docs/benchmarks.md "Sharding"):
# one etcd and four tldb-servers on 127.0.0.1 (different ports), a slot map of one partition
# of three replicas over servers 0, 1, 2 (server 3 holds nothing); net_bench writes buffered
# appends of 4,000-byte payloads to partition 0's primary until its `store` log holds MIB MiB,
# then a follower's replica is moved to server 3 (`tldb cluster move 0 --from F --to 3`), whose
# output (each step with the time since the command started, the spare's catch-up, the new
# replica's vote) is printed, with the bytes server 3's replica holds afterwards.
# Usage: tools/bench_move.sh [--mib 256] [DIR]     Build first (tldb-server, tldb, net_bench).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${TLDB_BUILD:-build}
mib=256
dir=
while (($#)); do
  case $1 in
    --mib) mib=$2; shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) dir=$1; shift ;;
  esac
done
source tools/bench_cluster_lib.sh
bench_cluster_start move 4
find_primary
echo "partition 0: primary server $primary_id at $primary_address; loading ${mib} MiB"
want=$((mib * 1024 * 1024))
while true; do
  find_primary
  "$net_bench" --server "$primary_address" --mode append --durability buffered \
    --payload-bytes 4000 --connections 4 --depth 8 --timelines 1000 --seconds 5 >/dev/null
  bytes=$(du -sb "$dir/server$primary_id/partition-0" | cut -f1)
  echo "  primary's partition-0 directory: $((bytes / 1048576)) MiB"
  ((bytes >= want)) && break
done
# A follower's replica moves (the primary's would be handed over first: docs/cluster.md).
find_primary
from=
for n in 0 1 2; do [[ $n != "$primary_id" ]] && { from=$n; break; }; done
sync
# How far behind the primary each follower is now (the move hands the moved one's position over
# only once its spare holds every committed frame).
"$cli" --server "$primary_address" stats 2>/dev/null |
  sed -n 's/^cluster_p0_\(follower[0-9]*_behind_[a-z]*\) *\([0-9]*\)/  primary: \1 \2/p' || true
echo "moving partition 0's replica from server $from to server 3"
start=$(date +%s.%N)
"$cli" cluster move 0 --from "$from" --to 3 \
  --etcd "$etcd_url" --wait-s 3600 | cat
end=$(date +%s.%N)
moved=$(du -sb "$dir/server3/partition-0" | cut -f1)
echo "moved: server 3's partition-0 holds $((moved / 1048576)) MiB; the command took" \
  "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
