// Reading every record of a sealed segment file, plain or compressed (recovery's index rebuild,
// compaction, the admin tools).
//
// Contract: `image` is the whole file. fn(offset, const RecordView&) is called for each record
// in file order; offsets are record-space offsets (for a compressed segment: offsets into its
// uncompressed record space, as its index stores them). The views are valid only during the
// call. Damage anywhere is Corruption naming `what` and the offset (a sealed segment has no torn
// tail); *valid_end is then the end of the last intact record (or block).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "index/segment_index.h"
#include "log/record.h"
#include "tldb/status.h"

namespace tldb {

using RecordVisitor = std::function<void(uint64_t offset, const RecordView& r)>;

Status ForEachPlainRecord(std::string_view image, uint64_t segment_id, std::string_view what,
                          const RecordVisitor& fn, uint64_t* valid_end);
// Also adds each block to `index` (may be null).
Status ForEachBlockRecord(std::string_view image, uint64_t segment_id, uint32_t gen,
                          std::string_view what, const RecordVisitor& fn,
                          SegmentIndexBuilder* index, uint64_t* valid_end);

}  // namespace tldb
