#!/usr/bin/env bash
# Times `tldb cluster move` of a partition holding about MIB MiB (docs/benchmarks.md "Sharding"):
# one etcd and four tldb-servers on 127.0.0.1 (different ports), a slot map of one partition
# of three replicas over servers 0, 1, 2 (server 3 holds nothing); net_bench writes buffered
# appends of 4,000-byte payloads to partition 0's primary until its `store` log holds MIB MiB,
# then a follower's replica is moved to server 3 (`tldb cluster move 0 --from F --to 3`), whose
# output (each step with the time since the command started, the new replica's catch-up, the
# end when it votes) is printed, with the bytes server 3's replica holds afterwards.
# Usage: tools/bench_move.sh [--mib 256] [DIR]     Build first (tldb-server, tldb, net_bench).
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
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) dir=$1; shift ;;
  esac
done
for b in "$server" "$cli" "$net_bench"; do
  [[ -x $b ]] || { echo "no $b: build it first (TLDB_BUILD=DIR to use another build)" >&2; exit 1; }
done
command -v etcd >/dev/null || { echo "etcd not found: bash tools/deps.sh installs etcd-server" >&2; exit 1; }
dir=${dir:-$(mktemp -d "${TMPDIR:-/tmp}/tldb-bench-move-XXXXXX")}
mkdir -p "$dir"
etcd_port=${ETCD_PORT:-24790}
base_port=${BASE_PORT:-17070}
etcd_url=http://127.0.0.1:$etcd_port
pids=()
cleanup() {
  # The servers first, then etcd (pids[0]): a server stopping still talks to etcd (its lease).
  if ((${#pids[@]} > 1)); then
    kill "${pids[@]:1}" 2>/dev/null || true
    wait "${pids[@]:1}" 2>/dev/null || true
  fi
  if ((${#pids[@]} > 0)); then kill "${pids[0]}" 2>/dev/null || true; fi
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM  # the EXIT trap then stops what was started
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
for n in 0 1 2 3; do
  "$server" --cluster "etcd=$etcd_url" --node-id "$n" --listen "127.0.0.1:$((base_port + n))" \
    --peer-listen 127.0.0.1:0 --data-dir "$dir/server$n" 2>"$dir/server$n.log" &
  pids+=($!)
done
# The primary's id and address, once there is one (again after a failover: on a loaded machine
# a lease can expire while loading).
find_primary() {
  local p=
  for _ in $(seq 300); do
    p=$("$cli" cluster map --json --etcd "$etcd_url" 2>/dev/null |
      sed -n 's/.*"primary":\([0-9]*\),"address":"\([^"]*\)".*/\1 \2/p') || true
    [[ -n $p ]] && break
    sleep 0.1
  done
  [[ -n $p ]] || { echo "no primary: see $dir/server*.log" >&2; exit 1; }
  read -r primary_id primary_address <<<"$p"
}
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
# How far behind the primary each follower is now: with the moved one gone, every commit (the
# primary's sync before the snapshot among them) waits for the other follower.
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
