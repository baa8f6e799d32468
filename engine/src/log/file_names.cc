#include "log/file_names.h"

#include <cinttypes>
#include <cstdio>

#include "io/file_system.h"

namespace tldb {
namespace {

std::string IdName(const std::string& ns_dir, uint64_t id, const char* ext) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "/%016" PRIx64 ".%s", id, ext);
  return ns_dir + buf;
}

bool ParseHexId(std::string_view s, uint64_t* id) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = v << 4 | static_cast<uint64_t>(d);
  }
  *id = v;
  return true;
}

}  // namespace

std::string LockFileName(const std::string& dir) {
  return dir + "/LOCK";
}
std::string CatalogFileName(const std::string& dir) {
  return dir + "/CATALOG";
}
std::string NamespacesDirName(const std::string& dir) {
  return dir + "/ns";
}
std::string NamespaceDirName(const std::string& dir, std::string_view ns) {
  return NamespacesDirName(dir) + "/" + std::string(ns);
}
std::string SegmentFileName(const std::string& ns_dir, uint64_t id) {
  return IdName(ns_dir, id, "seg");
}
std::string IndexFileName(const std::string& ns_dir, uint64_t id) {
  return IdName(ns_dir, id, "idx");
}

FileKind ParseFileName(std::string_view name, uint64_t* segment_id) {
  if (name.ends_with(".tmp")) return FileKind::kTemp;
  if (name.size() != 20 || name[16] != '.') return FileKind::kOther;
  if (!ParseHexId(name.substr(0, 16), segment_id)) return FileKind::kOther;
  const std::string_view ext = name.substr(17);
  if (ext == "seg") return FileKind::kSegment;
  if (ext == "idx") return FileKind::kIndex;
  return FileKind::kOther;
}

Result<NamespaceFiles> ListNamespaceFiles(FileSystem& fs, const std::string& ns_dir) {
  TLDB_ASSIGN_OR_RETURN(auto names, fs.ListDir(ns_dir));
  NamespaceFiles out;
  for (const auto& name : names) {
    uint64_t id = 0;
    switch (ParseFileName(name, &id)) {
      case FileKind::kTemp:
        out.temp_names.push_back(name);
        break;
      case FileKind::kSegment:
        out.by_id[id].segment = true;
        break;
      case FileKind::kIndex:
        out.by_id[id].index = true;
        break;
      case FileKind::kOther:
        break;
    }
  }
  return out;
}

}  // namespace tldb
