#include "index/index_merge.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "io/map_fault_registry.h"
#include "util/check.h"

namespace tldb {

IndexMerge::IndexMerge(std::vector<const SegmentIndexReader*> readers, bool ahead)
    : readers_(std::move(readers)) {
  uint64_t entries = 0;
  for (const SegmentIndexReader* r : readers_) entries += r->timeline_count();
  const uint64_t per_partition =
      std::clamp(kEntriesPerReader * readers_.size(), kPartitionEntriesMin, kPartitionEntriesMax);
  partition_bits_ =
      std::min(32, static_cast<int>(std::bit_width(entries / per_partition)));  // 0: one partition
  partitions_end_ = uint64_t{1} << partition_bits_;
  high_end_ = partitions_end_;
  upwards_.cursor.assign(readers_.size(), 0);
  downwards_.downwards = true;
  downwards_.next = partitions_end_ - 1;
  for (const SegmentIndexReader* r : readers_) downwards_.cursor.push_back(r->timeline_count());
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

bool IndexMerge::Fill(uint64_t p, Partition* out, Scratch* scratch) const {
  const bool last = p + 1 == partitions_end_;
  const uint64_t begin = partition_bits_ == 0 ? 0 : p << (64 - partition_bits_);
  const uint64_t end = last ? 0 : (p + 1) << (64 - partition_bits_);  // exclusive (if !last)
  std::vector<Item>& gathered = scratch->gathered;
  gathered.clear();
  out->keys.clear();
  // Each scratch takes partitions one after the other, upwards or downwards, so its cursors
  // are where this partition's run of each reader starts (upwards) or ends (downwards).
  TLDB_CHECK(p == scratch->next);
  scratch->next = scratch->downwards ? p - 1 : p + 1;
  for (uint32_t r = 0; r < readers_.size(); ++r) {
    const SegmentIndexReader& reader = *readers_[r];
    auto add = [&](uint32_t i) {
      const IndexEntry e = reader.Entry(i);
      TLDB_CHECK(e.key.size() <= UINT8_MAX);  // one length byte (docs/format.md)
      // Item::key_at is 32 bits: a partition holds about kPartitionEntriesMax entries, unless
      // the keys' hashes crowd into it (the header's "Limit").
      TLDB_CHECK(out->keys.size() + e.key.size() <= UINT32_MAX);
      gathered.push_back({e.key_hash, e.first_seq, e.last_ts, e.count, r, i,
                          static_cast<uint32_t>(out->keys.size()),
                          static_cast<uint8_t>(e.key.size()), false});
      out->keys.append(e.key);
    };
    uint32_t& i = scratch->cursor[r];
    if (scratch->downwards) {  // entries in reverse order: a reader holds a key once
      for (; i > 0 && reader.EntryKeyHash(i - 1) >= begin; --i) add(i - 1);
    } else {
      for (; i < reader.timeline_count() && (last || reader.EntryKeyHash(i) < end); ++i) add(i);
    }
  }
  if (gathered.empty()) return false;
  // Group by hash: a counting sort by group number (stable, so each group keeps reader order).
  const size_t n = gathered.size();
  const size_t slots = std::bit_ceil(n * 2);
  std::vector<uint64_t>& slot_hash = scratch->slot_hash;
  std::vector<uint32_t>& slot_group = scratch->slot_group;
  std::vector<uint32_t>& group_of = scratch->group_of;
  std::vector<uint32_t>& group_start = scratch->group_start;
  slot_hash.assign(slots, 0);
  slot_group.assign(slots, 0);
  group_of.resize(n);
  group_start.clear();
  for (size_t k = 0; k < n; ++k) {
    const uint64_t h = gathered[k].key_hash;
    size_t s = static_cast<size_t>(h ^ (h >> 29)) & (slots - 1);
    while (slot_group[s] != 0 && slot_hash[s] != h) s = (s + 1) & (slots - 1);
    if (slot_group[s] == 0) {
      slot_hash[s] = h;
      group_start.push_back(0);
      slot_group[s] = static_cast<uint32_t>(group_start.size());
    }
    const uint32_t g = slot_group[s] - 1;
    group_of[k] = g;
    ++group_start[g];  // a count for now
  }
  uint32_t start = 0;
  for (uint32_t& c : group_start) start += std::exchange(c, start);
  out->items.resize(n);
  for (size_t k = 0; k < n; ++k) out->items[group_start[group_of[k]]++] = gathered[k];
  // Where keys start, and their hashes checked once each; whether keys share a hash.
  auto mark = [&] {
    bool shared = false;
    out->wrong_hash = kNone;
    for (size_t k = 0; k < n; ++k) {
      Item& it = out->items[k];
      const Item* prev = k == 0 ? nullptr : &out->items[k - 1];
      const bool same_hash = prev != nullptr && it.key_hash == prev->key_hash;
      it.starts_key = !same_hash || out->key(it) != out->key(*prev);
      shared |= same_hash && it.starts_key;
      if (it.starts_key && out->wrong_hash == kNone && KeyHash(out->key(it)) != it.key_hash) {
        out->wrong_hash = static_cast<uint32_t>(k);
      }
    }
    return shared;
  };
  if (mark()) {
    // Keys sharing a hash (a collision, or crafted) may interleave in their group: sorted by
    // key, stably (reader order kept), each key's entries come together, once.
    const auto by_key = [&](const Item& a, const Item& b) { return out->key(a) < out->key(b); };
    for (size_t g = 0; g < n;) {
      size_t end = g + 1;
      while (end < n && out->items[end].key_hash == out->items[g].key_hash) ++end;
      std::stable_sort(out->items.begin() + static_cast<ptrdiff_t>(g),
                       out->items.begin() + static_cast<ptrdiff_t>(end), by_key);
      g = end;
    }
    mark();
  }
  return true;
}

bool IndexMerge::Next(const Partition** out) {
  if (!ahead_.joinable()) {
    while (low_next_ < high_end_) {
      if (Fill(low_next_++, &partitions_[0], &upwards_)) {
        *out = &partitions_[0];
        return true;
      }
    }
    return false;
  }
  std::unique_lock l(mu_);
  if (held_ != kNoPartition) {
    empty_.push_back(std::exchange(held_, kNoPartition));
    changed_.notify_all();
  }
  for (;;) {
    if (!full_.empty()) {
      held_ = full_.front();
      full_.pop_front();
      *out = &partitions_[held_];
      return true;
    }
    if (low_next_ < high_end_) {
      // None is ready: gather one here rather than wait for the thread, from the top down (the
      // thread goes up from the bottom). There is an empty buffer: four in all, none held, at
      // most one being gathered.
      TLDB_CHECK(!empty_.empty());
      const size_t b = empty_.front();
      empty_.pop_front();
      const uint64_t p = --high_end_;
      l.unlock();
      MapFaultScope faults;
      const bool filled = Fill(p, &partitions_[b], &downwards_);
      if (faults.Faulted()) faulted_.store(true, std::memory_order_release);
      l.lock();
      if (filled) {
        held_ = b;
        *out = &partitions_[b];
        return true;
      }
      empty_.push_back(b);
      continue;
    }
    if (!ahead_busy_) return false;  // every partition taken, none being gathered
    changed_.wait(l);
  }
}

bool IndexMerge::Faulted() const {
  return faulted_.load(std::memory_order_acquire);
}

void IndexMerge::RunAhead() {
  MapFaultScope faults;
  std::unique_lock l(mu_);
  for (;;) {
    changed_.wait(l, [&] { return stop_ || low_next_ == high_end_ || !empty_.empty(); });
    if (stop_ || low_next_ == high_end_) return;
    const size_t b = empty_.front();
    empty_.pop_front();
    const uint64_t p = low_next_++;
    ahead_busy_ = true;
    l.unlock();
    const bool filled = Fill(p, &partitions_[b], &upwards_);  // b is this thread's now
    if (faults.Faulted()) faulted_.store(true, std::memory_order_release);
    l.lock();
    ahead_busy_ = false;
    (filled ? full_ : empty_).push_back(b);
    changed_.notify_all();
  }
}

}  // namespace tldb
