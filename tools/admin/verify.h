// verify: checks a whole data directory without opening it (read-only, no LOCK: safe beside a
// running server): the catalog, FLOORS, every segment header, every record checksum and every
// zstd block checksum (compressed segments), the tail rule of the active segment, every index
// entry against the data it indexes (timeline entries with their gaps and count-0 entries,
// maintenance-record entries, the block table), and the SeqId order of every timeline across
// segments, by the rules the engine applies when it opens the store.
//
// Contract: each problem names a file and a byte offset in it. Errors make the store unsound
// (data damaged, an index that would send reads to the wrong place, or a state the engine
// refuses to open); warnings are states the engine repairs by itself without losing anything
// acknowledged (a torn tail, a missing index, leftover temp files); info notes are normal states
// worth knowing: SeqId gaps (deleted messages: recall + compaction, trims, TTL drops, or a
// quarantined segment), files a compaction replaced and its COMPACT record (removed at the next
// open). Verify never stops at the first problem.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "index/index_check.h"
#include "tldb/file_system.h"

namespace tldb::admin {

// The engine's finding (index/index_check.h): verify, repair and the scrub speak the same terms.
using Problem = CheckProblem;

struct VerifyReport {
  std::string dir;
  std::vector<Problem> problems;
  uint64_t namespaces = 0;
  uint64_t segments = 0;
  uint64_t records = 0;
  uint64_t maintenance_records = 0;  // recall, edit and trim records (counted in records too)
  uint64_t messages = 0;
  uint64_t blocks = 0;  // zstd blocks checked
  uint64_t bytes = 0;
  uint64_t index_entries = 0;  // index offsets checked against the data
  uint64_t errors() const;
  uint64_t Count(Problem::Severity s) const;
  bool sound() const { return errors() == 0; }
};

struct VerifyOptions {
  // Called after each segment: bytes checked so far, total bytes, the file just checked.
  std::function<void(uint64_t done, uint64_t total, const std::string& file)> progress;
};

struct NamespaceRef;
// True if `orphan_index` (an index without its segment) makes recovery take its generation as
// the live one and delete a compaction output of the same id.
bool ShadowsOutput(const NamespaceRef& ns, const std::string& orphan_index);

Result<VerifyReport> Verify(FileSystem& fs, const std::string& dir, const VerifyOptions& options);
void PrintVerifyReport(const VerifyReport& report, bool json, std::ostream& out);

}  // namespace tldb::admin
