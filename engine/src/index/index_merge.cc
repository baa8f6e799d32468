#include "index/index_merge.h"

#include <algorithm>
#include <utility>

namespace tldb {

IndexMerge::IndexMerge(std::vector<const SegmentIndexReader*> readers)
    : readers_(std::move(readers)) {
  heap_.reserve(readers_.size());
  for (uint32_t r = 0; r < readers_.size(); ++r) {
    if (readers_[r]->timeline_count() > 0) heap_.push_back({readers_[r]->EntryKeyHash(0), r, 0});
  }
  for (size_t i = heap_.size() / 2; i-- > 0;) SiftDown(i);
}

bool IndexMerge::Before(const Head& a, const Head& b) {
  // By hash, then reader: all entries of one hash leave reader by reader, so one key's entries
  // are in reader order even when another key shares its hash (they may then interleave).
  return a.key_hash != b.key_hash ? a.key_hash < b.key_hash : a.reader < b.reader;
}

void IndexMerge::SiftDown(size_t i) {
  const size_t n = heap_.size();
  while (true) {
    const size_t l = 2 * i + 1;
    if (l >= n) return;
    size_t m = l;
    if (l + 1 < n && Before(heap_[l + 1], heap_[l])) m = l + 1;
    if (!Before(heap_[m], heap_[i])) return;
    std::swap(heap_[i], heap_[m]);
    i = m;
  }
}

bool IndexMerge::Next(uint32_t* reader, uint32_t* entry) {
  if (heap_.empty()) return false;
  Head& top = heap_.front();
  *reader = top.reader;
  *entry = top.entry;
  const SegmentIndexReader& r = *readers_[top.reader];
  if (top.entry + 1 < r.timeline_count()) {
    ++top.entry;
    r.PrefetchAhead(top.entry);
    top.key_hash = r.EntryKeyHash(top.entry);
  } else {
    top = heap_.back();
    heap_.pop_back();
  }
  if (!heap_.empty()) SiftDown(0);
  return true;
}

uint64_t IndexMerge::EstimateDistinctKeys(const std::vector<const SegmentIndexReader*>& readers) {
  constexpr int kSampleShift = 6;  // the sample: hashes below 2^58
  constexpr uint64_t kSampleEnd = uint64_t{1} << (64 - kSampleShift);
  uint64_t entries = 0;
  for (const SegmentIndexReader* r : readers) entries += r->timeline_count();
  IndexMerge merge(readers);
  uint64_t distinct = 0, prev = 0;
  uint32_t r = 0, i = 0;
  while (merge.Next(&r, &i)) {
    const uint64_t h = readers[r]->EntryKeyHash(i);
    if (h >= kSampleEnd) break;
    if (distinct == 0 || h != prev) ++distinct;
    prev = h;
  }
  return std::min(entries, distinct << kSampleShift);
}

}  // namespace tldb
