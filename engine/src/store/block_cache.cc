#include "store/block_cache.h"

namespace tldb {

BlockCache::Block BlockCache::Lookup(const Key& k) {
  Shard& s = ShardOf(k);
  std::lock_guard l(s.mu);
  auto it = s.map.find(k);
  if (it == s.map.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second->second;
}

void BlockCache::Insert(const Key& k, Block b) {
  if (shard_bytes_max_ == 0) return;
  Shard& s = ShardOf(k);
  std::lock_guard l(s.mu);
  if (s.map.contains(k)) return;
  s.bytes += b->size();
  s.lru.emplace_front(k, std::move(b));
  s.map.emplace(k, s.lru.begin());
  while (s.bytes > shard_bytes_max_ && s.lru.size() > 1) {
    s.bytes -= s.lru.back().second->size();
    s.map.erase(s.lru.back().first);
    s.lru.pop_back();
  }
}

}  // namespace tldb
