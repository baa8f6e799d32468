// IndexMerge: walks the timeline entries of several segment indexes, the readers given in
// segment order, grouped by key hash: all entries of one hash come one after the other, in
// reader order, so every timeline's entries arrive together, oldest segment first (two keys
// with one 64-bit hash share a group, each key's entries still in reader order). Recovery folds
// a namespace's index files into its timeline table this way with one table probe per timeline
// instead of one per (timeline, segment) pair (docs/design.md "Recovery").
//
// How: the hash space is cut into partitions by its top bits, about kPartitionEntries entries
// each; since every reader is sorted by hash, a partition is a run of each reader, read in
// order. The partition's entries are grouped by hash in a small table that stays in cache, and
// the groups come out in the order their hashes first appear (partitions in hash order, groups
// within one in no particular order). O(1) per entry; no comparison sort or heap.
//
// Contract: each reader's entries are sorted by (key_hash, key) without repeats
// (SegmentIndexReader::Open refuses any other file); the readers outlive the merge.
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
  // The key hash of the group `ahead` groups after the one Next last returned from (0 when
  // the partition ends before it): for prefetching what the fold will look up.
  uint64_t PeekGroupHash(size_t ahead) const {
    const size_t g = group_ + ahead;
    return g < group_end_.size() ? grouped_[group_end_[g - 1]].key_hash : 0;
  }

  // About how many distinct keys the readers hold: the distinct hashes among the entries in
  // the first 1/64 of the hash space (a prefix of every reader), times 64; at most the number
  // of entries. Within a few percent once there are thousands of keys.
  static uint64_t EstimateDistinctKeys(const std::vector<const SegmentIndexReader*>& readers);

 private:
  // Entries per partition aimed at: at least kPartitionEntriesMin, and about
  // kEntriesPerReader from each reader, so that each reader is read in runs of a few cache
  // lines (hundreds of index files are read side by side: a run of 2 KiB is one page for the
  // TLB instead of one per entry); at most kPartitionEntriesMax, so that the partition's items
  // and grouping table (~40 bytes per entry) stay in L2.
  static constexpr uint64_t kPartitionEntriesMin = 1024, kEntriesPerReader = 64,
                            kPartitionEntriesMax = 32 * 1024;

  struct Item {
    uint64_t key_hash;
    uint32_t reader;
    uint32_t entry;
  };
  // Gathers and groups the next partition that holds entries; false when none is left.
  bool FillPartition();

  std::vector<const SegmentIndexReader*> readers_;
  std::vector<uint32_t> cursor_;  // per reader: its first entry not gathered yet
  int partition_bits_ = 0;        // partitions: 2^partition_bits_
  uint64_t next_partition_ = 0;
  std::vector<Item> items_;    // the partition's entries, in reader order
  std::vector<Item> grouped_;  // the same, grouped by hash (stable: reader order kept)
  size_t at_ = 0;              // the next of grouped_ to return
  // Grouping table: hash → group (open addressing, cleared per partition).
  std::vector<uint64_t> slot_hash_;
  std::vector<uint32_t> slot_group_;  // group + 1; 0 = empty
  std::vector<uint32_t> group_of_;    // per item of items_
  std::vector<uint32_t> group_end_;   // per group: one past its last position in grouped_
  size_t group_ = 0;                  // the group of the entry Next returned last
};

}  // namespace tldb
