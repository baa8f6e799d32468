#!/usr/bin/env bash
# The long kill -9 run (docs/reliability.md): tldb-server is SIGKILLed under load at random
# moments and restarted, on the io_uring and then the POSIX backend, and everything is checked
# against the clients' ledger. Bounded: each backend stops after MINUTES minutes or KILLS kills.
#   bash tools/kill_soak.sh [minutes-per-backend] [kills-per-backend]      (default 5, 1000)
# Builds tldb-faults into ${BUILD_DIR:-build} first. Exit status 1 on any violation.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-5}
kills=${2:-1000}
build=${BUILD_DIR:-build}
cmake -S . -B "$build" >/dev/null
nice -n 10 cmake --build "$build" -j 2 --target tldb-faults tldb-server >/dev/null
status=0
for backend in uring posix; do
  echo "== $backend: up to $minutes min, up to $kills kills"
  "$build/tools/tldb-faults" --io-backend "$backend" kill --duration-s $((minutes * 60)) \
    --kills "$kills" --writers 6 --timelines 32 --kill-after-min-ms 50 --kill-after-max-ms 1500 \
    --seed "${SEED:-$RANDOM}" | grep -v '^kill ' || status=1
done
exit $status
