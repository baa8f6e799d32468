// MutationOverlay: what recalls, edits and trims have done to one namespace's timelines, kept in
// memory on top of the immutable records (docs/design.md "Recall, edit, trim").
//
// Contract: Apply* are deterministic functions of the maintenance records in log order, so the
// state after recovery (which replays the records) equals the state before the crash. Entries
// are sparse: only recalled or edited SeqIds and trimmed timelines cost memory. Not thread-safe:
// NamespaceLog guards it with its reader/writer lock.
#pragma once

#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>

#include "tldb/types.h"

namespace tldb {

class MutationOverlay {
 public:
  enum class Kind : uint8_t { kRecalled, kEdited };
  struct Entry {
    Kind kind = Kind::kRecalled;
    uint32_t segment = 0;  // kEdited: where the edit record lives
    uint32_t offset = 0;
  };

  // Message `seq` of `timeline` is recalled (overrides an edit). Ignored below the trim point.
  void ApplyRecall(uint32_t timeline, Seq seq);
  // Message `seq` now reads from the edit record at (segment, offset). Ignored if recalled or
  // below the trim point.
  void ApplyEdit(uint32_t timeline, Seq seq, uint32_t segment, uint32_t offset);
  // Every message below `below` is deleted; entries below it are forgotten.
  void ApplyTrim(uint32_t timeline, Seq below);

  const Entry* Find(uint32_t timeline, Seq seq) const;
  // The first SeqId not trimmed away (1 when the timeline was never trimmed).
  Seq TrimmedBelow(uint32_t timeline) const {
    if (trims_.empty()) return 1;
    auto it = trims_.find(timeline);
    return it == trims_.end() ? 1 : it->second;
  }
  // Forgets entry (timeline, seq) (its message is gone from the store).
  void Erase(uint32_t timeline, Seq seq) { entries_.erase({timeline, seq}); }
  // Forgets everything about `timeline` (the store freed it: Db::SetTimelineOwnership).
  void ForgetTimeline(uint32_t timeline);
  // Points an edit at its record's new place after compaction moved it.
  void Move(uint32_t timeline, Seq seq, uint32_t segment, uint32_t offset);
  bool empty() const { return entries_.empty() && trims_.empty(); }
  size_t entries() const { return entries_.size(); }
  uint64_t MemoryBytes() const;

  template <typename Fn>  // fn(timeline, seq, const Entry&)
  void ForEach(Fn&& fn) const {
    for (const auto& [k, e] : entries_) fn(k.first, k.second, e);
  }

 private:
  std::map<std::pair<uint32_t, Seq>, Entry> entries_;  // ordered: trims erase ranges
  std::unordered_map<uint32_t, Seq> trims_;
};

}  // namespace tldb
