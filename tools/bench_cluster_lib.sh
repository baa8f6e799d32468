# Sourced by tools/bench_move.sh and tools/bench_split.sh (not run by itself): the local sharded
# cluster they time things on. After `bench_cluster_start NAME SERVERS` (NAME names the default
# directory; SERVERS tldb-servers, ids 0..SERVERS-1): one etcd at $etcd_url and the servers on
# 127.0.0.1 ports $base_port + id, a slot map of one partition of three replicas over servers
# 0, 1, 2, data and logs in $dir (the first non-option argument, or a new temporary directory),
# and an EXIT trap that stops the servers and then etcd. `find_primary` sets $primary_id and
# $primary_address (partition 0's primary, waiting for one). Uses $build, $mib, $dir.
server=$build/server/tldb-server
cli=$build/tools/tldb
net_bench=$build/server/net_bench
etcd_port=${ETCD_PORT:-24790}
base_port=${BASE_PORT:-17070}
etcd_url=http://127.0.0.1:$etcd_port
pids=()

bench_cluster_stop() {
  # The servers first, then etcd (pids[0]): a server stopping still talks to etcd (its lease).
  if ((${#pids[@]} > 1)); then
    kill "${pids[@]:1}" 2>/dev/null || true
    wait "${pids[@]:1}" 2>/dev/null || true
  fi
  if ((${#pids[@]} > 0)); then kill "${pids[0]}" 2>/dev/null || true; fi
  wait 2>/dev/null || true
}

bench_cluster_start() {
  local name=$1 servers=$2
  for b in "$server" "$cli" "$net_bench"; do
    [[ -x $b ]] || { echo "no $b: build it first (TLDB_BUILD=DIR to use another build)" >&2; exit 1; }
  done
  command -v etcd >/dev/null || { echo "etcd not found: bash tools/deps.sh installs etcd-server" >&2; exit 1; }
  dir=${dir:-$(mktemp -d "${TMPDIR:-/tmp}/tldb-bench-$name-XXXXXX")}
  mkdir -p "$dir"
  trap bench_cluster_stop EXIT
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
  for ((n = 0; n < servers; n++)); do
    "$server" --cluster "etcd=$etcd_url" --node-id "$n" --listen "127.0.0.1:$((base_port + n))" \
      --peer-listen 127.0.0.1:0 --data-dir "$dir/server$n" 2>"$dir/server$n.log" &
    pids+=($!)
  done
}

# Partition 0's primary's id and address, once there is one (again after a failover: on a
# loaded machine a lease can expire while loading).
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
