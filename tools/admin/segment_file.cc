#include "segment_file.h"

namespace tldb::admin {

Result<SegmentFile> LoadSegmentFile(FileSystem& fs, const std::string& path, uint64_t id,
                                    bool sealed) {
  SegmentFile f;
  f.path = path;
  f.id = id;
  f.sealed = sealed;
  TLDB_ASSIGN_OR_RETURN(f.image, fs.ReadFileToString(path));
  auto header = DecodeSegmentHeader(f.image, path);
  if (header.ok()) {
    f.header = *header;
    if (f.header.segment_id != id) {
      f.header_status = Status::Corruption(path + ": header names segment " +
                                           std::to_string(f.header.segment_id));
    }
  } else {
    f.header_status = header.status();
  }
  if (f.image.size() < format::kSegmentHeaderBytes) {
    f.scan.valid_end = f.image.size();
    f.scan.tail_zero = f.image.find_first_not_of('\0') == std::string::npos;
    return f;
  }
  f.scan = ScanSegment(f.image, id);
  f.tail = ClassifyTail(f.scan, f.image.size(), sealed);
  return f;
}

Result<std::unique_ptr<IndexFile>> IndexFile::Load(FileSystem& fs, const std::string& path,
                                                   uint32_t namespace_id, uint64_t segment_id) {
  auto f = std::unique_ptr<IndexFile>(new IndexFile());
  TLDB_ASSIGN_OR_RETURN(f->bytes_, fs.ReadFileToString(path));
  f->status_ = f->reader_.Open(f->bytes_, namespace_id, segment_id, path);
  return f;
}

}  // namespace tldb::admin
