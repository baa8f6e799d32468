// BlockCache: decompressed blocks of compacted segments, shared by every reader of a Db, under a
// byte budget (Options::block_cache_bytes), evicted in CLOCK order: an approximation of least
// recently used in which a hit only sets the entry's `referenced` flag (kept in its slot). A hit
// touches its slot and nothing of the ring. Moving it to the front of an LRU list touched its
// neighbours too, a cache miss each, and a hit counter shared by all shards bounced between the
// cores (docs/benchmarks.md "The block cache"); the counters are per shard now.
//
// Eviction: entries form a ring; `hand` points at the oldest. While over budget, the hand clears
// a referenced entry's flag and passes it (a second chance), and evicts an unreferenced one. A new
// entry joins the ring just behind the hand (the newest), referenced, so it is evicted only after
// every older entry had its chance.
//
// Index: each shard finds its entries through an open-addressing table, linear probing, at most
// half full, deletions by backward shift. A slot holds what a hit needs (key, block, referenced
// flag), so a hit reads the slot and the block's count and never the entry, which only keeps the
// ring; std::unordered_map read a bucket, the node before the first one and the node, three
// dependent cache misses and two divisions (docs/benchmarks.md "The block cache").
//
// Contract: thread-safe (sharded mutexes); a returned block stays valid for as long as the caller
// holds the shared_ptr, even after eviction. Keys name a block by namespace, segment id,
// generation and uncompressed start offset, so a compaction output never hits an input's entry.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tldb {

class BlockCache {
 public:
  struct Key {
    uint32_t ns;  // NamespaceLog instance
    uint32_t gen;
    uint64_t segment;
    uint32_t raw_start;
    bool operator==(const Key&) const = default;
  };
  using Block = std::shared_ptr<const std::string>;

  explicit BlockCache(uint64_t bytes_max) : shard_bytes_max_(bytes_max / kShards) {}
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  Block Lookup(const Key& k);
  void Insert(const Key& k, Block b);
  uint64_t hits() const;
  uint64_t misses() const;
  uint64_t bytes() const;  // of the blocks held

 private:
  static constexpr int kShards = 16;  // enough that 2-8 reader threads rarely meet
  static_assert((kShards & (kShards - 1)) == 0, "a shard is picked by the hash's low bits");
  static constexpr int kShardBits = 4;
  static_assert(kShards == 1 << kShardBits);
  // A shard's first table: 16 slots (8 entries before it doubles).
  static constexpr size_t kSlotsMin = 16;
  static uint64_t KeyHash(const Key& k) {  // splitmix64 finaliser over all fields
    uint64_t z = k.segment * 0x9E3779B97F4A7C15ull ^ (uint64_t{k.raw_start} << 32 | k.gen) ^
                 (uint64_t{k.ns} << 48);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // The ring's node of an entry: the hand walks entries in insertion order and finds each one's
  // slot by its key (slots move; entries do not).
  struct Entry {
    Key key;
    uint64_t hash = 0;  // KeyHash(key)
    Entry* prev = nullptr;
    Entry* next = nullptr;
  };
  struct Slot {
    uint64_t hash = 0;
    Key key;
    bool referenced = false;  // set by a hit, cleared by the passing hand
    Block block;
    std::unique_ptr<Entry> entry;  // null: empty
  };
  // Its own cache line: two threads in two shards do not share one.
  struct alignas(64) Shard {
    mutable std::mutex mu;
    std::vector<Slot> slots;  // a power of two in size (or empty), at most half full
    size_t count = 0;         // entries
    Entry* hand = nullptr;    // the oldest entry; null when empty
    uint64_t bytes = 0;
    // Written under mu only; atomic so that the getters may read them without it.
    std::atomic<uint64_t> hits{0}, misses{0};
  };
  Shard& ShardOf(uint64_t hash) { return shards_[hash & (kShards - 1)]; }
  // The slot's home: the bits above the shard's.
  static size_t Home(const Shard& s, uint64_t hash) {
    return static_cast<size_t>(hash >> kShardBits) & (s.slots.size() - 1);
  }
  static constexpr size_t kNoSlot = ~size_t{0};
  // The slot holding `k`, or kNoSlot. mu held.
  static size_t FindSlot(const Shard& s, const Key& k, uint64_t hash);
  // The first empty slot of hash's probe run (the table has one: at most half full). mu held.
  static size_t FreeSlot(const Shard& s, uint64_t hash);
  // Doubles the table (or makes the first) when one more entry would fill it past half. mu held.
  static void Reserve(Shard& s);
  // Empties slot `i` and moves the entries after it back toward their homes. mu held.
  static void EraseSlot(Shard& s, size_t i);
  static void Bump(std::atomic<uint64_t>& c) {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void EvictOverBudget(Shard& s);  // mu held

  const uint64_t shard_bytes_max_;
  Shard shards_[kShards];
};

}  // namespace tldb
