// TimelineTable: the in-memory state of every timeline of one namespace, sized for millions
// of timelines (target: < 100 bytes per timeline with a 32-byte key).
//
// Layout: states live in fixed-size chunks (no reallocation spikes, stable references), keys in
// a chunked byte arena (one length byte + key bytes), and an open-addressing table of 32-bit
// slots (timeline id + 1) plus one tag byte per slot (so a probe rarely compares keys) finds
// them, with linear probing. Home slots come from the hash's high bits, so that keys added in
// hash order (recovery's fold of the index files) are placed in slot order, without a cache
// miss each. Placing keys in hash order into a table too small for all of them would cluster
// them (each probe runs over every key placed so far: measured 5 s for 200k keys), so recovery
// adds them without a slot (AddUnplaced) and places them once the table is sized for all
// (PlaceAdded). Any other source of keys in hash order (a client importing timelines in the
// order another store listed them) is caught by its first probe run longer than kProbeRunMax:
// the table then takes its homes from the hash's low bits for good, which no order of keys
// clusters (kept until the next open). Timeline ids are dense and 0-based. Erase frees a timeline
// the store no longer owns (docs/design.md "Ownership"): its key leaves the slots (backward-shift
// deletion, no tombstones), its segment list's heap is freed, and its id, state and key bytes go to
// a free list that Insert takes from first, so freed memory serves the next timelines (chunks are
// not given back to the allocator). Until then a freed id reads as a timeline with no SeqId and no
// segment, under its old key. Every key_hash argument must be KeyHash(key) (index/segment_index.h).
// Not thread-safe: the owner (NamespaceLog) guards it with its reader/writer lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "tldb/types.h"
#include "util/check.h"
#include "util/coding.h"
#include "util/large_buffer.h"
#include "util/slab_chunks.h"

namespace tldb {

// Ascending list of the sealed segment ids that hold records of one timeline, as varint deltas
// from the newest back: about one byte per (timeline, segment) pair; last() and Append touch only
// the front. 12 bytes: 8 inline, spilling to the heap beyond.
class SegList {
 public:
  SegList() = default;
  ~SegList();
  SegList(const SegList&) = delete;
  SegList& operator=(const SegList&) = delete;

  // `id` must be greater than every id already in the list.
  void Append(uint32_t id);
  bool empty() const { return bytes_ == 0; }
  // The last id (0 when empty).
  uint32_t last() const;
  // Replaces the list by `ids` (ascending).
  void Assign(std::span<const uint32_t> ids);
  // Decodes into `out` (cleared first), ascending.
  void Decode(std::vector<uint32_t>* out) const;
  size_t heap_bytes() const;

 private:
  static constexpr uint32_t kInlineBytes = 8;
  const uint8_t* bytes() const { return bytes_ <= kInlineBytes ? inline_ : heap_; }
  // Puts `head` in place of the first `old_head_bytes` (a head never shrinks), moving the rest.
  void Replace(const uint8_t* head, uint32_t head_bytes, uint32_t old_head_bytes);

  // The union first: in a TimelineState at an 8-byte-aligned offset the heap pointer is then
  // 8-byte aligned, where LeakSanitizer looks for live pointers (at offset 4 it reported every
  // spilled list as leaked).
  union {
    uint8_t inline_[kInlineBytes];
    uint8_t* heap_;
  };
  uint32_t bytes_ = 0;
} __attribute__((packed, aligned(4)));
static_assert(sizeof(SegList) == 12);

inline constexpr uint32_t kNoSlot = 0xffffffffu;

struct TimelineState {
  Seq last_seq = 0;                // highest SeqId assigned (may still be in flight)
  TimestampMs last_ts = 0;         // timestamp of last_seq
  SegList segs;                    // sealed segments holding this timeline
  uint32_t unpublished = 0;        // assigned SeqIds readers may not see yet (last_seq - visible)
  uint32_t key_ref = 0;            // position of the key in the arena
  uint32_t active_slot = kNoSlot;  // slot in the active segment's index, if any

  // Highest SeqId readers may see.
  Seq visible_seq() const { return last_seq - unpublished; }
  // No record of the timeline is anywhere: no sealed segment lists it, it has no slot in the
  // active segment and no SeqId in flight. Its SeqIds may still have been handed out (last_seq
  // stays): the rule for whether it may leave the table (TimelineTable::Erase, with no overlay
  // entry or mutation record naming it either) and whether its last SeqId needs a floor.
  bool holds_no_records() const {
    return segs.empty() && active_slot == kNoSlot && unpublished == 0;
  }
  // Makes every SeqId up to `seq` (<= last_seq) visible.
  void Publish(Seq seq) {
    if (seq > visible_seq()) unpublished = static_cast<uint32_t>(last_seq - seq);
  }
};
static_assert(sizeof(TimelineState) == 40, "keep the per-timeline state small");
static_assert(sizeof(TimelineState) % 8 == 0 && offsetof(TimelineState, segs) % 8 == 0,
              "a SegList's heap pointer sits at an 8-byte-aligned address in every state");

class TimelineTable {
 public:
  static constexpr uint32_t kNone = 0xffffffffu;
  TimelineTable();
  ~TimelineTable();
  TimelineTable(const TimelineTable&) = delete;
  TimelineTable& operator=(const TimelineTable&) = delete;

  uint32_t Find(std::string_view key, uint64_t key_hash) const;
  // With PrefetchSlot, for a loop over many keys (a fan-out's thousands of targets, a cache
  // miss or three each otherwise), in three stages some keys apart, each using what the one
  // before fetched: where Find starts looking; the state of the timeline found there; its key.
  // Speculative (the first slot probed may hold another key); never changes anything.
  void PrefetchState(uint64_t key_hash) const {
    const uint32_t s = slots_[Home(key_hash)];
    if (s != 0) __builtin_prefetch(&state(s - 1));
  }
  void PrefetchKey(uint64_t key_hash) const {
    const uint32_t s = slots_[Home(key_hash)];
    if (s == 0) return;
    __builtin_prefetch(KeyAt(state(s - 1).key_ref));
  }
  // Adds a timeline that is not in the table; returns its id.
  uint32_t Insert(std::string_view key, uint64_t key_hash);
  uint32_t FindOrInsert(std::string_view key, uint64_t key_hash);
  // Bulk adding (recovery's fold): adds a timeline whose key is not in the table and will not
  // be added again, as the next id, without placing it in the slots: until PlaceAdded, Find
  // does not see it, and only state(), key() and AddUnplaced may be called.
  uint32_t AddUnplaced(std::string_view key);
  // Places the timelines AddUnplaced added, the slots sized for all of them at once. A key
  // already in the table is refused (checked: two ids for one key would split its history).
  void PlaceAdded();
  // A hint: fetches the slots a Find of `key_hash` looks at first into the cache.
  void PrefetchSlot(uint64_t key_hash) const {
    const uint64_t i = Home(key_hash);
    __builtin_prefetch(&slots_[i]);
    __builtin_prefetch(&tags_[i]);
  }
  // Frees timeline `id` (in the table). The caller makes sure nothing refers to it any more:
  // its state holds_no_records() (checked) and no overlay entry or mutation record names it. Its id
  // may be handed out again by the next Insert.
  void Erase(uint32_t id);

  TimelineState& state(uint32_t id) { return chunks_[id >> kChunkShift][id & kChunkMask]; }
  const TimelineState& state(uint32_t id) const {
    return chunks_[id >> kChunkShift][id & kChunkMask];
  }
  std::string_view key(uint32_t id) const;
  // Timelines in the table.
  uint32_t size() const { return size_; }
  // Whether home slots still come from the hash's high bits (false once a long probe run
  // switched them to the low bits).
  bool homes_from_high_bits() const { return high_homes_; }
  // One past the highest id handed out: loops over every id run to here (freed ids included:
  // their state is all zero, with no segment and no active slot).
  uint32_t id_end() const { return id_end_; }
  // Heap bytes held (states, keys, slots, spilled segment lists).
  uint64_t MemoryBytes() const;

 private:
  // 4Ki states (160 KiB) per chunk: a small table (a fresh namespace) holds little. The first
  // 16 chunks (64Ki timelines) are allocated one by one, later ones 64 at a time (10 MiB) in
  // huge pages (SlabChunks); key arena chunks likewise, two at a time, after the first two. A
  // slab is a whole number of huge pages: the last page of a slab of 2.5 MiB would be faulted
  // in whole for its first half MiB (measured: +20 bytes per timeline).
  static constexpr uint32_t kChunkShift = 12;
  static constexpr uint32_t kChunkMask = (1u << kChunkShift) - 1;
  static constexpr size_t kStateChunkBytes = sizeof(TimelineState) << kChunkShift;
  static constexpr size_t kSmallStateChunks = 16, kStateChunksPerSlab = 64;
  static constexpr uint32_t kArenaChunkBytes = 1u << 20;
  static constexpr uint32_t kArenaShift = 20;
  static constexpr size_t kSmallArenaChunks = 2, kArenaChunksPerSlab = 2;
  static_assert(kStateChunkBytes * kStateChunksPerSlab % LargeBuffer::kHugePageBytes == 0 &&
                    kArenaChunkBytes * kArenaChunksPerSlab % LargeBuffer::kHugePageBytes == 0,
                "a slab is a whole number of huge pages");

  // A probe run this long switches the homes to the low bits. Keys placed at random at load
  // 3/4 make runs of a few hundred slots at most among tens of millions (the chance of one
  // this long is below 1e-15), and one run of this length costs about a microsecond.
  static constexpr uint64_t kProbeRunMax = 1024;
  // A slot's home: the hash's top log2(slot_count_) bits, or its low bits.
  uint64_t Home(uint64_t key_hash) const {
    return high_homes_ ? key_hash >> slot_shift_ : key_hash & (slot_count_ - 1);
  }
  // A slot's tag: 8 bits of the hash apart from the home's (keys probed near each other share
  // their home bits, so a tag from those would match nearly every key probed): the low 8 bits
  // with high homes, bits 32-39 with low ones.
  uint8_t Tag(uint64_t key_hash) const {
    return static_cast<uint8_t>(high_homes_ ? key_hash : key_hash >> 32);
  }
  // Replaces the slot arrays by empty ones of `count` slots.
  void AllocateSlots(uint64_t count);
  void Grow();
  // Re-places the keys of ids below `placed_end` in `count` slots (a power of two, above
  // size() / 0.75), in id order.
  void Rehash(uint64_t count, uint32_t placed_end);
  void Place(uint32_t id, uint64_t key_hash);
  // After a probe run longer than kProbeRunMax (Place sets probe_run_long_): homes from the
  // low bits from now on, every key re-placed.
  void UseLowHomes();
  // A new id (id_end_), its state constructed.
  uint32_t NewId();
  // A freed id to reuse for a key of `key_bytes` (kNone: none; its state is all zero), and
  // whether its old key's arena bytes can hold the new key (*fits).
  uint32_t TakeFreeId(size_t key_bytes, bool* fits);
  uint32_t AddKey(std::string_view key);
  // Where the key stored at arena position `ref` starts (its length byte, then its bytes).
  char* KeyAt(uint32_t ref) const {
    return arena_[ref >> kArenaShift] + (ref & (kArenaChunkBytes - 1));
  }

  // States of ids below id_end_ are constructed (by Insert), the rest of a chunk is zeros.
  std::vector<TimelineState*> chunks_;
  SlabChunks state_chunks_{kStateChunkBytes, kSmallStateChunks, kStateChunksPerSlab};
  std::vector<char*> arena_;
  SlabChunks arena_chunks_{kArenaChunkBytes, kSmallArenaChunks, kArenaChunksPerSlab};
  uint32_t arena_used_ = kArenaChunkBytes;  // bytes used in the last arena chunk
  uint64_t slot_count_ = 0;                 // a power of two
  int slot_shift_ = 64;                     // 64 - log2(slot_count_)
  bool high_homes_ = true;                  // Home() from the high bits
  bool probe_run_long_ = false;             // Place met a run longer than kProbeRunMax
  uint32_t unplaced_from_ = kNone;          // the first id AddUnplaced added (kNone: none)
  LargeBuffer slot_buf_, tag_buf_;
  uint32_t* slots_ = nullptr;  // 0 = empty, else id + 1
  uint8_t* tags_ = nullptr;    // Tag() of each slot's key: skips most key compares
  uint32_t size_ = 0;          // timelines in the table
  uint32_t id_end_ = 0;        // ids handed out
  // Freed ids by the length of the key their arena bytes hold (reused in place by a key that
  // fits), and how many there are in all.
  std::vector<std::vector<uint32_t>> free_ids_;
  uint32_t free_count_ = 0;
};

}  // namespace tldb
