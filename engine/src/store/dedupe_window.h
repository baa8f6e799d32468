// DedupeWindow: remembers recent client_msg_ids so that a retried append returns the original
// SeqId instead of writing twice. Keyed by DedupeHash(key_hash, client_msg_id); a hit is only a
// candidate: the caller confirms it against the stored record (no false positive survives).
// Bounded: at most `entries_max` entries; the oldest is forgotten first. Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_map>

#include "tldb/types.h"

namespace tldb {

class DedupeWindow {
 public:
  struct Entry {
    uint32_t timeline;
    Seq seq;
    TimestampMs ts;
  };
  explicit DedupeWindow(uint32_t entries_max) : entries_max_(entries_max) {}

  void Insert(uint64_t hash, const Entry& e);
  const Entry* Find(uint64_t hash) const;
  size_t size() const { return map_.size(); }
  uint64_t MemoryBytes() const;

 private:
  uint32_t entries_max_;
  std::unordered_map<uint64_t, Entry> map_;
  std::deque<std::pair<uint64_t, Seq>> fifo_;  // insertion order, for eviction
};

}  // namespace tldb
