#include "index/sealed_check.h"

#include <algorithm>

namespace tldb {
namespace {
using Severity = CheckProblem::Severity;
}  // namespace

const char* DescribeStop(DecodeOutcome o) {
  switch (o) {
    case DecodeOutcome::kBad:
      return "checksum mismatch or malformed record";
    case DecodeOutcome::kTruncated:
      return "record truncated by the end of the file";
    default:
      return "non-zero bytes after the last record";
  }
}

void CheckSegmentHeader(const SegmentFile& f, std::optional<uint32_t> namespace_id,
                        std::vector<CheckProblem>* out) {
  if (!f.header_status.ok()) {
    out->push_back({Severity::kError, f.path, 0, f.header_status.message()});
  } else if (namespace_id && f.header.namespace_id != *namespace_id) {
    out->push_back({Severity::kError, f.path, 12,
                    "header names namespace id " + std::to_string(f.header.namespace_id) +
                        ", the catalog says " + std::to_string(*namespace_id)});
  }
}

void CheckSealedRecords(const SegmentFile& f, std::vector<CheckProblem>* out) {
  if (f.tail == TailState::kClean) return;
  uint64_t after = 0;
  f.ForEachRecordFromAny(f.scan.valid_end + 1, [&](uint64_t, const RecordView&) { ++after; });
  if (f.compressed) {
    uint64_t bad = 0;
    for (const BlockInfo& b : f.blocks) bad += b.ok ? 0 : 1;
    out->push_back({Severity::kError, f.path, f.damage_file_offset,
                    "compressed segment damaged: " + f.damage_what + " (record space from offset " +
                        std::to_string(f.scan.valid_end) + " lost in " + std::to_string(bad) +
                        " bad blocks; " + std::to_string(after) +
                        " records after it still decode)"});
    return;
  }
  out->push_back({Severity::kError, f.path, f.scan.valid_end,
                  std::string("sealed segment damaged: ") + DescribeStop(f.scan.stop) + " (" +
                      std::to_string(f.image.size() - f.scan.valid_end) + " bytes, " +
                      std::to_string(after) + " valid records after it)"});
}

uint64_t CheckSealedIndex(const SegmentFile& f, const IndexFile* idx, const std::string& index_path,
                          std::vector<CheckProblem>* out) {
  if (idx == nullptr) {
    if (f.tail != TailState::kCorrupt) {
      out->push_back(
          {Severity::kWarning, index_path, 0,
           "sealed segment has no index file (rebuilt when the store opens, or by tldb repair)"});
    }
    return 0;
  }
  if (f.tail == TailState::kCorrupt) {
    // The segment itself is damaged (already reported): comparing every entry would only
    // repeat it, but a segment shorter than its index says makes the store refuse to open.
    if (!f.compressed && idx->status().ok() && idx->reader().summary().data_end > f.image.size()) {
      out->push_back({Severity::kError, index_path, 24,
                      "index covers " + std::to_string(idx->reader().summary().data_end) +
                          " bytes but the segment has " + std::to_string(f.image.size()) +
                          ": the store refuses to open"});
    } else {
      out->push_back({Severity::kWarning, index_path, 0,
                      "not compared with its segment, which is damaged (see the error above)"});
    }
    return 0;
  }
  if (!idx->status().ok()) {
    out->push_back({Severity::kError, index_path, 0,
                    idx->status().message() +
                        " (the store rebuilds it at open; tldb repair rebuilds it now)"});
    return 0;
  }
  return CheckIndex(*idx, index_path, BuildIndexModel(f), f.path, out);
}

const CheckProblem* SealedCheck::FirstError() const {
  auto it = std::find_if(problems.begin(), problems.end(),
                         [](const CheckProblem& p) { return p.severity == Severity::kError; });
  return it == problems.end() ? nullptr : &*it;
}

SealedCheck CheckSealedSegment(const SegmentFile& f, const IndexFile* idx,
                               const std::string& index_path,
                               std::optional<uint32_t> namespace_id) {
  SealedCheck c;
  CheckSegmentHeader(f, namespace_id, &c.problems);
  CheckSealedRecords(f, &c.problems);
  c.index_entries = CheckSealedIndex(f, idx, index_path, &c.problems);
  return c;
}

}  // namespace tldb
