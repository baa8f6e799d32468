#include "index/timeline_table.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "index/segment_index.h"
#include "util/check.h"
#include "util/coding.h"

namespace tldb {

// ---- SegList ----

SegList::~SegList() {
  if (bytes_ > kInlineBytes) std::free(heap_);
}

size_t SegList::heap_bytes() const {
  return bytes_ > kInlineBytes ? std::bit_ceil(bytes_) : 0;
}

// Layout: the newest id first, as a varint; then each older id as its distance below the one
// before it. last() reads one varint and Append rewrites only the front, so neither costs more
// for a timeline in thousands of segments (a roll appends to every timeline of the segment,
// recovery to every timeline of every index, both while appends or the open wait).
uint32_t SegList::last() const {
  if (bytes_ == 0) return 0;
  const uint8_t* p = bytes();
  uint64_t id = 0;
  TLDB_CHECK(GetVarint64(p, p + bytes_, &id) != 0);
  return static_cast<uint32_t>(id);
}

void SegList::Replace(const uint8_t* head, uint32_t head_bytes, uint32_t old_head_bytes) {
  TLDB_CHECK(old_head_bytes <= bytes_ && head_bytes >= old_head_bytes);
  const uint32_t rest = bytes_ - old_head_bytes;
  const uint32_t new_bytes = head_bytes + rest;
  uint8_t* to = nullptr;
  if (new_bytes <= kInlineBytes) {
    std::memmove(inline_ + head_bytes, inline_ + old_head_bytes, rest);
    to = inline_;
  } else if (bytes_ <= kInlineBytes) {  // spills to the heap
    auto* heap = static_cast<uint8_t*>(std::malloc(std::bit_ceil(new_bytes)));
    TLDB_CHECK(heap != nullptr);
    std::memcpy(heap + head_bytes, inline_ + old_head_bytes, rest);
    heap_ = heap;
    to = heap;
  } else {
    uint8_t* heap = heap_;
    if (std::bit_ceil(new_bytes) > std::bit_ceil(bytes_)) {
      heap = static_cast<uint8_t*>(std::realloc(heap, std::bit_ceil(new_bytes)));
      TLDB_CHECK(heap != nullptr);
      heap_ = heap;
    }
    std::memmove(heap + head_bytes, heap + old_head_bytes, rest);
    to = heap;
  }
  std::memcpy(to, head, head_bytes);
  bytes_ = new_bytes;
}

void SegList::Append(uint32_t id) {
  uint8_t head[20];
  if (bytes_ == 0) {
    Replace(head, static_cast<uint32_t>(PutVarint64(head, id)), 0);
    return;
  }
  const uint8_t* p = bytes();
  uint64_t prev = 0;
  const size_t old_head = GetVarint64(p, p + bytes_, &prev);
  TLDB_CHECK(old_head != 0 && id > prev);
  size_t n = PutVarint64(head, id);
  n += PutVarint64(head + n, id - prev);
  Replace(head, static_cast<uint32_t>(n), static_cast<uint32_t>(old_head));
}

void SegList::Assign(std::span<const uint32_t> ids) {
  if (bytes_ > kInlineBytes) std::free(heap_);
  bytes_ = 0;
  if (ids.empty()) return;
  // Recovery assigns every timeline's list: on the stack unless it is long.
  constexpr size_t kVarintBytesMax = 5, kStackIds = 64;
  uint8_t stack[kStackIds * kVarintBytesMax];
  std::vector<uint8_t> heap;
  uint8_t* enc = stack;
  if (ids.size() > kStackIds) {
    heap.resize(ids.size() * kVarintBytesMax);
    enc = heap.data();
  }
  size_t n = PutVarint64(enc, ids.back());
  for (size_t i = ids.size() - 1; i > 0; --i) {
    TLDB_CHECK(ids[i] > ids[i - 1]);
    n += PutVarint64(enc + n, ids[i] - ids[i - 1]);
  }
  Replace(enc, static_cast<uint32_t>(n), 0);
}

void SegList::Decode(std::vector<uint32_t>* out) const {
  out->clear();
  const uint8_t* p = bytes();
  const uint8_t* end = p + bytes_;
  uint64_t id = 0;
  while (p < end) {
    uint64_t v = 0;
    const size_t n = GetVarint64(p, end, &v);
    TLDB_CHECK(n != 0 && (out->empty() || (v > 0 && v <= id)));
    p += n;
    id = out->empty() ? v : id - v;
    out->push_back(static_cast<uint32_t>(id));
  }
  std::reverse(out->begin(), out->end());
}

// ---- TimelineTable ----

TimelineTable::TimelineTable() : free_ids_(256) {
  AllocateSlots(1024);
}

TimelineTable::~TimelineTable() {
  for (uint32_t id = 0; id < id_end_; ++id) state(id).~TimelineState();
}

void TimelineTable::AllocateSlots(uint64_t count) {
  slot_buf_ = LargeBuffer(count * sizeof(uint32_t));
  tag_buf_ = LargeBuffer(count);
  slots_ = reinterpret_cast<uint32_t*>(slot_buf_.data());
  tags_ = reinterpret_cast<uint8_t*>(tag_buf_.data());
  slot_count_ = count;
  slot_shift_ = 64 - std::countr_zero(count);
}

std::string_view TimelineTable::key(uint32_t id) const {
  const char* p = KeyAt(state(id).key_ref);
  return {p + 1, static_cast<uint8_t>(*p)};
}

uint32_t TimelineTable::Find(std::string_view k, uint64_t key_hash) const {
  const uint64_t mask = slot_count_ - 1;
  const uint8_t tag = Tag(key_hash);
  for (uint64_t i = Home(key_hash);; i = (i + 1) & mask) {
    const uint32_t s = slots_[i];
    if (s == 0) return kNone;
    if (tags_[i] == tag && key(s - 1) == k) return s - 1;
  }
}

uint32_t TimelineTable::AddKey(std::string_view k) {
  TLDB_CHECK(!k.empty() && k.size() <= 255);
  if (arena_used_ + 1 + k.size() > kArenaChunkBytes) {
    TLDB_CHECK(arena_.size() < (1u << (32 - kArenaShift)));  // 4 GiB of keys
    arena_.push_back(arena_chunks_.Take());
    arena_used_ = 0;
  }
  char* p = arena_.back() + arena_used_;
  p[0] = static_cast<char>(k.size());
  std::memcpy(p + 1, k.data(), k.size());
  const uint32_t ref = (static_cast<uint32_t>(arena_.size() - 1) << kArenaShift) | arena_used_;
  arena_used_ += 1 + static_cast<uint32_t>(k.size());
  return ref;
}

void TimelineTable::Place(uint32_t id, uint64_t key_hash) {
  const uint64_t mask = slot_count_ - 1;
  uint64_t i = Home(key_hash);
  uint64_t run = 0;
  while (slots_[i] != 0) {
    i = (i + 1) & mask;
    ++run;
  }
  if (run > kProbeRunMax) probe_run_long_ = true;
  slots_[i] = id + 1;
  tags_[i] = Tag(key_hash);
}

void TimelineTable::UseLowHomes() {
  probe_run_long_ = false;
  if (!high_homes_) return;  // keys crowding one home: no layout helps
  high_homes_ = false;
  Rehash(slot_count_, id_end_);
  probe_run_long_ = false;
}

uint32_t TimelineTable::TakeFreeId(size_t key_bytes, bool* fits) {
  if (free_count_ == 0) return kNone;
  // The shortest freed key that fits, else any freed state (its old key bytes are left unused).
  uint32_t id = kNone;
  for (size_t len = key_bytes; len < free_ids_.size() && id == kNone; ++len) {
    if (!free_ids_[len].empty()) {
      id = free_ids_[len].back();
      free_ids_[len].pop_back();
      *fits = true;
    }
  }
  for (size_t len = key_bytes; len-- > 0 && id == kNone;) {
    if (!free_ids_[len].empty()) {
      id = free_ids_[len].back();
      free_ids_[len].pop_back();
      *fits = false;
    }
  }
  TLDB_CHECK(id != kNone);  // free_count_ > 0
  --free_count_;
  return id;
}

uint32_t TimelineTable::NewId() {
  TLDB_CHECK(id_end_ < kNone - 1);
  const uint32_t id = id_end_++;
  if ((id >> kChunkShift) >= chunks_.size()) {
    chunks_.push_back(reinterpret_cast<TimelineState*>(state_chunks_.Take()));
  }
  new (&state(id)) TimelineState();
  return id;
}

uint32_t TimelineTable::AddUnplaced(std::string_view k) {
  TLDB_CHECK(!k.empty() && k.size() <= 255);
  const uint32_t id = NewId();
  if (unplaced_from_ == kNone) unplaced_from_ = id;
  state(id).key_ref = AddKey(k);
  ++size_;
  return id;
}

void TimelineTable::PlaceAdded() {
  if (unplaced_from_ == kNone) return;
  const uint32_t from = std::exchange(unplaced_from_, kNone);
  uint64_t count = slot_count_;
  while (uint64_t{size_} * 4 > count * 3) count *= 2;
  if (count != slot_count_) Rehash(count, from);
  for (uint32_t id = from; id < id_end_; ++id) {
    const std::string_view k = key(id);
    const uint64_t h = KeyHash(k);
    TLDB_CHECK(Find(k, h) == kNone);  // the caller's promise: a key not in the table
    Place(id, h);
  }
  if (probe_run_long_) UseLowHomes();
}

uint32_t TimelineTable::Insert(std::string_view k, uint64_t key_hash) {
  TLDB_CHECK(!k.empty() && k.size() <= 255);
  TLDB_CHECK(unplaced_from_ == kNone);  // PlaceAdded first
  if ((uint64_t{size_} + 1) * 4 > slot_count_ * 3) Grow();
  bool fits = false;
  uint32_t id = TakeFreeId(k.size(), &fits);
  if (id == kNone) id = NewId();
  if (fits) {  // the freed key's arena bytes hold at least k.size() bytes
    char* p = KeyAt(state(id).key_ref);
    p[0] = static_cast<char>(k.size());
    std::memcpy(p + 1, k.data(), k.size());
  } else {
    state(id).key_ref = AddKey(k);
  }
  ++size_;
  Place(id, key_hash);
  if (probe_run_long_) UseLowHomes();
  return id;
}

void TimelineTable::Erase(uint32_t id) {
  TLDB_CHECK(unplaced_from_ == kNone);       // PlaceAdded first
  TLDB_CHECK(state(id).holds_no_records());  // else its records would name a freed id
  const std::string_view k = key(id);
  const uint64_t mask = slot_count_ - 1;
  uint64_t i = Home(KeyHash(k));
  while (slots_[i] != id + 1) {
    TLDB_CHECK(slots_[i] != 0);  // it is in the table
    i = (i + 1) & mask;
  }
  // Backward-shift deletion: a later key of the probe run moves into the hole unless its home
  // slot lies after the hole (it would then be found before its home), so Find's stop at the
  // first empty slot stays right.
  for (uint64_t j = (i + 1) & mask; slots_[j] != 0; j = (j + 1) & mask) {
    const uint64_t home = Home(KeyHash(key(slots_[j] - 1)));
    const bool home_in_gap = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (home_in_gap) continue;
    slots_[i] = slots_[j];
    tags_[i] = tags_[j];
    i = j;
  }
  slots_[i] = 0;
  tags_[i] = 0;
  TimelineState& s = state(id);
  const uint32_t key_ref = s.key_ref;
  const size_t key_bytes = k.size();
  s.segs.Assign({});  // frees a spilled list
  s.last_seq = 0;
  s.last_ts = 0;
  s.unpublished = 0;
  s.active_slot = kNoSlot;
  s.key_ref = key_ref;
  free_ids_[key_bytes].push_back(id);
  ++free_count_;
  --size_;
}

uint32_t TimelineTable::FindOrInsert(std::string_view k, uint64_t key_hash) {
  const uint32_t id = Find(k, key_hash);
  return id != kNone ? id : Insert(k, key_hash);
}

void TimelineTable::Grow() {
  Rehash(slot_count_ * 2, id_end_);
}

void TimelineTable::Rehash(uint64_t count, uint32_t placed_end) {
  // Slots hold only ids, so positions are recomputed from the keys. In id order: states and
  // keys are then read in the order they were stored (slot order would read them at random, a
  // cache miss or two per key). Freed ids are in no slot.
  std::vector<bool> freed;
  if (free_count_ > 0) {
    freed.resize(id_end_);
    for (const auto& ids : free_ids_) {
      for (uint32_t id : ids) freed[id] = true;
    }
  }
  AllocateSlots(count);
  for (uint32_t id = 0; id < placed_end; ++id) {
    if (free_count_ == 0 || !freed[id]) Place(id, KeyHash(key(id)));
  }
}

uint64_t TimelineTable::MemoryBytes() const {
  uint64_t n = state_chunks_.bytes_held() + arena_chunks_.bytes_held();
  n += slot_count_ * (sizeof(uint32_t) + 1);
  for (const auto& f : free_ids_) n += f.capacity() * sizeof(uint32_t);
  for (uint32_t id = 0; id < id_end_; ++id) n += state(id).segs.heap_bytes();
  return n;
}

}  // namespace tldb
