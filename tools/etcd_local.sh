#!/usr/bin/env bash
# Starts a local etcd cluster on 127.0.0.1 for experiments with tldb's replication layer
# (docs/replication.md): MEMBERS members (default 3), client ports BASE, BASE+1, ... and peer
# ports BASE+100, ...; data in a fresh temporary directory, removed on exit. Runs until Ctrl-C.
# Usage: tools/etcd_local.sh [MEMBERS] [BASE_PORT]
set -euo pipefail
members=${1:-3}
base=${2:-23790}
command -v etcd >/dev/null || { echo "etcd not found: bash tools/deps.sh installs etcd-server" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/tldb-etcd-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
cluster=""
for ((i = 0; i < members; i++)); do
  cluster+="${cluster:+,}m$i=http://127.0.0.1:$((base + 100 + i))"
done
endpoints=""
for ((i = 0; i < members; i++)); do
  client="http://127.0.0.1:$((base + i))"
  peer="http://127.0.0.1:$((base + 100 + i))"
  etcd --name "m$i" --data-dir "$dir/m$i" --listen-client-urls "$client" \
    --advertise-client-urls "$client" --listen-peer-urls "$peer" \
    --initial-advertise-peer-urls "$peer" --initial-cluster "$cluster" \
    --initial-cluster-state new --initial-cluster-token tldb-local 2>"$dir/m$i.log" &
  pids+=($!)
  endpoints+="${endpoints:+,}$client"
done
echo "etcd: $members member(s), endpoints $endpoints (logs in $dir; Ctrl-C stops)"
echo "try: etcdctl --endpoints=$endpoints endpoint health"
wait
