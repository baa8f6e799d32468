#include "store/mutation_overlay.h"

namespace tldb {

void MutationOverlay::ApplyRecall(uint32_t timeline, Seq seq) {
  if (seq < TrimmedBelow(timeline)) return;
  entries_[{timeline, seq}] = Entry{Kind::kRecalled, 0, 0};
}

void MutationOverlay::ApplyEdit(uint32_t timeline, Seq seq, uint32_t segment, uint32_t offset) {
  if (seq < TrimmedBelow(timeline)) return;
  auto [it, inserted] =
      entries_.try_emplace({timeline, seq}, Entry{Kind::kEdited, segment, offset});
  if (!inserted && it->second.kind == Kind::kEdited) it->second = {Kind::kEdited, segment, offset};
}

void MutationOverlay::ApplyTrim(uint32_t timeline, Seq below) {
  Seq& t = trims_[timeline];
  if (below <= t) return;
  t = below;
  entries_.erase(entries_.lower_bound({timeline, 0}), entries_.lower_bound({timeline, below}));
}

void MutationOverlay::ForgetTimeline(uint32_t timeline) {
  trims_.erase(timeline);
  entries_.erase(entries_.lower_bound({timeline, 0}), entries_.lower_bound({timeline + 1, 0}));
}

const MutationOverlay::Entry* MutationOverlay::Find(uint32_t timeline, Seq seq) const {
  auto it = entries_.find({timeline, seq});
  return it == entries_.end() ? nullptr : &it->second;
}

void MutationOverlay::Move(uint32_t timeline, Seq seq, uint32_t segment, uint32_t offset) {
  auto it = entries_.find({timeline, seq});
  if (it != entries_.end() && it->second.kind == Kind::kEdited) {
    it->second.segment = segment;
    it->second.offset = offset;
  }
}

uint64_t MutationOverlay::MemoryBytes() const {
  return entries_.size() * 64 + trims_.size() * 32;  // node sizes of the two containers
}

}  // namespace tldb
