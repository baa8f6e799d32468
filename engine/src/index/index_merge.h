// IndexMerge: walks the timeline entries of several segment indexes, the readers given in
// segment order, grouped by key: all entries of one key come one after the other, in reader
// order, oldest segment first. Recovery folds a namespace's index files into its timeline table
// this way, adding each timeline once without looking it up, instead of one table probe per
// (timeline, segment) pair (docs/design.md "Recovery").
//
// How: the hash space is cut into partitions by its top bits, about kPartitionEntriesMax entries
// each at most; since every reader is sorted by hash, a partition is a run of each reader, read
// in order. Gathering a partition copies what the fold needs of each entry (SeqIds, count,
// timestamp, key bytes) out of the index files, reading each file's run sequentially, so that
// the fold touches only the partition's own memory; the entries are then grouped by hash in a
// small table, the groups in the order their hashes first appear, and each entry is marked if
// it starts a key (a different hash or key than the entry before it). O(1) per entry; no
// comparison sort or heap, except for the rare group of keys sharing a hash, sorted by key so
// that each key's entries still come together: every key starts exactly once in the whole
// merge. The key hash of every such entry is checked against its key here
// (Partition::wrong_hash).
//
// Ahead mode: a thread of the merge's own gathers partitions ahead (up to kPartitionsAhead)
// while the caller folds the one it has, so that the two halves of the work run on two cores;
// and when none is ready, the caller gathers the next one itself instead of waiting (gathering
// costs more than folding: without this the fold waited a third of its time). The thread takes
// partitions from the bottom of the hash space up, the caller from the top down, each reading
// every reader's runs in turn from where its last partition's ended, until the two meet; so
// partitions come in no particular order. A disk read error under an index file's mapping
// while gathering, on either thread, is reported by Faulted() (the caller's own MapFaultScope
// sees those of the partitions it gathered as well).
//
// Limit: a partition is a range of hashes, so keys whose hashes crowd into one range (hashes
// are not secret, and XXH3 is no defence against crafted keys) make one large partition, of
// ~48 bytes plus the key per entry; its key bytes must stay under 4 GiB (checked).
//
// Contract: each reader's entries are sorted by (key_hash, key) without repeats, each in its
// directory slot (SegmentIndexReader::Open refuses any other file); the readers outlive the
// merge. One thread calls Next and Faulted; the destructor stops and joins the thread of ahead
// mode. Lock order: mu_ only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "index/segment_index.h"

namespace tldb {

class IndexMerge {
 public:
  static constexpr uint32_t kNone = 0xffffffffu;

  // One timeline entry of an index file, as the fold needs it.
  struct Item {
    uint64_t key_hash = 0;
    Seq first_seq = 0;
    TimestampMs last_ts = 0;
    uint32_t count = 0;
    uint32_t reader = 0;  // position in the list of readers
    uint32_t entry = 0;   // entry number in that reader
    uint32_t key_at = 0;  // where its key's bytes start in Partition::keys
    uint8_t key_bytes = 0;
    bool starts_key = false;  // the first of its key's entries (they all follow it)
  };
  struct Partition {
    std::vector<Item> items;  // each key's entries together, in reader order
    std::string keys;         // the items' key bytes
    // The first item that starts a key whose key_hash is not KeyHash(key) (kNone: none).
    uint32_t wrong_hash = kNone;
    std::string_view key(const Item& it) const { return {keys.data() + it.key_at, it.key_bytes}; }
  };

  explicit IndexMerge(std::vector<const SegmentIndexReader*> readers, bool ahead = false);
  ~IndexMerge();
  IndexMerge(const IndexMerge&) = delete;
  IndexMerge& operator=(const IndexMerge&) = delete;

  // The next partition that holds entries, valid until the next call; false once every entry
  // has been returned. Partitions come in hash order without ahead mode, in any order with it.
  bool Next(const Partition** out);
  // A disk read error under an index file's mapping while gathering (ahead mode; without it the
  // caller's own MapFaultScope sees it).
  bool Faulted() const;

 private:
  // Entries per partition aimed at: at least kPartitionEntriesMin, and about
  // kEntriesPerReader from each reader, so that each reader is read in runs of a few cache
  // lines (hundreds of index files are read side by side: a run of 2 KiB is one page for the
  // TLB instead of one per entry); at most kPartitionEntriesMax, so that a partition's items
  // (48 bytes each, plus its keys) stay in L2 while the fold reads them.
  static constexpr uint64_t kPartitionEntriesMin = 1024, kEntriesPerReader = 64,
                            kPartitionEntriesMax = 16 * 1024;
  // Partitions gathered ahead of the one being folded (ahead mode): enough to absorb uneven
  // partitions, few enough to stay in cache.
  static constexpr size_t kPartitionsAhead = 2;

  // What gathering a partition uses besides the partition itself: per reader, where the run of
  // the next partition starts (upwards) or ends (downwards); the partition's items in reader
  // order, and a grouping table (hash -> group, open addressing, cleared per partition). One
  // per direction.
  struct Scratch {
    bool downwards = false;
    uint64_t next = 0;             // the partition it gathers next
    std::vector<uint32_t> cursor;  // per reader
    std::vector<Item> gathered;
    std::vector<uint64_t> slot_hash;
    std::vector<uint32_t> slot_group;  // group + 1; 0 = empty
    std::vector<uint32_t> group_of;    // per gathered item
    std::vector<uint32_t> group_start;
  };

  // Gathers and groups partition `p` (scratch->next) into *out; false if it holds no entry.
  bool Fill(uint64_t p, Partition* out, Scratch* scratch) const;
  // Ahead mode: the thread's loop.
  void RunAhead();

  std::vector<const SegmentIndexReader*> readers_;
  int partition_bits_ = 0;  // partitions: 2^partition_bits_
  uint64_t partitions_end_ = 1;
  // Upwards: the thread's in ahead mode, else the caller's; downwards: the caller's in ahead
  // mode.
  Scratch upwards_, downwards_;

  // Partition buffers: the caller's (the one Next returned last) and, in ahead mode, those
  // being gathered or waiting. A buffer is touched only by the thread that took it.
  std::vector<Partition> partitions_;
  static constexpr size_t kNoPartition = SIZE_MAX;
  size_t held_ = kNoPartition;  // the caller's
  // Under mu_ (without ahead mode, the caller's): the partitions not yet taken, [low_next_,
  // high_end_); full buffers, empty ones; whether the thread is gathering one; whether it must
  // stop (the destructor).
  std::mutex mu_;
  std::condition_variable changed_;
  uint64_t low_next_ = 0, high_end_ = 1;
  std::deque<size_t> full_, empty_;
  bool ahead_busy_ = false, stop_ = false;
  std::atomic<bool> faulted_{false};  // set by a gathering thread, read by the caller
  std::thread ahead_;
};

}  // namespace tldb
