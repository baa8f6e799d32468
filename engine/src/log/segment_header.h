// Segment file header codec (docs/format.md "Segment header").
#pragma once

#include <cstdint>
#include <span>

#include "log/record_format.h"
#include "tldb/status.h"
#include "tldb/types.h"

namespace tldb {

struct SegmentHeader {
  uint32_t namespace_id = 0;
  uint64_t segment_id = 0;
  TimestampMs created_ms = 0;
  uint32_t flags = 0;
};

void EncodeSegmentHeader(const SegmentHeader& h, char (&dst)[format::kSegmentHeaderBytes]);
// Corruption (naming `what`) on a bad magic, version or checksum.
Result<SegmentHeader> DecodeSegmentHeader(std::span<const char> bytes, std::string_view what);

}  // namespace tldb
