// Names of the files in a data directory (docs/format.md "Data directory").
//   DIR/LOCK                       held by the process that owns DIR
//   DIR/CATALOG                    namespace catalog
//   DIR/ns/<name>/<id:016x>.seg    segment
//   DIR/ns/<name>/<id:016x>.idx    index of a sealed segment
//   DIR/ns/<name>/<id:016x>-<gen:08x>.seg/.idx   a compaction output (generation gen > 0)
//   DIR/ns/<name>/COMPACT          a committed compaction whose inputs may still exist
//   DIR/ns/<name>/FLOORS           last SeqIds of timelines that have no record left
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
std::string SegmentFileName(const std::string& ns_dir, uint64_t segment_id, uint32_t gen = 0);
std::string IndexFileName(const std::string& ns_dir, uint64_t segment_id, uint32_t gen = 0);
std::string CompactCommitFileName(const std::string& ns_dir);
std::string FloorsFileName(const std::string& ns_dir);
std::string ScrubFileName(const std::string& ns_dir);  // docs/format.md "Scrub position"

// Parses a file name inside a namespace directory; sets *segment_id (and *gen) for segments
// and indexes.
FileKind ParseFileName(std::string_view name, uint64_t* segment_id, uint32_t* gen = nullptr);

// A compaction's commit record (docs/format.md "Compaction commit"): once it is durable, the
// outputs replace the inputs.
struct SegmentRef {
  uint64_t id = 0;
  uint32_t gen = 0;
  bool operator==(const SegmentRef&) const = default;
};
struct CompactCommit {
  std::vector<SegmentRef> inputs;
  std::vector<SegmentRef> outputs;
};
std::string EncodeCompactCommit(const CompactCommit& c);
Result<CompactCommit> DecodeCompactCommit(std::string_view bytes, std::string_view what);

class FileSystem;

// What a namespace directory holds, by segment id (recovery and the admin tools read it alike).
struct NamespaceFiles {
  struct Files {
    bool segment = false;
    bool index = false;
    uint32_t gen = 0;  // the live generation of this id
  };
  std::map<uint64_t, Files> by_id;      // ascending ids, live generation only
  std::vector<std::string> temp_names;  // *.tmp names (not paths)
  // Files replaced by a committed compaction (its inputs) or written by one that never
  // committed (outputs beside their inputs): recovery deletes them, readers ignore them.
  std::vector<std::string> stale_names;
  bool compact_commit = false;  // a COMPACT file is present
  uint32_t max_gen = 0;         // highest generation seen (new outputs use a higher one)
};
Result<NamespaceFiles> ListNamespaceFiles(FileSystem& fs, const std::string& ns_dir);

}  // namespace tldb
