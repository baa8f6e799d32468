#include "store/dedupe_window.h"

namespace tldb {

void DedupeWindow::Insert(uint64_t hash, const Entry& e) {
  if (entries_max_ == 0) return;
  map_[hash] = e;
  fifo_.emplace_back(hash, e.seq);
  while (fifo_.size() > entries_max_) {
    auto [h, seq] = fifo_.front();
    fifo_.pop_front();
    auto it = map_.find(h);
    // Only forget it if a newer insert of the same hash did not replace it.
    if (it != map_.end() && it->second.seq == seq) map_.erase(it);
  }
}

const DedupeWindow::Entry* DedupeWindow::Find(uint64_t hash) const {
  auto it = map_.find(hash);
  return it == map_.end() ? nullptr : &it->second;
}

uint64_t DedupeWindow::MemoryBytes() const {
  // unordered_map node (next pointer, key, value, cached hash) + bucket pointer + fifo entry.
  constexpr uint64_t kNodeBytes = 8 + 8 + sizeof(Entry) + 8;
  return map_.size() * kNodeBytes + map_.bucket_count() * 8 +
         fifo_.size() * sizeof(std::pair<uint64_t, Seq>);
}

}  // namespace tldb
