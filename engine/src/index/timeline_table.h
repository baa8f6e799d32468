// TimelineTable: the in-memory state of every timeline of one namespace, sized for millions
// of timelines (target: < 100 bytes per timeline with a 32-byte key).
//
// Layout: states live in fixed-size chunks (no reallocation spikes, stable references), keys in
// a chunked byte arena (one length byte + key bytes), and an open-addressing table of 32-bit
// slots (timeline id + 1) finds them. A key's home slot comes from the hash's HIGH bits, so
// walking keys in hash order (as index files are sorted) touches the table sequentially: that
// keeps opening a store with millions of timelines cache-friendly. Timeline ids are dense, 0-based,
// and never reused. Every key_hash argument must be KeyHash(key) (index/segment_index.h). Not
// thread-safe: the owner (NamespaceLog) guards it with its reader/writer lock.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "tldb/types.h"

namespace tldb {

// Ascending list of the sealed segment ids that hold records of one timeline, as varint deltas:
// about one byte per (timeline, segment) pair. 16 bytes inline; spills to the heap past 8 bytes.
class SegList {
 public:
  SegList() = default;
  ~SegList();
  SegList(const SegList&) = delete;
  SegList& operator=(const SegList&) = delete;
  SegList(SegList&& o) noexcept;
  SegList& operator=(SegList&& o) noexcept;

  // `id` must be greater than every id already in the list.
  void Append(uint32_t id);
  bool empty() const { return bytes_ == 0; }
  uint32_t last() const { return last_; }
  // Decodes into `out` (cleared first), ascending.
  void Decode(std::vector<uint32_t>* out) const;
  size_t heap_bytes() const;
  // Replaces the content (used when segments are removed).
  void Assign(const std::vector<uint32_t>& ids);

 private:
  static constexpr uint32_t kInlineBytes = 8;
  const uint8_t* bytes() const { return bytes_ <= kInlineBytes ? inline_ : heap_; }
  void Clear();

  uint32_t last_ = 0;
  uint32_t bytes_ = 0;
  union {
    uint8_t inline_[kInlineBytes];
    uint8_t* heap_;
  };
};
static_assert(sizeof(SegList) == 16);

inline constexpr uint32_t kNoSlot = 0xffffffffu;

struct TimelineState {
  Seq last_seq = 0;                // highest SeqId assigned (may still be in flight)
  Seq visible_seq = 0;             // highest SeqId readers may see
  TimestampMs last_ts = 0;         // timestamp of last_seq
  SegList segs;                    // sealed segments holding this timeline
  uint32_t key_ref = 0;            // position of the key in the arena
  uint32_t active_slot = kNoSlot;  // slot in the active segment's index, if any
};
static_assert(sizeof(TimelineState) == 48, "keep the per-timeline state small");

class TimelineTable {
 public:
  static constexpr uint32_t kNone = 0xffffffffu;
  TimelineTable();

  uint32_t Find(std::string_view key, uint64_t key_hash) const;
  // Adds a timeline that is not in the table; returns its id.
  uint32_t Insert(std::string_view key, uint64_t key_hash);
  uint32_t FindOrInsert(std::string_view key, uint64_t key_hash);

  TimelineState& state(uint32_t id) { return chunks_[id >> kChunkShift][id & kChunkMask]; }
  const TimelineState& state(uint32_t id) const {
    return chunks_[id >> kChunkShift][id & kChunkMask];
  }
  std::string_view key(uint32_t id) const;
  uint32_t size() const { return size_; }
  // Heap bytes held (states, keys, slots, spilled segment lists).
  uint64_t MemoryBytes() const;

 private:
  static constexpr uint32_t kChunkShift = 14;  // 16Ki states (768 KiB) per chunk
  static constexpr uint32_t kChunkMask = (1u << kChunkShift) - 1;
  static constexpr uint32_t kArenaChunkBytes = 1u << 20;
  static constexpr uint32_t kArenaShift = 20;

  void Grow();
  void Place(uint32_t id, uint64_t key_hash);
  uint32_t AddKey(std::string_view key);

  std::vector<std::unique_ptr<TimelineState[]>> chunks_;
  std::vector<std::unique_ptr<char[]>> arena_;
  uint32_t arena_used_ = kArenaChunkBytes;  // bytes used in the last arena chunk
  std::vector<uint32_t> slots_;             // 0 = empty, else id + 1; size is a power of two
  uint32_t shift_;                          // 64 - log2(slots_.size())
  uint32_t size_ = 0;
};

}  // namespace tldb
