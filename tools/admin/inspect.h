// inspect: the store at a glance (namespaces with their options, FLOORS entries and a pending
// COMPACT; segments with generation, compression, size, records, SeqId and time ranges,
// timelines, maintenance records, live fraction and compression ratio; totals), or one segment
// file (plain or compressed) with its header and index summary (blocks included).
// Read-only: safe beside a running server.
//
// Contract: sealed segments with a valid index are summarised from the index alone (their data
// is not read); the active segment and segments whose index is missing or damaged are scanned.
// Compression ratio = record-space bytes / file bytes (1.00 for plain segments). Live fraction
// is an approximation by message count, not bytes: the share of the segment's messages (SeqIds
// its index holds; a fan-out counts once per target) that reads still return, judged with the
// maintenance records of every segment of the namespace, FLOORS, the TTL (an indexed
// timeline's newest timestamp stands for all its messages in the segment, as the engine's
// compaction planner does) and messages_per_timeline_max. Maintenance records themselves are
// not counted.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "data_dir.h"
#include "tldb/file_system.h"

namespace tldb::admin {

class LiveModel;

struct SegmentStats {
  std::string ns;
  uint64_t id = 0;
  uint32_t gen = 0;
  bool compressed = false;
  uint64_t data_bytes = 0;                     // record space (plain: the file's records)
  uint64_t blocks = 0;                         // compressed: zstd blocks
  uint64_t recalls = 0, edits = 0, trims = 0;  // maintenance records
  uint64_t live_messages = 0;
  std::string path;
  bool active = false;
  uint64_t bytes = 0;
  uint64_t index_bytes = 0;
  uint64_t records = 0;   // records (a fan-out is one record)
  uint64_t messages = 0;  // messages (a fan-out counts once per target)
  uint64_t timelines = 0;
  Seq min_seq = 0, max_seq = 0;
  TimestampMs min_ts = 0, max_ts = 0;
  double live_fraction = 1.0;      // live_messages / messages (1.0 without messages)
  double compression_ratio = 1.0;  // data_bytes / bytes
  bool from_index = false;         // summarised from the index file
  std::string note;                // e.g. "index damaged: ..." or "torn tail: 12 bytes"
};

struct InspectOptions {
  bool json = false;
  std::string ns;          // empty: all namespaces
  TimestampMs now_ms = 0;  // TTL clock for the live fraction; 0: the wall clock
};

// `live` (may be null: live fraction 1.0) is the namespace's LiveModel.
Result<SegmentStats> ComputeSegmentStats(FileSystem& fs, const SegmentRef& seg,
                                         uint32_t namespace_id, const LiveModel* live);
// DIR: the whole store. A path to a .seg file: that segment.
Status Inspect(FileSystem& fs, const std::string& path, const InspectOptions& options,
               std::ostream& out);

}  // namespace tldb::admin
