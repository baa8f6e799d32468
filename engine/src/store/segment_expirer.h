// SegmentExpirer: TTL. Whole sealed segments whose newest record is older than ttl_ms are
// deleted, never rewritten; reads already hide expired messages (TimelineRules::Expired), this
// frees their disk.
//
// Order of a drop (docs/design.md "TTL"): write FLOORS with the last SeqId of every timeline left
// without a record (so SeqIds are never reused); forget the segments in memory; delete the files
// (index first); fsync the directory. A crash (or a failed FLOORS write) before the deletes
// leaves the segments, which the next pass drops again.
//
// Contract: DropExpired runs with the namespace's maintenance mutex held (NamespaceLog), one
// pass at a time; it takes NamespaceState::mu shared to choose and exclusively (no I/O) to
// forget. `roll` seals an idle active segment through the group commit.
#pragma once

#include <functional>

#include "store/namespace_state.h"

namespace tldb {

class SegmentExpirer {
 public:
  SegmentExpirer(NamespaceState& st, std::function<Status()> roll)
      : st_(st), roll_(std::move(roll)) {}

  // When the next drop is due, in TTL-clock ms (INT64_MAX: nothing to expire).
  TimestampMs NextExpiryMs() const;
  // Drops every sealed segment whose newest record is older than the TTL.
  Status DropExpired(CompactionProgress* progress);
  // Removes `seg` from every timeline's segment list and forgets the rules' entries of the
  // SeqIds it held. Caller holds mu exclusively.
  static void ForgetSegment(NamespaceState& st, const SealedSegment& seg);

 private:
  NamespaceState& st_;
  std::function<Status()> roll_;
};

}  // namespace tldb
