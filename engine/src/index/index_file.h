// IndexFile: one index file of a sealed segment, read into memory and validated (header, bounds,
// checksum over the whole file: SegmentIndexReader::Open).
//
// Contract: a damaged index is not a load error: status() says what is wrong, and reader() is
// only usable when it is OK. Loading never writes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "index/segment_index.h"
#include "tldb/file_system.h"

namespace tldb {

class IndexFile {
 public:
  // Reads and validates `path` for the namespace and segment; status() tells the outcome.
  static Result<std::unique_ptr<IndexFile>> Load(FileSystem& fs, const std::string& path,
                                                 uint32_t namespace_id, uint64_t segment_id);
  // The same over bytes already read.
  static std::unique_ptr<IndexFile> Parse(std::string bytes, const std::string& path,
                                          uint32_t namespace_id, uint64_t segment_id);
  const Status& status() const { return status_; }
  const SegmentIndexReader& reader() const { return reader_; }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
  Status status_;
  SegmentIndexReader reader_;
};

}  // namespace tldb
