// TimelineRuns: one timeline's records, segment by segment, as a sequence of runs. Run i <
// sealed ids is the timeline's part of its i-th sealed segment; the last run is its part of the
// active segment, if any. SeqIds grow with i, so the run holding a SeqId is found by binary
// search (newest run first: IM reads are mostly of recent messages). A run of a compacted
// segment may have gaps (kGapOffset: deleted), and SeqIds between runs are deleted ones.
//
// Contract: valid while the caller holds NamespaceState::mu; one instance per thread at a time
// (the segment ids are decoded into a per-thread buffer: no allocation per read; checked).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "store/namespace_state.h"
#include "store/record_fetcher.h"
#include "util/check.h"

namespace tldb {

class TimelineRuns {
 public:
  struct Run {
    Seq first = 0;
    uint64_t count = 0;
    const SealedSegment* seg = nullptr;  // null: the active segment
    IndexEntry entry;
    const ActiveSegment::Slot* slot = nullptr;
    Seq last() const { return first + count - 1; }
  };

  TimelineRuns(const NamespaceState& st, uint32_t timeline)
      : st_(st), key_(st.table.key(timeline)), key_hash_(KeyHash(key_)), ids_(Buffer()) {
    TLDB_CHECK(!InUse());  // one per thread at a time: they share the buffer
    InUse() = true;
    const TimelineState& ts = st.table.state(timeline);
    ts.segs.Decode(&ids_);
    if (ts.active_slot != kNoSlot) slot_ = &st.active->slot(ts.active_slot);
  }
  ~TimelineRuns() { InUse() = false; }
  TimelineRuns(const TimelineRuns&) = delete;
  TimelineRuns& operator=(const TimelineRuns&) = delete;

  size_t size() const { return ids_.size() + (slot_ ? 1 : 0); }
  std::string_view key() const { return key_; }
  // Run i; Deleted if its segment is gone (expired meanwhile).
  Status At(size_t i, Run* r) const;
  // The first run whose last SeqId is >= seq (forward) or the last run whose first SeqId is
  // <= seq (backward); false if there is none (or *s is an error).
  bool Seek(Seq seq, bool forward, size_t* at, Run* r, Status* s) const;
  // The record of `seq` as stored in `run`: Deleted for a gap. Inline: once per SeqId read.
  Status Read(const RecordFetcher& fetch, const Run& run, Seq seq, RecordView* rec) const {
    TLDB_CHECK(Holds(run, seq));
    const uint32_t off = OffsetOf(run, seq);
    if (run.seg == nullptr) return fetch.Active(off, key_, seq, rec);
    if (off == index_format::kGapOffset) return Status::Deleted("message was deleted");
    return fetch.Sealed(*run.seg, off, key_, seq, rec);
  }

  // Hints that `seq` of `run` will be read soon (RecordFetcher::PrefetchActive/PrefetchSealed);
  // nothing for a SeqId outside the run or a gap.
  void Prefetch(const RecordFetcher& fetch, const Run& run, Seq seq) const {
    if (!Holds(run, seq)) return;
    const uint32_t off = OffsetOf(run, seq);
    if (run.seg == nullptr) {
      fetch.PrefetchActive(off);
    } else if (off != index_format::kGapOffset) {
      fetch.PrefetchSealed(*run.seg, off);
    }
  }

 private:
  static bool Holds(const Run& run, Seq seq) {
    return seq >= run.first && seq - run.first < run.count;
  }
  // Where `seq` of `run` is stored (run holds it): its offset in the active segment (run.seg
  // null), or in run.seg's record space, kGapOffset for a gap. Read and Prefetch share it.
  static uint32_t OffsetOf(const Run& run, Seq seq) {
    const auto i = static_cast<uint32_t>(seq - run.first);
    return run.seg == nullptr ? (*run.slot)[i] : run.seg->index.Offset(run.entry, i);
  }

  static std::vector<uint32_t>& Buffer() {
    thread_local std::vector<uint32_t> buffer;
    return buffer;
  }
  static bool& InUse() {
    thread_local bool in_use = false;
    return in_use;
  }

  const NamespaceState& st_;
  std::string_view key_;
  uint64_t key_hash_;
  std::vector<uint32_t>& ids_;
  const ActiveSegment::Slot* slot_ = nullptr;
};

}  // namespace tldb
