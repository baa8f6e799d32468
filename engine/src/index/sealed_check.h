// The rule for whether a sealed segment and its index file are sound, in one place: the engine's
// background scrub (store/scrubber.h) and `tldb verify` (tools/admin/verify.cc) both call it, so
// they find the same problems and describe them in the same words.
//
// A sealed segment is sound when its header decodes and names its own id, generation and
// namespace; every record of a plain segment decodes in sequence from the header (checksum over
// header, identity and payload, seeded by segment and offset) and nothing but zeros follows;
// every zstd block of a compacted segment verifies and decodes in sequence; and its index file
// validates (header, bounds, whole-file checksum) and says exactly what the records say
// (CheckIndex). docs/format.md "Reading rules".
//
// Contract: pure functions over a segment and index already read into memory (ParseSegmentFile,
// IndexFile::Parse); they never do I/O. Each problem names a file and a byte offset in it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "index/index_check.h"
#include "index/index_file.h"
#include "log/segment_file.h"

namespace tldb {

// The header decodes and names the segment's id and generation (ParseSegmentFile checks both
// against the file name) and, when `namespace_id` is set, that namespace.
void CheckSegmentHeader(const SegmentFile& f, std::optional<uint32_t> namespace_id,
                        std::vector<CheckProblem>* out);
// The records (plain) or blocks (compressed) of a sealed segment: any that fails is an error.
void CheckSealedRecords(const SegmentFile& f, std::vector<CheckProblem>* out);
// The index file (`idx` null: there is none at `index_path`) against the segment's records.
// Returns the number of index offsets compared.
uint64_t CheckSealedIndex(const SegmentFile& f, const IndexFile* idx, const std::string& index_path,
                          std::vector<CheckProblem>* out);

// All three, in that order.
struct SealedCheck {
  std::vector<CheckProblem> problems;
  uint64_t index_entries = 0;  // index offsets compared with the records
  // The first error (nullptr: sound). Warnings (a missing index) are states the engine repairs
  // at open by itself.
  const CheckProblem* FirstError() const;
};
SealedCheck CheckSealedSegment(const SegmentFile& f, const IndexFile* idx,
                               const std::string& index_path, std::optional<uint32_t> namespace_id);

// Why a scan stopped, in words ("checksum mismatch or malformed record", ...).
const char* DescribeStop(DecodeOutcome o);

}  // namespace tldb
