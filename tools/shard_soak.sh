#!/usr/bin/env bash
# The sharded fault soak (docs/cluster.md "Testing"): one etcd and five tldb-servers in a private
# network namespace, a slot map of four partitions of three replicas, and the ledger workload of
# tools/faults (appends with client_msg_ids, recalls, fan-outs over the partitions, a reader and
# a subscriber, every answer logged with its server's map versions) running throughout, while
# faults drawn by the seed are injected one after another: a random replica moved to a server
# without that partition (`tldb cluster move`; or that move interrupted by killing the target
# while its spare catches up, then run again to its end), a random partition split (`tldb cluster split`,
# up to 8 partitions), the server of a random partition's primary killed (SIGKILL) and started
# again, the controller's server killed and another server seen taking the controller. Between
# faults it waits for every partition's primary and for more acknowledgements (generous bounds);
# a fault the cluster does not heal from is reported with the servers' log tails and ends the
# faults. Then the checks: the ledger (every acknowledged message once at its seq, fan-outs in
# every member exactly once) and every answer against the map's history in etcd (answered only
# by a server holding a replica of the slot's partition at the version it routed by).
# Prints each fault as it goes, then faults injected, acknowledged messages, violations.
# Exit status: 0 when there was no violation.
#
# Usage (as root, for the network namespace; build first: bash tools/build.sh):
#   tools/shard_soak.sh [--minutes 30] [--seed 1]
#                       [--dir DIR]      (data and logs; default a new temporary directory, kept)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=30 seed=1 dir=""
while (($#)); do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "usage: $0 [--minutes M] [--seed S] [--dir DIR]" >&2; exit 2 ;;
  esac
done
build=${BUILD_DIR:-build}
server=${TLDB_SERVER:-$build/server/tldb-server}
cli=${TLDB_CLI:-$build/tools/tldb}
tool=${TLDB_FAULTS:-$build/tools/tldb-faults}
for f in "$server" "$cli" "$tool"; do
  [[ -x $f ]] || { echo "no $f: build first (bash tools/build.sh, or BUILD_DIR=...)" >&2; exit 1; }
done
((EUID == 0)) || { echo "run as root (a private network namespace)" >&2; exit 1; }
for c in unshare ip etcd; do
  command -v $c >/dev/null || { echo "$c not found (bash tools/deps.sh)" >&2; exit 1; }
done
dir=${dir:-$(mktemp -d "${TMPDIR:-/tmp}/tldb-shard-soak-XXXXXX")}
mkdir -p "$dir"
server=$(realpath "$server") cli=$(realpath "$cli") tool=$(realpath "$tool")
echo "shard soak: 5 servers, 4 partitions at the start, $minutes min, seed $seed; data and logs in $dir"
# A network namespace of its own: the servers and etcd listen on 127.0.0.1 ports nothing else on
# the machine uses (they die with the tool: it spawns them so).
exec unshare --net -- bash -c 'ip link set lo up && exec "$@"' soak \
  "$tool" --server-bin "$server" shard-soak --cli-bin "$cli" --data-dir "$dir" \
  --duration-s $((minutes * 60)) --seed "$seed"
