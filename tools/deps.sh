#!/usr/bin/env bash
# Installs the Debian packages tldb needs to build and test, if any is missing.
# Usage: tools/deps.sh [extra-package ...]
set -euo pipefail
pkgs=(build-essential cmake pkg-config liburing-dev libxxhash-dev libzstd-dev libgtest-dev
      libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev clang golang-go
      libcurl4-openssl-dev curl etcd-server etcd-client prometheus-cpp-dev libssl-dev openssl "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "tools/deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
