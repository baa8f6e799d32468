// RecordIndexer: the one place that turns a segment's records into the content of its index
// file (docs/format.md "Index file"): per timeline, the record offset of every SeqId from its
// first one, with index_format::kGapOffset in the slots of SeqIds the segment skips (a
// compaction output drops deleted ones); the client_msg_ids to remember (a fan-out's under each
// of its targets); the maintenance records in the order added; and the records' timestamps.
//
// SeqIds are taken in SeqId order: a compaction output stores a fan-out at its first target's
// place, so the other targets' SeqIds come out of record order. A SeqId found twice cannot be
// indexed: it is listed in disorder() and left out; each skip is listed in gaps(). What a skip
// or disorder means is the caller's rule (recovery: corruption in a segment written by appends;
// the compactor: more than kIndexGapMax is refused; the admin tools: findings to report).
//
// Used by recovery's index rebuild, the compactor's output and the admin tools (repair,
// verify). A sealed active segment's index comes straight from its in-memory slots.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "index/segment_index.h"
#include "log/record.h"

namespace tldb {

class RecordIndexer {
 public:
  struct Timeline {
    Seq first_seq = 0;  // 0: only maintenance records of this timeline (a count-0 entry)
    TimestampMs last_ts = 0;
    std::vector<uint32_t> offsets;  // one per SeqId from first_seq; kGapOffset: skipped
  };
  struct Skip {
    std::string key;
    Seq expected = 0;  // the next SeqId in sequence
    Seq found = 0;     // the one the record has
    uint64_t offset = 0;
  };
  struct Dedupe {
    std::string key;
    uint64_t cmid_hash = 0;
    Seq seq = 0;
    TimestampMs ts = 0;
    auto operator<=>(const Dedupe&) const = default;
  };
  struct Mutation {
    std::string key;
    uint8_t type = 0;  // format::RecordType
    Seq seq = 0;
    uint32_t offset = 0;
    auto operator<=>(const Mutation&) const = default;
  };

  // A record as stored at `offset` (message, fan-out or maintenance record).
  void Add(uint64_t offset, const RecordView& r);
  // The parts, for a writer that lays out records itself (the compactor).
  void AddMessage(std::string_view key, Seq seq, uint32_t offset, TimestampMs ts);
  void AddDedupe(std::string_view key, std::string_view cmid, Seq seq, TimestampMs ts);
  void AddMutation(std::string_view key, uint8_t type, Seq seq, uint32_t offset, TimestampMs ts);

  // Lays out every timeline's offsets by SeqId. Call once, after the last Add.
  void Finish();

  const std::map<std::string, Timeline, std::less<>>& timelines() const { return timelines_; }
  const std::vector<Dedupe>& dedupes() const { return dedupes_; }
  // The entries of dedupes() under a fan-out's targets after its first (Add only): index files
  // written before fan-outs were remembered under every target lack them (docs/format.md).
  const std::vector<Dedupe>& later_target_dedupes() const { return later_target_dedupes_; }
  const std::vector<Mutation>& mutations() const { return mutations_; }
  const std::vector<Skip>& gaps() const { return gaps_; }          // found > expected
  const std::vector<Skip>& disorder() const { return disorder_; }  // found < expected
  // The timeline has a message here (not only maintenance records).
  bool HoldsMessages(std::string_view key) const {
    auto it = timelines_.find(key);
    return it != timelines_.end() && !it->second.offsets.empty();
  }
  // The longest run of skipped SeqIds in one timeline.
  uint64_t longest_gap() const { return longest_gap_; }
  TimestampMs min_ts() const { return min_ts_; }
  TimestampMs max_ts() const { return max_ts_; }

  // Adds the timelines, maintenance records and dedupe entries to `b` (after Finish).
  void AddTo(SegmentIndexBuilder* b) const;

 private:
  struct SeqAt {
    Seq seq;
    uint32_t offset;
    TimestampMs ts;
  };
  void NoteTs(TimestampMs ts);
  Timeline& TimelineOf(std::string_view key);

  std::map<std::string, std::vector<SeqAt>, std::less<>> seqs_;  // until Finish
  std::map<std::string, Timeline, std::less<>> timelines_;
  std::vector<Dedupe> dedupes_;
  std::vector<Dedupe> later_target_dedupes_;
  std::vector<Mutation> mutations_;
  std::vector<Skip> gaps_, disorder_;
  uint64_t longest_gap_ = 0;
  TimestampMs min_ts_ = 0, max_ts_ = 0;
};

}  // namespace tldb
