#!/usr/bin/env bash
# The cluster fault soak (docs/replication.md "Testing"): three etcd members and NODES
# tldb-servers in cluster mode, each server in its own network namespace joined by a veth pair to
# a hub namespace that routes between them and runs etcd, so nft rules in the hub cut any path.
# The ledger workload of tools/faults (appends with client_msg_ids, fan-outs, recalls, a reader
# and a subscriber) runs throughout while faults are injected one after another: kill -9 and
# SIGSTOP of the primary, the primary cut from its followers (not from etcd), cut from etcd (not
# from its followers), one-way drops, kill -9 of the etcd leader, a follower's disk wiped. Then
# the shared checker (Ledger) judges what is stored against what was acknowledged and seen.
# Prints each fault as it goes, then faults injected, acknowledged messages, violations,
# failover time p50/p99 and notes (a fault the partition did not heal from, and why).
# Exit status: 0 when there was no violation.
#
# Usage (as root; build first: bash tools/build.sh):
#   tools/cluster_soak.sh [--minutes 30] [--nodes 3|5] [--seed 1] [--faults kill,stop,...]
#                         [--dir DIR]      (data and logs; default a new temporary directory, kept)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=30 nodes=3 seed=1 faults="" dir=""
while (($#)); do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --faults) faults=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "usage: $0 [--minutes M] [--nodes 3|5] [--seed S] [--faults LIST] [--dir DIR]" >&2; exit 2 ;;
  esac
done
build=${BUILD_DIR:-build}
server=${TLDB_SERVER:-$build/server/tldb-server}
tool=${TLDB_FAULTS:-$build/tools/tldb-faults}
for f in "$server" "$tool"; do
  [[ -x $f ]] || { echo "no $f: build first (bash tools/build.sh, or BUILD_DIR=...)" >&2; exit 1; }
done
((EUID == 0)) || { echo "run as root (network namespaces, veth pairs, nft)" >&2; exit 1; }
bash tools/deps.sh iproute2 nftables   # etcd-server and etcd-client are in its list
for c in ip nft etcd etcdctl; do
  command -v $c >/dev/null || { echo "$c not found" >&2; exit 1; }
done
dir=${dir:-$(mktemp -d "${TMPDIR:-/tmp}/tldb-cluster-soak-XXXXXX")}
mkdir -p "$dir"
server=$(realpath "$server") tool=$(realpath "$tool")

p=tsk$$   # namespace and interface prefix (interface names stay within 15 bytes)
hub=$p-hub
etcd_host=10.88.255.1
netns=() hosts=()
cleanup() {
  for ns in "${netns[@]}" "$hub"; do
    # Only this script's namespaces: whatever still runs in them was started by this run.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

ip netns add "$hub"
ip -n "$hub" link set lo up
ip -n "$hub" addr add $etcd_host/32 dev lo
ip netns exec "$hub" sysctl -qw net.ipv4.ip_forward=1
for ((i = 0; i < nodes; i++)); do
  ns=$p-n$i
  ip netns add "$ns"
  netns+=("$ns")
  ip link add "${p}h$i" type veth peer name "${p}v$i"
  ip link set "${p}h$i" netns "$hub"
  ip link set "${p}v$i" netns "$ns"
  ip -n "$hub" addr add 10.88.$i.1/24 dev "${p}h$i"
  ip -n "$hub" link set "${p}h$i" up
  ip -n "$ns" addr add 10.88.$i.2/24 dev "${p}v$i"
  ip -n "$ns" link set "${p}v$i" up
  ip -n "$ns" link set lo up
  ip -n "$ns" route add default via 10.88.$i.1
  hosts+=("10.88.$i.2")
done
ip netns exec "$hub" nft -f - <<NFT
table inet tldbsoak {
  chain forward { type filter hook forward priority 0; policy accept; }
  chain input { type filter hook input priority 0; policy accept; }
  chain output { type filter hook output priority 0; policy accept; }
}
NFT

join() { local IFS=,; echo "$*"; }
args=(--server-bin "$server" cluster-soak --data-dir "$dir" --duration-s $((minutes * 60))
      --node-netns "$(join "${netns[@]}")" --node-hosts "$(join "${hosts[@]}")"
      --etcd-host "$etcd_host" --nft-table "inet tldbsoak" --seed "$seed")
[[ -n $faults ]] && args+=(--faults "$faults")
echo "cluster soak: $nodes nodes, 3 etcd members, $minutes min, seed $seed; data and logs in $dir"
rc=0
ip netns exec "$hub" "$tool" "${args[@]}" || rc=$?
exit $rc
