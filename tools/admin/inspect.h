// inspect: the store at a glance (namespaces with their options, segments with size, records,
// SeqId and time ranges, timelines, live fraction and compression ratio, totals), or one segment
// file with its header and index summary. Read-only: safe beside a running server.
//
// Contract: sealed segments with a valid index are summarised from the index alone (their data
// is not read); the active segment and segments whose index is missing or damaged are scanned.
// Live fraction and compression ratio are 1.0 until maintenance and compression exist.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "data_dir.h"
#include "io/file_system.h"

namespace tldb::admin {

struct SegmentStats {
  std::string ns;
  uint64_t id = 0;
  std::string path;
  bool active = false;
  uint64_t bytes = 0;
  uint64_t index_bytes = 0;
  uint64_t records = 0;   // records (a fan-out is one record)
  uint64_t messages = 0;  // messages (a fan-out counts once per target)
  uint64_t timelines = 0;
  Seq min_seq = 0, max_seq = 0;
  TimestampMs min_ts = 0, max_ts = 0;
  double live_fraction = 1.0;      // no deletes/TTL compaction yet
  double compression_ratio = 1.0;  // segments are not compressed
  bool from_index = false;         // summarised from the index file
  std::string note;                // e.g. "index damaged: ..." or "torn tail: 12 bytes"
};

struct InspectOptions {
  bool json = false;
  std::string ns;  // empty: all namespaces
};

Result<SegmentStats> ComputeSegmentStats(FileSystem& fs, const SegmentRef& seg,
                                         uint32_t namespace_id);
// DIR: the whole store. A path to a .seg file: that segment.
Status Inspect(FileSystem& fs, const std::string& path, const InspectOptions& options,
               std::ostream& out);

}  // namespace tldb::admin
