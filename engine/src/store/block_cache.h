// BlockCache: decompressed blocks of compacted segments, shared by every reader of a Db, under a
// byte budget (Options::block_cache_bytes), evicted in CLOCK order: an approximation of least
// recently used in which a hit only sets the entry's `referenced` flag. A hit touches one node
// (the map's). Moving it to the front of an LRU list touched its neighbours too, a cache miss
// each, and a hit counter shared by all shards bounced between the cores (docs/benchmarks.md
// "The block cache"); the counters are per shard now.
//
// Eviction: entries form a ring; `hand` points at the oldest. While over budget, the hand clears
// a referenced entry's flag and passes it (a second chance), and evicts an unreferenced one. A new
// entry joins the ring just behind the hand (the newest), referenced, so it is evicted only after
// every older entry had its chance.
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
#include <unordered_map>

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

  Block Lookup(const Key& k);
  void Insert(const Key& k, Block b);
  uint64_t hits() const;
  uint64_t misses() const;
  uint64_t bytes() const;  // of the blocks held

 private:
  static constexpr int kShards = 16;  // enough that 2-8 reader threads rarely meet
  struct KeyHash {
    size_t operator()(const Key& k) const {  // splitmix64 finaliser over all fields
      uint64_t z = k.segment * 0x9E3779B97F4A7C15ull ^ (uint64_t{k.raw_start} << 32 | k.gen) ^
                   (uint64_t{k.ns} << 48);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return z ^ (z >> 31);
    }
  };
  struct Entry {
    Key key;
    Block block;
    bool referenced = true;
    Entry* prev = nullptr;  // the ring, in insertion order
    Entry* next = nullptr;
  };
  // Its own cache line: two threads in two shards do not share one.
  struct alignas(64) Shard {
    mutable std::mutex mu;
    std::unordered_map<Key, Entry, KeyHash> map;  // nodes are stable: the ring points into them
    Entry* hand = nullptr;                        // the oldest entry; null when empty
    uint64_t bytes = 0;
    // Written under mu only; atomic so that the getters may read them without it.
    std::atomic<uint64_t> hits{0}, misses{0};
  };
  Shard& ShardOf(const Key& k) { return shards_[KeyHash{}(k) % kShards]; }
  static void Bump(std::atomic<uint64_t>& c) {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void EvictOverBudget(Shard& s);  // mu held

  const uint64_t shard_bytes_max_;
  Shard shards_[kShards];
};

}  // namespace tldb
