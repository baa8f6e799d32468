// BlockCache: decompressed blocks of compacted segments, shared by every reader of a Db, with
// least-recently-used eviction under a byte budget (Options::block_cache_bytes).
//
// Contract: thread-safe (sharded mutexes); a returned block stays valid for as long as the
// caller holds the shared_ptr, even after eviction. Keys name a block by namespace, segment id,
// generation and uncompressed start offset, so a compaction output never hits an input's entry.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tldb {

class BlockCache {
 public:
  struct Key {
    uint32_t ns;
    uint32_t gen;
    uint64_t segment;
    uint32_t raw_start;
    bool operator==(const Key&) const = default;
  };
  using Block = std::shared_ptr<const std::string>;

  explicit BlockCache(uint64_t bytes_max) : shard_bytes_max_(bytes_max / kShards) {}

  Block Lookup(const Key& k);
  void Insert(const Key& k, Block b);
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

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
  struct Shard {
    std::mutex mu;
    std::list<std::pair<Key, Block>> lru;  // front: most recent
    std::unordered_map<Key, std::list<std::pair<Key, Block>>::iterator, KeyHash> map;
    uint64_t bytes = 0;
  };
  Shard& ShardOf(const Key& k) { return shards_[KeyHash{}(k) % kShards]; }

  const uint64_t shard_bytes_max_;
  Shard shards_[kShards];
  std::atomic<uint64_t> hits_{0}, misses_{0};
};

}  // namespace tldb
