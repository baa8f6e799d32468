// Segment file header codec (docs/format.md "Segment header").
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "log/record_format.h"
#include "tldb/status.h"
#include "tldb/types.h"

namespace tldb {

struct SegmentHeader {
  uint32_t namespace_id = 0;
  uint64_t segment_id = 0;
  TimestampMs created_ms = 0;
  uint32_t flags = 0;  // kSegmentCompressed
  uint32_t gen = 0;    // 0: written by appends; > 0: a compaction output
};
inline constexpr uint32_t kSegmentCompressed = 1;  // records are in zstd blocks

// The id that seeds the checksums of a segment's records and blocks: a compaction output's
// records differ from its inputs' even at equal offsets (a misdirected copy fails its check).
inline uint64_t ChecksumId(uint64_t segment_id, uint32_t gen) {
  return segment_id ^ (uint64_t{gen} << 40);
}

void EncodeSegmentHeader(const SegmentHeader& h, char (&dst)[format::kSegmentHeaderBytes]);
// The header of a segment written by appends, as bytes.
std::string SegmentHeaderBytes(uint32_t namespace_id, uint64_t segment_id, TimestampMs created_ms);
// Corruption (naming `what`) on a bad magic, version or checksum.
Result<SegmentHeader> DecodeSegmentHeader(std::span<const char> bytes, std::string_view what);

}  // namespace tldb
