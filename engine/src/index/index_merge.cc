#include "index/index_merge.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "io/map_fault_registry.h"
#include "util/check.h"

namespace tldb {

IndexMerge::IndexMerge(std::vector<const SegmentIndexReader*> readers, bool ahead)
    : readers_(std::move(readers)), cursor_(readers_.size(), 0) {
  uint64_t entries = 0;
  for (const SegmentIndexReader* r : readers_) entries += r->timeline_count();
  const uint64_t per_partition =
      std::clamp(kEntriesPerReader * readers_.size(), kPartitionEntriesMin, kPartitionEntriesMax);
  partition_bits_ =
      std::min(32, static_cast<int>(std::bit_width(entries / per_partition)));  // 0: one partition
  if (!ahead) {
    partitions_.resize(1);
    return;
  }
  // One the caller folds, kPartitionsAhead gathered ahead, one being gathered.
  partitions_.resize(kPartitionsAhead + 2);
  for (size_t p = 0; p < partitions_.size(); ++p) empty_.push_back(p);
  ahead_ = std::thread([this] { RunAhead(); });
}

IndexMerge::~IndexMerge() {
  if (!ahead_.joinable()) return;
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  ahead_.join();
}

bool IndexMerge::Fill(Partition* out) {
  const uint64_t partitions = uint64_t{1} << partition_bits_;
  while (next_partition_ < partitions) {
    const uint64_t p = next_partition_++;
    const bool last = p + 1 == partitions;
    const uint64_t end = last ? 0 : (p + 1) << (64 - partition_bits_);  // exclusive (if !last)
    gathered_.clear();
    out->keys.clear();
    for (uint32_t r = 0; r < readers_.size(); ++r) {
      const SegmentIndexReader& reader = *readers_[r];
      uint32_t& i = cursor_[r];
      for (; i < reader.timeline_count(); ++i) {
        if (!last && reader.EntryKeyHash(i) >= end) break;
        const IndexEntry e = reader.Entry(i);
        TLDB_CHECK(e.key.size() <= UINT8_MAX);  // one length byte (docs/format.md)
        // Item::key_at is 32 bits: a partition holds about kPartitionEntriesMax entries, unless
        // the keys' hashes crowd into it (the header's "Limit").
        TLDB_CHECK(out->keys.size() + e.key.size() <= UINT32_MAX);
        gathered_.push_back({e.key_hash, e.first_seq, e.last_ts, e.count, r, i,
                             static_cast<uint32_t>(out->keys.size()),
                             static_cast<uint8_t>(e.key.size()), false});
        out->keys.append(e.key);
      }
    }
    if (gathered_.empty()) continue;
    // Group by hash: a counting sort by group number (stable, so each group keeps reader order).
    const size_t n = gathered_.size();
    const size_t slots = std::bit_ceil(n * 2);
    slot_hash_.assign(slots, 0);
    slot_group_.assign(slots, 0);
    group_of_.resize(n);
    group_start_.clear();
    for (size_t k = 0; k < n; ++k) {
      const uint64_t h = gathered_[k].key_hash;
      size_t s = static_cast<size_t>(h ^ (h >> 29)) & (slots - 1);
      while (slot_group_[s] != 0 && slot_hash_[s] != h) s = (s + 1) & (slots - 1);
      if (slot_group_[s] == 0) {
        slot_hash_[s] = h;
        group_start_.push_back(0);
        slot_group_[s] = static_cast<uint32_t>(group_start_.size());
      }
      const uint32_t g = slot_group_[s] - 1;
      group_of_[k] = g;
      ++group_start_[g];  // a count for now
    }
    uint32_t start = 0;
    for (uint32_t& c : group_start_) start += std::exchange(c, start);
    out->items.resize(n);
    for (size_t k = 0; k < n; ++k) out->items[group_start_[group_of_[k]]++] = gathered_[k];
    // Where keys start, and their hashes checked once each.
    out->wrong_hash = kNone;
    for (size_t k = 0; k < n; ++k) {
      Item& it = out->items[k];
      const Item* prev = k == 0 ? nullptr : &out->items[k - 1];
      it.starts_key =
          prev == nullptr || it.key_hash != prev->key_hash || out->key(it) != out->key(*prev);
      if (it.starts_key && out->wrong_hash == kNone && KeyHash(out->key(it)) != it.key_hash) {
        out->wrong_hash = static_cast<uint32_t>(k);
      }
    }
    return true;
  }
  return false;
}

bool IndexMerge::Next(const Partition** out) {
  if (!ahead_.joinable()) {
    if (!Fill(&partitions_[0])) return false;
    *out = &partitions_[0];
    return true;
  }
  std::unique_lock l(mu_);
  if (held_ != kNoPartition) {
    empty_.push_back(std::exchange(held_, kNoPartition));
    changed_.notify_all();
  }
  changed_.wait(l, [&] { return !full_.empty() || done_; });
  if (full_.empty()) return false;
  held_ = full_.front();
  full_.pop_front();
  *out = &partitions_[held_];
  return true;
}

bool IndexMerge::Faulted() const {
  return faulted_.load(std::memory_order_acquire);
}

void IndexMerge::RunAhead() {
  MapFaultScope faults;
  for (;;) {
    size_t p = 0;
    {
      std::unique_lock l(mu_);
      changed_.wait(l, [&] { return !empty_.empty() || stop_; });
      if (stop_) return;
      p = empty_.front();
      empty_.pop_front();
    }
    const bool filled = Fill(&partitions_[p]);  // the thread owns partition p until it is full
    if (faults.Faulted()) faulted_.store(true, std::memory_order_release);
    {
      std::lock_guard l(mu_);
      if (filled) {
        full_.push_back(p);
      } else {
        done_ = true;
      }
    }
    changed_.notify_all();
    if (!filled) return;
  }
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
