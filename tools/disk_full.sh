#!/usr/bin/env bash
# The disk-full suite on a real filesystem (docs/reliability.md): a loop-mounted 32 MiB ext4
# image (a 32 MiB tmpfs when loop devices are refused), tldb-server writing into it, a filler
# file taking the free space, a real ENOSPC, then the filler deleted: appends must resume without
# a restart, and nothing acknowledged may be lost (a restart is only tried, and reported, if they
# do not; the run then fails). Runs on the io_uring and the POSIX backends. Needs root (mount).
# FS=ext2 uses ext2 instead, a file system without fallocate (the engine then reserves space by
# writing zeros).
# Usage: [FS=ext2] bash tools/disk_full.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake -S . -B "$build" >/dev/null
nice -n 10 cmake --build "$build" -j 2 --target tldb-faults tldb-server >/dev/null
work=$(mktemp -d)
mnt="$work/mnt"
mkdir -p "$mnt"
cleanup() {
  umount "$mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mount_fs() {
  truncate -s 32M "$work/fs.img"
  if mkfs.ext4 -q -t "$fs" "$work/fs.img" && mount -o loop "$work/fs.img" "$mnt" 2>/dev/null; then
    echo "filesystem: loop-mounted $fs, 32 MiB"
  elif mount -t tmpfs -o size=32m tmpfs "$mnt"; then
    echo "filesystem: tmpfs, 32 MiB (loop mount refused)"
  else
    echo "disk_full: mounting refused; tests/hostile_test's InjectedNoSpaceThroughTheServer" \
      "covers the simulated path" >&2
    exit 2
  fi
}
fs=${FS:-ext4}
status=0
for backend in uring posix; do
  mount_fs
  echo "== $backend"
  "$build/tools/tldb-faults" --io-backend "$backend" disk-full --dir "$mnt" || status=1
  umount "$mnt"
  rm -f "$work/fs.img"
done
exit $status
