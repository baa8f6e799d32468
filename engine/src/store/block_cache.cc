#include "store/block_cache.h"

#include "util/check.h"

namespace tldb {

BlockCache::Block BlockCache::Lookup(const Key& k) {
  Shard& s = ShardOf(k);
  std::lock_guard l(s.mu);
  auto it = s.map.find(k);
  if (it == s.map.end()) {
    Bump(s.misses);
    return nullptr;
  }
  it->second.referenced = true;
  Bump(s.hits);
  return it->second.block;
}

void BlockCache::Insert(const Key& k, Block b) {
  if (shard_bytes_max_ == 0) return;
  Shard& s = ShardOf(k);
  std::lock_guard l(s.mu);
  auto [it, inserted] = s.map.try_emplace(k);
  if (!inserted) return;
  Entry& e = it->second;
  e.key = k;
  e.block = std::move(b);
  s.bytes += e.block->size();
  if (s.hand == nullptr) {
    e.prev = e.next = &e;
    s.hand = &e;
  } else {  // just behind the hand: the newest
    e.next = s.hand;
    e.prev = s.hand->prev;
    e.prev->next = &e;
    s.hand->prev = &e;
  }
  EvictOverBudget(s);
}

void BlockCache::EvictOverBudget(Shard& s) {
  while (s.bytes > shard_bytes_max_ && s.map.size() > 1) {
    Entry* e = s.hand;
    s.hand = e->next;
    if (e->referenced) {
      e->referenced = false;  // its second chance
      continue;
    }
    e->prev->next = e->next;
    e->next->prev = e->prev;
    TLDB_CHECK(s.bytes >= e->block->size());
    s.bytes -= e->block->size();
    const Key k = e->key;
    s.map.erase(k);  // frees e
  }
}

uint64_t BlockCache::hits() const {
  uint64_t n = 0;
  for (const Shard& s : shards_) n += s.hits.load(std::memory_order_relaxed);
  return n;
}

uint64_t BlockCache::misses() const {
  uint64_t n = 0;
  for (const Shard& s : shards_) n += s.misses.load(std::memory_order_relaxed);
  return n;
}

uint64_t BlockCache::bytes() const {
  uint64_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard l(s.mu);
    n += s.bytes;
  }
  return n;
}

}  // namespace tldb
