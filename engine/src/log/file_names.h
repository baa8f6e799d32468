// Names of the files in a data directory (docs/format.md "Data directory").
//   DIR/LOCK                       held by the process that owns DIR
//   DIR/CATALOG                    namespace catalog
//   DIR/ns/<name>/<id:016x>.seg    segment
//   DIR/ns/<name>/<id:016x>.idx    index of a sealed segment
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tldb/status.h"

namespace tldb {

enum class FileKind : uint8_t { kSegment, kIndex, kTemp, kOther };

std::string LockFileName(const std::string& dir);
std::string CatalogFileName(const std::string& dir);
std::string NamespacesDirName(const std::string& dir);
std::string NamespaceDirName(const std::string& dir, std::string_view ns);
std::string SegmentFileName(const std::string& ns_dir, uint64_t segment_id);
std::string IndexFileName(const std::string& ns_dir, uint64_t segment_id);

// Parses a file name inside a namespace directory; sets *segment_id for segments and indexes.
FileKind ParseFileName(std::string_view name, uint64_t* segment_id);

class FileSystem;

// What a namespace directory holds, by segment id (recovery and the admin tools read it alike).
struct NamespaceFiles {
  struct Files {
    bool segment = false;
    bool index = false;
  };
  std::map<uint64_t, Files> by_id;      // ascending ids
  std::vector<std::string> temp_names;  // *.tmp names (not paths)
};
Result<NamespaceFiles> ListNamespaceFiles(FileSystem& fs, const std::string& ns_dir);

}  // namespace tldb
