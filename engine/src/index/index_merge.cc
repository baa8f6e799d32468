#include "index/index_merge.h"

#include <algorithm>
#include <bit>
#include <utility>

namespace tldb {

IndexMerge::IndexMerge(std::vector<const SegmentIndexReader*> readers)
    : readers_(std::move(readers)), cursor_(readers_.size(), 0) {
  uint64_t entries = 0;
  for (const SegmentIndexReader* r : readers_) entries += r->timeline_count();
  const uint64_t per_partition =
      std::clamp(kEntriesPerReader * readers_.size(), kPartitionEntriesMin, kPartitionEntriesMax);
  partition_bits_ =
      std::min(32, static_cast<int>(std::bit_width(entries / per_partition)));  // 0: one partition
}

bool IndexMerge::FillPartition() {
  const uint64_t partitions = uint64_t{1} << partition_bits_;
  while (next_partition_ < partitions) {
    const uint64_t p = next_partition_++;
    const bool last = p + 1 == partitions;
    const uint64_t end = last ? 0 : (p + 1) << (64 - partition_bits_);  // exclusive (if !last)
    items_.clear();
    for (uint32_t r = 0; r < readers_.size(); ++r) {
      const SegmentIndexReader& reader = *readers_[r];
      uint32_t& i = cursor_[r];
      for (; i < reader.timeline_count(); ++i) {
        const uint64_t h = reader.EntryKeyHash(i);
        if (!last && h >= end) break;
        reader.PrefetchKey(i);  // the fold compares it soon
        items_.push_back({h, r, i});
      }
    }
    if (items_.empty()) continue;
    // Group by hash: a counting sort by group number (stable, so each group keeps reader order).
    const size_t slots = std::bit_ceil(items_.size() * 2);
    slot_hash_.assign(slots, 0);
    slot_group_.assign(slots, 0);
    group_of_.resize(items_.size());
    group_end_.clear();
    for (size_t k = 0; k < items_.size(); ++k) {
      const uint64_t h = items_[k].key_hash;
      size_t s = static_cast<size_t>(h ^ (h >> 29)) & (slots - 1);
      while (slot_group_[s] != 0 && slot_hash_[s] != h) s = (s + 1) & (slots - 1);
      if (slot_group_[s] == 0) {
        slot_hash_[s] = h;
        group_end_.push_back(0);
        slot_group_[s] = static_cast<uint32_t>(group_end_.size());
      }
      const uint32_t g = slot_group_[s] - 1;
      group_of_[k] = g;
      ++group_end_[g];  // a count for now
    }
    // Counts to starts; the scatter then moves each to its group's end.
    uint32_t start = 0;
    for (uint32_t& n : group_end_) start += std::exchange(n, start);
    grouped_.resize(items_.size());
    for (size_t k = 0; k < items_.size(); ++k) grouped_[group_end_[group_of_[k]]++] = items_[k];
    at_ = 0;
    group_ = 0;
    return true;
  }
  return false;
}

bool IndexMerge::Next(uint32_t* reader, uint32_t* entry) {
  if (at_ >= grouped_.size()) {
    grouped_.clear();
    if (!FillPartition()) return false;
  }
  if (at_ >= group_end_[group_]) ++group_;
  const Item& it = grouped_[at_++];
  *reader = it.reader;
  *entry = it.entry;
  return true;
}

uint64_t IndexMerge::EstimateDistinctKeys(const std::vector<const SegmentIndexReader*>& readers) {
  constexpr int kSampleShift = 6;  // the sample: hashes below 2^58, a prefix of every reader
  constexpr uint64_t kSampleEnd = uint64_t{1} << (64 - kSampleShift);
  uint64_t entries = 0;
  std::vector<uint64_t> sample;
  for (const SegmentIndexReader* r : readers) {
    entries += r->timeline_count();
    for (uint32_t i = 0; i < r->timeline_count(); ++i) {
      const uint64_t h = r->EntryKeyHash(i);
      if (h >= kSampleEnd) break;
      sample.push_back(h);
    }
  }
  std::sort(sample.begin(), sample.end());
  const uint64_t distinct =
      static_cast<uint64_t>(std::unique(sample.begin(), sample.end()) - sample.begin());
  return std::min(entries, distinct << kSampleShift);
}

}  // namespace tldb
