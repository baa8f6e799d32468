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
server=$build/server/tldb-server
cli=$build/tools/tldb
net_bench=$build/server/net_bench
mib=256
dir=
while (($#)); do
  case $1 in
    --mib) mib=$2; shift 2 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) dir=$1; shift ;;
  esac
done
for b in "$server" "$cli" "$net_bench"; do
  [[ -x $b ]] || { echo "no $b: build it first (TLDB_BUILD=DIR to use another build)" >&2; exit 1; }
done
command -v etcd >/dev/null || { echo "etcd not found: bash tools/deps.sh installs etcd-server" >&2; exit 1; }
dir=${dir:-$(mktemp -d "${TMPDIR:-/tmp}/tldb-bench-split-XXXXXX")}
mkdir -p "$dir"
etcd_port=${ETCD_PORT:-24790}
base_port=${BASE_PORT:-17070}
etcd_url=http://127.0.0.1:$etcd_port
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
etcd --name m0 --data-dir "$dir/etcd" --listen-client-urls "$etcd_url" \
  --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "http://127.0.0.1:$((etcd_port + 100))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 100))" \
  --initial-cluster "m0=http://127.0.0.1:$((etcd_port + 100))" 2>"$dir/etcd.log" &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "$etcd_url/health" >/dev/null 2>&1 && break
  sleep 0.1
done
"$cli" cluster init --partitions 1 --servers 0,1,2 --replicas 3 --etcd "$etcd_url" >/dev/null
for n in 0 1 2; do
  "$server" --cluster "etcd=$etcd_url" --node-id "$n" --listen "127.0.0.1:$((base_port + n))" \
    --peer-listen 127.0.0.1:0 --data-dir "$dir/server$n" 2>"$dir/server$n.log" &
  pids+=($!)
done
# The primary's address, once there is one.
primary=
for _ in $(seq 300); do
  primary=$("$cli" cluster map --json --etcd "$etcd_url" 2>/dev/null |
    sed -n 's/.*"primary":\([0-9]*\),"address":"\([^"]*\)".*/\1 \2/p') || true
  [[ -n $primary ]] && break
  sleep 0.1
done
[[ -n $primary ]] || { echo "no primary: see $dir/server*.log" >&2; exit 1; }
read -r primary_id primary_address <<<"$primary"
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
