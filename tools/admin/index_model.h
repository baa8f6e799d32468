// IndexModel: what a segment's index file must say, computed from the segment's records. Repair
// serialises it (the same content the engine writes at seal or rebuilds at open); verify compares
// an index file against it entry by entry.
//
// Contract: built from the records in [header, scan.valid_end) only; a timeline whose SeqIds
// are not consecutive inside the segment is listed in `gaps` (such a segment cannot be indexed).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "segment_file.h"

namespace tldb::admin {

struct IndexModel {
  struct Timeline {
    Seq first_seq = 0;
    TimestampMs last_ts = 0;
    std::vector<uint32_t> offsets;  // one per SeqId from first_seq
  };
  struct Dedupe {
    std::string key;
    uint64_t cmid_hash = 0;
    Seq seq = 0;
    TimestampMs ts = 0;
    auto operator<=>(const Dedupe&) const = default;
  };
  struct Gap {
    std::string key;
    Seq expected = 0;
    Seq found = 0;
    uint64_t offset = 0;
  };
  std::map<std::string, Timeline, std::less<>> timelines;
  std::vector<Dedupe> dedupes;
  std::vector<Gap> gaps;
  uint32_t data_end = 0;
  TimestampMs min_ts = 0;
  TimestampMs max_ts = 0;
};

IndexModel BuildIndexModel(const SegmentFile& seg);
// The index file bytes for the model (docs/format.md "Index file").
std::string SerializeIndex(const IndexModel& m, uint32_t namespace_id, uint64_t segment_id);

}  // namespace tldb::admin
