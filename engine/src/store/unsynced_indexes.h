// UnsyncedIndexes: index files that a roll wrote and renamed into place without an fdatasync,
// so that the roll, on the append path, does not wait for one (about 35 ms for the 18 MB index
// of a segment of fan-out records; appends wait for the whole roll).
//
// Why that is safe: an index is derived data. Its segment's records were synced before it was
// written, and recovery rebuilds an index that is missing, or fails its checksums or its order
// checks, from the segment (docs/design.md "Recovery"). A power loss before the index is synced
// costs a rebuild at the next open, never a record.
//
// They are synced soon after, off the append path: by the namespace's SegmentPreparer thread
// (asked by the roll at its end), at the start of the next maintenance pass, before a snapshot
// links them, at Close, and by a roll itself when more than kWaitingMax wait (no preparer
// thread: the simulated backend's deterministic mode). A failed fdatasync is not
// retried (the file's state is then unknown; recovery checks it at the next open): it is
// returned to the caller, who reports it; the index in memory stays right.
//
// Thread-safe. Lock order: sync_mu_ (held across the fdatasyncs, serialising SyncAll, so that
// its return means every index added before it is synced; no read takes it, and an append only
// in a roll that found more than kWaitingMax waiting) before mu_ (a leaf guarding the list).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tldb/file_system.h"
#include "tldb/status.h"

namespace tldb {

class UnsyncedIndexes {
 public:
  // At most this many indexes wait: bounds the rebuilds a power loss can cost (each reads one
  // segment, up to 64 MiB).
  static constexpr size_t kWaitingMax = 4;

  // Takes the written index file's handle; returns how many wait now.
  size_t Add(std::unique_ptr<WritableFile> file);
  // Syncs and closes every waiting index, then syncs `dir` once (their names). With
  // `writeback_bytes_per_s` (the preparer thread passes Options::background_writeback_bytes_
  // per_s), an index is first written back to the device in steps of kWriteBackStepBytes at
  // that pace, unless others wait (then at once, so that the pace never lets them pile up).
  [[nodiscard]] Status SyncAll(FileSystem& fs, const std::string& dir,
                               uint64_t writeback_bytes_per_s = 0);

  static constexpr uint64_t kWriteBackStepBytes = 256 << 10;

 private:
  // Writes `f` back in steps at `bytes_per_s` (see SyncAll); stops pacing once another index
  // waits. An error is returned (the caller does not sync a file whose writeback failed).
  Status WriteBackPaced(WritableFile& f, uint64_t bytes_per_s);

  std::mutex sync_mu_;
  std::mutex mu_;
  std::vector<std::unique_ptr<WritableFile>> files_;  // guarded by mu_
};

}  // namespace tldb
