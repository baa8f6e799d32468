#include "log/file_names.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "tldb/file_system.h"
#include "util/checksum.h"
#include "util/coding.h"

namespace tldb {
namespace {

std::string IdName(const std::string& ns_dir, uint64_t id, uint32_t gen, const char* ext) {
  char buf[48];
  if (gen == 0) {
    std::snprintf(buf, sizeof buf, "/%016" PRIx64 ".%s", id, ext);
  } else {
    std::snprintf(buf, sizeof buf, "/%016" PRIx64 "-%08" PRIx32 ".%s", id, gen, ext);
  }
  return ns_dir + buf;
}

bool ParseHex32(std::string_view s, uint32_t* v) {
  if (s.size() != 8) return false;
  uint32_t x = 0;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      x = x << 4 | static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      x = x << 4 | static_cast<uint32_t>(c - 'a' + 10);
    } else {
      return false;
    }
  }
  *v = x;
  return true;
}

constexpr char kCommitMagic[8] = {'T', 'L', 'D', 'B', 'C', 'M', 'P', '1'};

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
std::string SegmentFileName(const std::string& ns_dir, uint64_t id, uint32_t gen) {
  return IdName(ns_dir, id, gen, "seg");
}
std::string IndexFileName(const std::string& ns_dir, uint64_t id, uint32_t gen) {
  return IdName(ns_dir, id, gen, "idx");
}
std::string CompactCommitFileName(const std::string& ns_dir) {
  return ns_dir + "/COMPACT";
}
std::string FloorsFileName(const std::string& ns_dir) {
  return ns_dir + "/FLOORS";
}
std::string ScrubFileName(const std::string& ns_dir) {
  return ns_dir + "/SCRUB";
}

FileKind ParseFileName(std::string_view name, uint64_t* segment_id, uint32_t* gen) {
  if (name.ends_with(".tmp")) return FileKind::kTemp;
  uint32_t g = 0;
  size_t ext_at = 17;
  if (name.size() == 29 && name[16] == '-' && name[25] == '.') {
    if (!ParseHex32(name.substr(17, 8), &g) || g == 0) return FileKind::kOther;
    ext_at = 26;
  } else if (name.size() != 20 || name[16] != '.') {
    return FileKind::kOther;
  }
  if (!ParseHexId(name.substr(0, 16), segment_id)) return FileKind::kOther;
  if (gen != nullptr) *gen = g;
  const std::string_view ext = name.substr(ext_at);
  if (ext == "seg") return FileKind::kSegment;
  if (ext == "idx") return FileKind::kIndex;
  return FileKind::kOther;
}

std::string EncodeCompactCommit(const CompactCommit& c) {
  std::string out(kCommitMagic, 8);
  for (const auto* list : {&c.inputs, &c.outputs}) {
    PutFixed32(&out, static_cast<uint32_t>(list->size()));
    for (const SegmentRef& r : *list) {
      PutFixed64(&out, r.id);
      PutFixed32(&out, r.gen);
    }
  }
  PutFixed64(&out, Hash64(out.data(), out.size()));
  return out;
}

Result<CompactCommit> DecodeCompactCommit(std::string_view b, std::string_view what) {
  const std::string where(what);
  if (b.size() < 24 || std::string_view(b.data(), 8) != std::string_view(kCommitMagic, 8) ||
      DecodeFixed64(b.data() + b.size() - 8) != Hash64(b.data(), b.size() - 8)) {
    return Status::Corruption(where + ": damaged compaction commit record");
  }
  CompactCommit c;
  size_t pos = 8;
  const size_t body = b.size() - 8;
  for (auto* list : {&c.inputs, &c.outputs}) {
    if (pos + 4 > body) return Status::Corruption(where + ": compaction commit truncated");
    const uint32_t n = DecodeFixed32(b.data() + pos);
    pos += 4;
    if (n > (body - pos) / 12) return Status::Corruption(where + ": compaction commit truncated");
    for (uint32_t i = 0; i < n; ++i, pos += 12) {
      list->push_back({DecodeFixed64(b.data() + pos), DecodeFixed32(b.data() + pos + 8)});
    }
  }
  if (pos != body) return Status::Corruption(where + ": trailing bytes in compaction commit");
  return c;
}

Result<NamespaceFiles> ListNamespaceFiles(FileSystem& fs, const std::string& ns_dir) {
  TLDB_ASSIGN_OR_RETURN(auto names, fs.ListDir(ns_dir));
  NamespaceFiles out;
  std::vector<SegmentRef> replaced;
  for (const auto& name : names) {
    if (name == "COMPACT") {
      TLDB_ASSIGN_OR_RETURN(std::string bytes, fs.ReadFileToString(CompactCommitFileName(ns_dir)));
      TLDB_ASSIGN_OR_RETURN(CompactCommit c,
                            DecodeCompactCommit(bytes, CompactCommitFileName(ns_dir)));
      replaced = c.inputs;
      out.compact_commit = true;
    }
  }
  // (id -> gen -> files): generations of one id coexist only around a compaction.
  std::map<uint64_t, std::map<uint32_t, NamespaceFiles::Files>> all;
  std::map<std::pair<uint64_t, uint32_t>, std::vector<std::string>> names_of;
  for (const auto& name : names) {
    uint64_t id = 0;
    uint32_t gen = 0;
    const FileKind kind = ParseFileName(name, &id, &gen);
    if (kind == FileKind::kTemp) out.temp_names.push_back(name);
    if (kind != FileKind::kSegment && kind != FileKind::kIndex) continue;
    out.max_gen = std::max(out.max_gen, gen);
    names_of[{id, gen}].push_back(name);
    bool stale = false;
    for (const SegmentRef& r : replaced) stale |= r.id == id && r.gen == gen;
    if (stale) {
      out.stale_names.push_back(name);
      continue;
    }
    auto& f = all[id][gen];
    f.gen = gen;
    (kind == FileKind::kSegment ? f.segment : f.index) = true;
  }
  for (auto& [id, gens] : all) {
    // Without a commit record, a higher generation beside a lower one is an uncommitted output.
    // A generation with only an index file (its segment already deleted) never wins over one
    // that has its segment.
    auto live =
        std::find_if(gens.begin(), gens.end(), [](const auto& g) { return g.second.segment; });
    if (live == gens.end()) live = gens.begin();
    out.by_id[id] = live->second;
    for (auto it = gens.begin(); it != gens.end(); ++it) {
      if (it == live) continue;
      for (const auto& n : names_of[{id, it->first}]) out.stale_names.push_back(n);
    }
  }
  return out;
}

}  // namespace tldb
