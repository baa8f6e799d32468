// FrameReader: reads a namespace's log back as frames from a position, for a follower that is
// behind (docs/replication.md "Catch-up"). Frames hold whole records, each checked (checksum
// and position) as it is read; at the end of a sealed segment the next frame is the roll to
// its successor, with the successor's header as written.
//
// Only bytes readers may see are read: sealed segments, and the active segment below
// published_end (on a primary: committed). A position inside a segment that compaction
// rewrote or TTL dropped can no longer be served frame by frame: NotFound, and the follower
// needs a snapshot.
//
// Contract: thread-safe; holds NamespaceState::mu shared while it locates and copies bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "store/namespace_state.h"
#include "tldb/replication.h"

namespace tldb {

class FrameReader {
 public:
  explicit FrameReader(NamespaceState& st) : st_(st) {}

  // Frames starting at `from`, about `bytes_max` of records in all (at least one record when
  // there is one). Empty when `from` is the end of what readers see.
  Result<std::vector<LogFrame>> Read(LogPosition from, uint64_t bytes_max) const;

 private:
  // Whole records of `data` (which starts at segment offset `base`) from `from`, up to `limit`
  // bytes (at least one record).
  Result<LogFrame> Records(uint64_t segment, std::span<const char> data, uint64_t base,
                           uint64_t from, uint64_t limit) const;
  // The header of segment `id` (sealed and never rewritten, or the active one).
  Result<std::string> Header(uint64_t id) const;

  NamespaceState& st_;
};

}  // namespace tldb
