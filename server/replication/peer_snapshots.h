// PeerSnapshots: the snapshots a primary takes for followers it rebuilds (docs/replication.md
// "Automatic rebuild"): one per follower, under ROOT/peer-<node>, taken on a thread of its own
// (a snapshot hard-links sealed files but copies the active segment's bytes), then read in
// chunks by the follower, and removed when the follower is done, when a newer one replaces
// it, or when this replica stops leading (Clear).
//
// Contract: thread-safe. One worker thread takes snapshots (`take`, never under this class's
// lock) and removes released ones, so a caller holding its own lock (the Replica's mu_, which
// `take` also takes briefly) never waits for a snapshot or for files to be unlinked here. At
// most one snapshot is taken at a time; the destructor waits for the one under way.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tldb/db.h"
#include "tldb/file_system.h"
#include "tldb/status.h"

namespace tldb::repl {

class PeerSnapshots {
 public:
  using TakeFn = std::function<Result<SnapshotInfo>(const std::string& dir)>;
  PeerSnapshots(FileSystem& fs, std::string root, TakeFn take)
      : fs_(fs), root_(std::move(root)), take_(std::move(take)) {
    worker_ = std::thread([this] { Work(); });
  }
  ~PeerSnapshots();
  PeerSnapshots(const PeerSnapshots&) = delete;
  PeerSnapshots& operator=(const PeerSnapshots&) = delete;

  // The manifest of `peer`'s snapshot once it is taken; nullopt while it is being taken (or
  // another one is: a later call starts it). The error of a failed attempt is returned once.
  Result<std::optional<std::vector<SnapshotFile>>> Open(uint32_t peer);
  // Up to `bytes_max` bytes of `path` of `peer`'s snapshot from `offset`.
  Result<std::string> Read(uint32_t peer, const std::string& path, uint64_t offset,
                           uint64_t bytes_max);
  void Release(uint32_t peer);
  void Clear();  // every snapshot (this replica no longer leads)
  // Removes whatever an earlier process left under ROOT (none is in use at start).
  void RemoveLeftovers();

 private:
  struct Entry {
    bool ready = false;
    std::optional<Status> failed;
    std::vector<SnapshotFile> files;
    uint64_t generation = 0;
  };
  std::string DirOf(uint32_t peer) const { return root_ + "/peer-" + std::to_string(peer); }
  void Post(std::function<void()> task);  // mu_ held
  void Work();
  void Take(uint32_t peer, uint64_t generation);
  Result<uint64_t> ChecksumFile(const std::string& path);  // XXH3-64 of its bytes

  FileSystem& fs_;
  const std::string root_;
  const TakeFn take_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint32_t, Entry> entries_;
  uint64_t generation_ = 0;
  bool taking_ = false;
  bool stopping_ = false;
  std::deque<std::function<void()>> tasks_;
  std::thread worker_;
};

}  // namespace tldb::repl
