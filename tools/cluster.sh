#!/usr/bin/env bash
# Starts a replicated partition on this machine (docs/replication.md): one etcd and three
# tldb-servers on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (client port 7070, peer port 7170), each
# with its own data directory under DIR (default: a fresh temporary directory). Prints how to
# reach them and runs until Ctrl-C (a killed server stays dead: restart it by hand with the
# command line in its log directory), then stops everything.
# With --partitions N --servers M: a sharded cluster (docs/cluster.md) instead: `tldb cluster
# init` writes a slot map of N partitions of three replicas over server ids
# 0..M-1, and M tldb-servers start on 127.0.0.1..127.0.0.M (client port 7070; partition P's
# replica on peer port 7170 + P).
# Usage: tools/cluster.sh [--partitions N --servers M] [DIR]     Build first: bash tools/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
server=${TLDB_SERVER:-build/server/tldb-server}
cli=${TLDB_CLI:-build/tools/tldb}
partitions=0
nservers=3
dir=
while (($#)); do
  case $1 in
    --partitions) partitions=$2; shift 2 ;;
    --servers) nservers=$2; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) dir=$1; shift ;;
  esac
done
[[ -x $server ]] || { echo "no $server: run bash tools/build.sh first" >&2; exit 1; }
((partitions == 0)) || [[ -x $cli ]] || { echo "no $cli: run bash tools/build.sh first" >&2; exit 1; }
((partitions > 0)) || ((nservers == 3)) || { echo "--servers needs --partitions" >&2; exit 1; }
((nservers >= 3 && nservers <= 250)) || { echo "--servers must be 3..250" >&2; exit 1; }
command -v etcd >/dev/null || { echo "etcd not found: bash tools/deps.sh installs etcd-server" >&2; exit 1; }
dir=${dir:-$(mktemp -d "${TMPDIR:-/tmp}/tldb-cluster-XXXXXX")}
mkdir -p "$dir"
etcd_port=${ETCD_PORT:-23790}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
etcd --name m0 --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$((etcd_port + 100))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 100))" \
  --initial-cluster "m0=http://127.0.0.1:$((etcd_port + 100))" 2>"$dir/etcd.log" &
pids+=($!)
healthy=0
for _ in $(seq 100); do
  if curl -fsS "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1; then healthy=1; break; fi
  sleep 0.1
done
((healthy)) || { echo "etcd did not start:" >&2; tail -n 5 "$dir/etcd.log" >&2; exit 1; }
if ((partitions > 0)); then
  ids=$(seq -s, 0 $((nservers - 1)))
  "$cli" cluster init --partitions "$partitions" --servers "$ids" --replicas 3 \
    --etcd "http://127.0.0.1:$etcd_port"
fi
last=$((nservers - 1))
for n in $(seq 0 $last); do
  host=127.0.0.$((n + 1))
  "$server" --cluster "etcd=http://127.0.0.1:$etcd_port" --node-id "$n" \
    --listen "$host:7070" --peer-listen "$host:7170" --data-dir "$dir/node$n" \
    2>"$dir/node$n.log" &
  pids+=($!)
done
echo "etcd:    http://127.0.0.1:$etcd_port (log $dir/etcd.log)"
for n in $(seq 0 $last); do
  echo "node $n:  127.0.0.$((n + 1)):7070 (pid ${pids[$((n + 1))]}, data $dir/node$n, log $dir/node$n.log)"
done
if ((partitions > 0)); then
  echo "Try: $cli cluster map --etcd http://127.0.0.1:$etcd_port (partitions, replicas,"
  echo "primaries); a server without a replica of a timeline's partition answers MOVED naming"
  echo "where to go. Ctrl-C stops everything."
else
  echo "Try: $cli --server 127.0.0.1:7070 append store t1 hello (a follower answers"
  echo "NOT_PRIMARY naming the primary). Ctrl-C stops everything."
fi
wait "${pids[@]}" || true
