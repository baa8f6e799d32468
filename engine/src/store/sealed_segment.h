// SealedSegment: one immutable segment of a namespace, its data and index both mapped
// read-only. A compaction output (gen > 0) stores its records in zstd blocks; offsets then
// address its uncompressed record space. Created by the roller (seal), recovery (open) and the
// compactor (output); never changed once published in NamespaceState::sealed, except the
// planner's cached live percentage and the scrub's quarantine (guarded by NamespaceState::mu).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "index/segment_index.h"
#include "log/file_names.h"
#include "log/segment_header.h"
#include "store/scrub_file.h"
#include "tldb/file_system.h"

namespace tldb {

struct SealedSegment {
  uint64_t id = 0;
  uint32_t gen = 0;
  bool compressed = false;
  uint64_t checksum_id() const { return ChecksumId(id, gen); }
  // CompactionPlanner's cached live percentage (guarded by the maintenance mutex).
  uint32_t live_pct = 0;
  bool live_disowned = false;  // it holds messages of timelines the store does not own
  uint64_t live_epoch = ~uint64_t{0};
  int64_t live_mono_ms = 0;
  std::unique_ptr<MappedFile> data;
  std::unique_ptr<MappedFile> index_file;
  SegmentIndexReader index;
  uint64_t bytes = 0;  // data + index file bytes

  // Where its records end: the index's data_end, not the file's size. A seal cuts the zeros of a
  // prepared (or zero-prefixed) file without an fsync, so after a crash the file may come back
  // longer, ending in zeros that are not records (recovery checks data_end <= the file size).
  uint64_t data_end() const { return index.summary().data_end; }

  // The disk failed a read under its data or index (MappedFile::failed): reads answer IOError.
  // Faulted pages read as zeros, which fail every checksum and bound check: the read path asks
  // this when a read of the segment failed, to answer IOError instead of Corruption.
  bool failed() const { return data->failed() || index_file->failed(); }
  std::string FailedError(const std::string& dir) const {
    return SegmentFileName(dir, id, gen) + ": disk read error under the segment or its index";
  }

  // Set by the scrub when it found the segment or its index damaged (docs/design.md
  // "Scrubbing"): reads that need the segment answer Corruption (QuarantineError) instead of
  // serving its bytes, and compaction leaves it alone. Guarded by NamespaceState::mu.
  std::optional<ScrubFinding> quarantine;
  std::string QuarantineError(const std::string& dir) const {
    return dir + "/" + quarantine->file_name + " offset " + std::to_string(quarantine->offset) +
           ": segment quarantined, the scrub found it damaged: " + quarantine->what;
  }
};

}  // namespace tldb
