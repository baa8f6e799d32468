// SealedSegment: one immutable segment of a namespace, its data and index both mapped
// read-only. A compaction output (gen > 0) stores its records in zstd blocks; offsets then
// address its uncompressed record space. Created by the roller (seal), recovery (open) and the
// compactor (output); never changed once published in NamespaceState::sealed, except the
// planner's cached live percentage.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "index/segment_index.h"
#include "log/file_names.h"
#include "log/segment_header.h"
#include "tldb/file_system.h"

namespace tldb {

struct SealedSegment {
  uint64_t id = 0;
  uint32_t gen = 0;
  bool compressed = false;
  uint64_t checksum_id() const { return ChecksumId(id, gen); }
  // CompactionPlanner's cached live percentage (guarded by the maintenance mutex).
  uint32_t live_pct = 0;
  uint64_t live_epoch = ~uint64_t{0};
  int64_t live_mono_ms = 0;
  std::unique_ptr<MappedFile> data;
  std::unique_ptr<MappedFile> index_file;
  SegmentIndexReader index;
  uint64_t bytes = 0;  // data + index file bytes

  // The disk failed a read under its data or index (MappedFile::failed): reads answer IOError.
  // Faulted pages read as zeros, which fail every checksum and bound check: the read path asks
  // this when a read of the segment failed, to answer IOError instead of Corruption.
  bool failed() const { return data->failed() || index_file->failed(); }
  std::string FailedError(const std::string& dir) const {
    return SegmentFileName(dir, id, gen) + ": disk read error under the segment or its index";
  }
};

}  // namespace tldb
