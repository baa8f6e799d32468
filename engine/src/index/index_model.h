// IndexModel: what a segment's index file must say, computed from the segment's records (plain
// or compressed) by the engine's RecordIndexer. Repair serialises it (the same content the engine
// writes at seal, at compaction or when it rebuilds an index at open); verify compares an index
// file against it entry by entry.
//
// Contract: built from the records in [header, scan.valid_end) only. A timeline's SeqIds may
// skip values inside a segment (a compaction output drops deleted messages): the skipped slots
// are index_format::kGapOffset, as the engine writes them, and are listed in `gaps`. SeqIds are
// taken in SeqId order (a compaction output stores a fan-out at its first target's place, so
// the other targets' SeqIds are out of record order); one found twice cannot be indexed and is
// listed in `disorder`.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "index/record_indexer.h"
#include "log/segment_file.h"

namespace tldb {

struct IndexModel {
  using Timeline = RecordIndexer::Timeline;
  using Dedupe = RecordIndexer::Dedupe;
  using Mutation = RecordIndexer::Mutation;
  using Skip = RecordIndexer::Skip;
  std::map<std::string, Timeline, std::less<>> timelines;
  std::vector<Dedupe> dedupes;
  std::vector<Dedupe> later_target_dedupes;  // of `dedupes`: fan-out targets after the first
  std::vector<Mutation> mutations;           // record order
  std::vector<IndexBlock> blocks;            // compressed segments
  std::vector<Skip> gaps;                    // found > expected: SeqIds skipped inside the segment
  std::vector<Skip> disorder;                // found < expected: not indexable
  uint32_t data_end = 0;
  uint32_t generation = 0;
  bool compressed = false;
  TimestampMs min_ts = 0;
  TimestampMs max_ts = 0;
};

IndexModel BuildIndexModel(const SegmentFile& seg);
// The index file bytes for the model (docs/format.md "Index file", version 2).
std::string SerializeIndex(const IndexModel& m, uint32_t namespace_id, uint64_t segment_id);

}  // namespace tldb
