// SnapshotTaker: one namespace's part of Db::Snapshot (docs/design.md "Snapshots").
//
// Contract: Take() copies the namespace's log, as it stands at one point, into a directory of its
// own: hard links of the sealed segments and their index files (immutable once published), the
// active segment's bytes up to its durable end (copied: the file keeps growing), and a FLOORS
// file computed from memory at that same point. The point is captured under a shared hold of
// NamespaceState::mu (the segment list, the active segment's durable end and the floors); the
// links and the copy are made after it is released. Compaction and TTL may remove a listed file
// before it is linked: Take() then starts over from a new point (linked files keep their inodes,
// so a file linked stays whole whatever maintenance does next). Thread-safe with appends, reads
// and maintenance; the caller syncs the namespace first (NamespaceLog::Snapshot).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/namespace_state.h"
#include "tldb/db.h"

namespace tldb {

class SnapshotTaker {
 public:
  // Starts over at most this many times when maintenance removes a file before it is linked:
  // each start-over means a compaction or TTL pass committed in the few milliseconds the links
  // take, so more than a handful means something else is wrong.
  static constexpr int kAttemptsMax = 16;

  explicit SnapshotTaker(NamespaceState& st) : st_(st) {}

  // Fills `ns_dir` (created here; must not exist) and adds its files to `info->files` with paths
  // under `rel_dir` and the namespace's point to `info->namespaces`.
  Status Take(const std::string& ns_dir, const std::string& rel_dir, const SnapshotOptions& o,
              SnapshotInfo* info);

 private:
  struct Point {
    std::vector<std::pair<uint64_t, uint32_t>> sealed;  // (id, gen), ascending
    uint64_t active_id = 0;
    uint64_t active_end = 0;  // durable and published: a record boundary
    std::string floors;       // FLOORS bytes (empty: no timeline needs one)
  };
  Result<Point> Capture() const;
  // One attempt: NotFound when maintenance removed a listed file first.
  Status Materialize(const Point& p, const std::string& ns_dir, const std::string& rel_dir,
                     const SnapshotOptions& o, std::vector<SnapshotFile>* files);
  // Links `from` to `to`, or copies it when links are not possible here.
  Result<uint64_t> LinkOrCopy(const std::string& from, const std::string& to, bool sync);

  NamespaceState& st_;
};

// Copies the first `bytes` of `from` to a new file `to` (all of it when bytes is UINT64_MAX);
// returns the bytes copied. fdatasyncs `to` when `sync`.
Result<uint64_t> CopyFilePrefix(FileSystem& fs, const std::string& from, const std::string& to,
                                uint64_t bytes, bool sync);

}  // namespace tldb
