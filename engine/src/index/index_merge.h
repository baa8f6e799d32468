// IndexMerge: walks the timeline entries of several segment indexes in (key_hash, reader)
// order, the readers given in segment order. Every timeline's entries then come one after the
// other, oldest segment first (two keys with one 64-bit hash may interleave, each still in
// reader order), so recovery folds a namespace's index files into its timeline table with one
// table probe per timeline instead of one per (timeline, segment) pair, and writes timeline
// states in the order it creates them (docs/design.md "Recovery").
//
// Contract: each reader's entries are sorted by (key_hash, key) without repeats
// (SegmentIndexReader::Open refuses any other file); the readers outlive the merge. A k-way
// merge over a binary heap of one head per reader: O(log k) per entry, k = readers.
#pragma once

#include <cstdint>
#include <vector>

#include "index/segment_index.h"

namespace tldb {

class IndexMerge {
 public:
  explicit IndexMerge(std::vector<const SegmentIndexReader*> readers);

  // The next entry: its reader's position in the list and its entry number in that reader.
  // False once every entry has been returned.
  bool Next(uint32_t* reader, uint32_t* entry);
  // About how many distinct keys the readers hold: the distinct hashes among the entries in
  // the first 1/64 of the hash space (a prefix of every reader), times 64; at most the number
  // of entries. Within a few percent once there are thousands of keys.
  static uint64_t EstimateDistinctKeys(const std::vector<const SegmentIndexReader*>& readers);

  // The key hash of the entry the next Next returns (0 at the end): for prefetching.
  uint64_t PeekKeyHash() const { return heap_.empty() ? 0 : heap_.front().key_hash; }

 private:
  struct Head {
    uint64_t key_hash;
    uint32_t reader;
    uint32_t entry;
  };
  static bool Before(const Head& a, const Head& b);
  void SiftDown(size_t i);

  std::vector<const SegmentIndexReader*> readers_;
  std::vector<Head> heap_;  // a min-heap by Before
};

}  // namespace tldb
