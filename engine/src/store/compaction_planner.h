// CompactionPlanner: chooses the runs of consecutive sealed segments worth rewriting — those
// with less than compact_live_pct of their messages live, or with any message of a timeline the
// store no longer owns (Db::SetTimelineOwnership: a split leaves about half of every segment
// disowned, which the live fraction alone would leave at the default threshold), or, in
// namespaces kept forever, never compacted yet (neither compressed nor clustered). Segments of a
// namespace with a TTL are left to expire unless recalls, trims or ownership thinned them. What
// "live" means is TimelineRules's Owned and SurvivesRewrite; the planner only counts.
//
// Contract: runs with the namespace's maintenance mutex held (so no sealed segment goes away
// meanwhile). It takes NamespaceState::mu shared only briefly — to snapshot the segment list and
// then per batch of index entries — so a commit leader waiting for mu exclusively is never held
// up by a whole planning pass. A segment's live percentage is cached until the rules change or
// a minute passes or the ownership changes. The ownership callback is called per index entry
// with no lock held.
#pragma once

#include <cstdint>
#include <vector>

#include "store/namespace_state.h"

namespace tldb {

class CompactionPlanner {
 public:
  explicit CompactionPlanner(NamespaceState& st) : st_(st) {}

  // Raw record bytes read per run: bounds the memory a run holds (records, decompressed input
  // blocks) and keeps an output segment's record space far below the u32 offset limit.
  static constexpr uint64_t kRunInputBytesMax = 128ull << 20;
  static_assert(kRunInputBytesMax < (uint64_t{1} << 31));

  std::vector<std::vector<const SealedSegment*>> Plan(bool full);
  // The fraction of a sealed segment's messages that rewriting it alone cannot drop, in percent;
  // *disowned: whether any of them belongs to a timeline the store does not own.
  uint32_t LivePercent(const SealedSegment& seg, bool* disowned = nullptr) const;

 private:
  uint32_t CachedLivePercent(SealedSegment& seg);

  NamespaceState& st_;
};

}  // namespace tldb
