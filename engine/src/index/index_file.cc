#include "index/index_file.h"

namespace tldb {

Result<std::unique_ptr<IndexFile>> IndexFile::Load(FileSystem& fs, const std::string& path,
                                                   uint32_t namespace_id, uint64_t segment_id) {
  TLDB_ASSIGN_OR_RETURN(std::string bytes, fs.ReadFileToString(path));
  return Parse(std::move(bytes), path, namespace_id, segment_id);
}

std::unique_ptr<IndexFile> IndexFile::Parse(std::string bytes, const std::string& path,
                                            uint32_t namespace_id, uint64_t segment_id) {
  auto f = std::unique_ptr<IndexFile>(new IndexFile());
  f->bytes_ = std::move(bytes);
  f->status_ = f->reader_.Open(f->bytes_, namespace_id, segment_id, path);
  return f;
}

}  // namespace tldb
