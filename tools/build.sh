#!/usr/bin/env bash
# Configures and builds tldb into ${BUILD_DIR:-build} (Release unless BUILD_TYPE is set;
# warnings are errors only with -DTLDB_WERROR=ON, as tools/test.sh passes).
# Extra arguments go to cmake's configure step, e.g. -DTLDB_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
