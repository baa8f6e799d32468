#include "store/block_cache.h"

#include <utility>

#include "util/check.h"

namespace tldb {

size_t BlockCache::FindSlot(const Shard& s, const Key& k, uint64_t hash) {
  if (s.slots.empty()) return kNoSlot;
  const size_t mask = s.slots.size() - 1;
  for (size_t i = Home(s, hash);; i = (i + 1) & mask) {
    const Slot& slot = s.slots[i];
    if (!slot.entry) return kNoSlot;  // at most half full: an empty slot always ends the probe
    if (slot.hash == hash && slot.key == k) return i;
  }
}

size_t BlockCache::FreeSlot(const Shard& s, uint64_t hash) {
  const size_t mask = s.slots.size() - 1;
  size_t i = Home(s, hash);
  while (s.slots[i].entry) i = (i + 1) & mask;
  return i;
}

void BlockCache::Reserve(Shard& s) {
  if ((s.count + 1) * 2 <= s.slots.size()) return;
  std::vector<Slot> old =
      std::exchange(s.slots, std::vector<Slot>(s.slots.empty() ? kSlotsMin : s.slots.size() * 2));
  for (Slot& slot : old) {
    if (slot.entry) s.slots[FreeSlot(s, slot.hash)] = std::move(slot);
  }
}

void BlockCache::EraseSlot(Shard& s, size_t i) {
  const size_t mask = s.slots.size() - 1;
  s.slots[i] = Slot{};
  // Backward shift: an entry after the hole moves into it unless its home lies cyclically in
  // (hole, its slot], where the probe from its home would not pass the hole.
  for (size_t j = (i + 1) & mask; s.slots[j].entry; j = (j + 1) & mask) {
    const size_t home = Home(s, s.slots[j].hash);
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    s.slots[i] = std::move(s.slots[j]);
    s.slots[j] = Slot{};
    i = j;
  }
  --s.count;
}

BlockCache::Block BlockCache::Lookup(const Key& k) {
  const uint64_t hash = KeyHash(k);
  Shard& s = ShardOf(hash);
  std::lock_guard l(s.mu);
  const size_t i = FindSlot(s, k, hash);
  if (i == kNoSlot) {
    Bump(s.misses);
    return nullptr;
  }
  Slot& slot = s.slots[i];
  // Written only when it changes: a hit leaves the slot's line clean in the other cores' caches.
  if (!slot.referenced) slot.referenced = true;
  Bump(s.hits);
  return slot.block;
}

void BlockCache::Insert(const Key& k, Block b) {
  if (shard_bytes_max_ == 0) return;
  const uint64_t hash = KeyHash(k);
  Shard& s = ShardOf(hash);
  std::lock_guard l(s.mu);
  if (FindSlot(s, k, hash) != kNoSlot) return;  // already there: kept as it was
  Reserve(s);
  const size_t i = FreeSlot(s, hash);
  Slot& slot = s.slots[i];
  slot.hash = hash;
  slot.key = k;
  slot.referenced = true;
  slot.entry = std::make_unique<Entry>();
  ++s.count;
  Entry& e = *slot.entry;
  e.key = k;
  e.hash = hash;
  s.bytes += b->size();
  slot.block = std::move(b);
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
  while (s.bytes > shard_bytes_max_ && s.count > 1) {
    Entry* e = s.hand;
    s.hand = e->next;
    const size_t i = FindSlot(s, e->key, e->hash);
    TLDB_CHECK(i != kNoSlot && s.slots[i].entry.get() == e);
    if (s.slots[i].referenced) {
      s.slots[i].referenced = false;  // its second chance
      continue;
    }
    e->prev->next = e->next;
    e->next->prev = e->prev;
    const uint64_t bytes = s.slots[i].block->size();
    TLDB_CHECK(s.bytes >= bytes);
    s.bytes -= bytes;
    EraseSlot(s, i);  // frees e
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
