#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, and starts tldb-server on
# 127.0.0.1:7070 with the data directory ./data (namespaces `store` and `sync` are created on
# first start). Extra arguments go to tldb-server (see `tldb-server --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build} bash tools/build.sh -DTLDB_BUILD_TESTS=OFF -DTLDB_BUILD_BENCH=OFF
exec "${BUILD_DIR:-build}/server/tldb-server" --data-dir ./data --listen 127.0.0.1:7070 "$@"
