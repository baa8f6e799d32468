// CheckIndex: compares a valid index file with what its segment's records say (IndexModel):
// header fields, every timeline entry, every record offset, the dedupe entries, the maintenance
// entries and the block table. Used by the scrub and `tldb verify` (through sealed_check.h, to
// report) and `tldb repair` (to decide on a rebuild).
// CheckProblem: one finding of a check, in `tldb verify`'s terms (a file, a byte offset in it,
// what is wrong, how bad).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "index/index_file.h"
#include "index/index_model.h"

namespace tldb {

struct CheckProblem {
  // Errors make the store unsound (damaged data, an index that would send reads to the wrong
  // place, or a state the engine refuses to open); warnings are states the engine repairs by
  // itself without losing anything acknowledged; info notes are normal states worth knowing.
  enum class Severity : uint8_t { kInfo, kWarning, kError };
  Severity severity = Severity::kError;
  std::string file;
  uint64_t offset = 0;
  std::string what;
};

// Appends one error per mismatch (file = index path, offset = byte offset in the index file).
// Returns the number of index offsets checked.
uint64_t CheckIndex(const IndexFile& idx, const std::string& index_path, const IndexModel& model,
                    const std::string& segment_path, std::vector<CheckProblem>* problems);

}  // namespace tldb
