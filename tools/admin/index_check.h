// CheckIndex: compares a valid index file with what its segment's records say (IndexModel):
// header fields, every timeline entry, every record offset, the dedupe entries. Used by verify
// (to report) and repair (to decide on a rebuild).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "index_model.h"
#include "segment_file.h"
#include "verify.h"

namespace tldb::admin {

// Appends one error per mismatch (file = index path, offset = byte offset in the index file).
// Returns the number of index offsets checked.
uint64_t CheckIndex(const IndexFile& idx, const std::string& index_path, const IndexModel& model,
                    const std::string& segment_path, std::vector<Problem>* problems);

}  // namespace tldb::admin
