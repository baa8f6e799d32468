// Compactor: rewrites one run of consecutive sealed segments (docs/design.md "Compaction").
// The output keeps the lowest input id and takes a new generation, so SeqIds still grow with
// segment ids. It holds only what TimelineRules says survives the rewrite — nothing of a
// timeline the store does not own (Db::SetTimelineOwnership) — sorted by (timeline, SeqId) — a
// timeline's history is contiguous — and stored as zstd blocks; its index has gaps where SeqIds
// were dropped.
//
// Steps, each safe to crash after:
//   1. collect   read the inputs' records (no lock; inputs are immutable and only maintenance,
//                which holds the maintenance mutex, removes segments)
//   2. decide    which timelines the store owns (the ownership callback, read once per run,
//                asked with no lock held), then which records survive, under
//                NamespaceState::mu shared in batches
//   3. build     encode, compress, write and fdatasync the output and its index
//   4. floors    FLOORS gets timelines left without any record
//   5. commit    COMPACT names inputs and output (atomic write: the commit point)
//   6. switch    readers move to the output (mu exclusive, no I/O); timelines not owned that
//                have no record left anywhere are freed from the timeline table
//   7. clean up  delete the inputs, fsync the directory, delete COMPACT
// Recovery deletes the outputs of an uncommitted run and the inputs of a committed one.
//
// Contract: one Compactor per run, with the namespace's maintenance mutex held by the caller.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "index/record_indexer.h"
#include "log/record.h"
#include "store/namespace_state.h"
#include "store/timeline_reader.h"

namespace tldb {

class Compactor {
 public:
  Compactor(NamespaceState& st, const TimelineReader& reader,
            std::vector<const SealedSegment*> inputs, const NamespaceOptions& opts,
            uint64_t rate_bytes_per_s, const std::atomic<bool>& abort, uint32_t* next_gen,
            CompactionProgress* progress);

  // Runs every step; Closed if the store began closing meanwhile.
  Status Run();

  bool committed() const { return committed_; }

  // Deletes what a run that failed before its commit point wrote (recovery would, at the next
  // open). A later run in this process may write the same segment id with a higher generation,
  // and beside this stale lower one its output would lose at the next open.
  Status DiscardOutput();

 private:
  struct Item {
    format::RecordType type = format::RecordType::kMessage;
    std::string_view key;  // keyed records; fan-out: empty
    Seq seq = 0;
    TimestampMs ts = 0;
    std::string_view cmid, payload;
    std::vector<FanoutTarget> targets;  // fan-out: all targets, then the live ones
    uint32_t segment = 0;
    uint32_t offset = 0;
    uint32_t timeline = TimelineTable::kNone;
    bool live = false;
    bool as_message = false;  // an edit whose message was in the inputs: it becomes the message
    bool owned = true;        // keyed records: the store owns the timeline (fan-outs: targets)
  };
  struct SeqKey {
    uint32_t timeline;
    Seq seq;
    bool operator==(const SeqKey&) const = default;
  };
  struct SeqKeyHash {
    size_t operator()(const SeqKey& k) const { return k.seq * 0x9E3779B97F4A7C15ull ^ k.timeline; }
  };

  // ---- 1. collect ----
  Status Collect();

  // Copies the parts of a record that outlive the visit (compressed inputs are decompressed
  // into a reused buffer).
  std::string_view Keep(std::string_view v);

  void Add(const SealedSegment& seg, uint64_t off, const RecordView& r);

  // ---- 2. decide ----
  void Decide();

  // Marks records of timelines the store does not own (and drops such fan-out targets); notes
  // their keys. No lock held: the callback is the embedder's code.
  void JudgeOwnership();

  uint32_t TimelineOf(std::string_view key) const { return st_.table.Find(key, KeyHash(key)); }

  // Maps keys to timeline ids and notes which messages the inputs hold.
  void Resolve(Item& it);

  // A message (or fan-out target) is live unless trimmed, expired, recalled, or edited by an
  // edit record in this run (which then becomes the message). A message whose edit lies outside
  // the run stays: reads find its SeqId through the run and its payload through the overlay;
  // without it a scan would skip the SeqId while Get still answered it.
  bool MessageLive(uint32_t tl, Seq seq, TimestampMs ts) const;

  bool InRun(uint32_t segment) const { return input_ids_.contains(segment); }

  void Judge(Item& it);

  bool StoredElsewhere(const Item& it);

  // ---- 3. build ----
  static std::string_view SortKey(const Item& it);
  static Seq SortSeq(const Item& it);

  Status Build();

  // The bytes of `it`'s output form (what Encode appends).
  static size_t EncodedBytes(const Item& it);
  // Appends the output form of `it`, `n` bytes (EncodedBytes), at record-space offset `offset`;
  // records its index entries.
  void Encode(Item& it, size_t n, uint64_t checksum_id, uint64_t offset, std::string* raw);

  Status WriteOutput(const std::string& raw,
                     const std::vector<std::pair<uint32_t, uint32_t>>& spans, uint64_t checksum_id);

  // ---- 4. floors: timelines whose every record was in the inputs and none is kept ----
  std::vector<uint32_t> Orphans();

  // ---- 5. commit, 6. switch ----
  Status CommitAndSwitch();

  Result<std::unique_ptr<SealedSegment>> OpenOutput();

  // Fills switched_: the timelines with messages in the inputs and whether the output holds
  // messages of each. Takes mu shared in batches; the ids stay valid until Switch, since only
  // maintenance (this run, FreeDisowned) frees timelines.
  void FindSwitched();

  // Readers move to the output. Caller holds mu_ exclusively.
  void Switch(std::unique_ptr<SealedSegment> out);

  // Frees the timelines of switched_ that the store does not own and that have no record left
  // (no segment, nothing in the active segment, no SeqId in flight). Caller holds mu_
  // exclusively.
  void FreeDisowned();

  // ---- 7. clean up ----
  Status CleanUp();

  // Paces compaction I/O at rate_ bytes per second.
  void Throttle(uint64_t bytes);

  NamespaceState& st_;
  const TimelineReader& reader_;
  const std::atomic<bool>& abort_;
  uint32_t* next_gen_;
  TimelineRules::Limits limits_;  // Decide: the rules' limits for the current batch
  std::vector<const SealedSegment*> inputs_;
  std::set<uint32_t> input_ids_;  // ids of inputs_
  const NamespaceOptions opts_;
  const uint64_t rate_;
  CompactionProgress* progress_;
  const std::chrono::steady_clock::time_point start_;
  uint64_t io_bytes_ = 0;
  bool aborted_ = false;

  std::deque<std::string> arena_;
  std::vector<Item> items_;
  std::unordered_set<SeqKey, SeqKeyHash> base_in_inputs_;
  // Timelines of the live fan-out targets, found by Judge under the namespace's lock (the table
  // is read only under it: a commit may grow it meanwhile).
  std::unordered_set<uint32_t> live_target_timelines_;
  std::vector<SeqKey> forget_recalls_;
  // Keys of the inputs' timelines the store does not own (consecutive duplicates skipped), and
  // their timeline ids.
  std::vector<std::string_view> disowned_keys_;
  std::unordered_set<uint32_t> disowned_;

  uint64_t out_id_ = 0;
  uint32_t out_gen_ = 0;
  bool wrote_output_ = false;
  bool committed_ = false;
  RecordIndexer indexer_;  // the output's index content
  struct Moved {
    uint32_t timeline;
    Seq seq;
    uint32_t segment, offset, new_offset;
  };
  std::vector<Moved> moved_;
  struct Converted {
    uint32_t timeline;
    Seq seq;
    uint32_t segment, offset;
  };
  std::vector<Converted> converted_;
  std::vector<Converted> forget_edits_;  // edits dropped with their timeline (not owned)
  std::vector<std::unique_ptr<SealedSegment>> retired_;
  struct Switched {
    uint32_t timeline;
    bool in_output;  // the output holds messages of it
  };
  std::vector<Switched> switched_;  // ascending timeline ids, each once
};

}  // namespace tldb
