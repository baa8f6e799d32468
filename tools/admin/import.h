// import: JSON Lines (export_line.h) into a store through Db::Import, which keeps each message's
// SeqId and timestamp. Missing namespaces are created with default options.
//
// Contract: idempotent — re-running the same file reports every message as already present and
// writes nothing. Lines must list each timeline's SeqIds in ascending order without gaps (what
// export writes). The first bad line stops the import with an error naming its line number;
// everything before it is imported and durable.
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>

#include "tldb/db.h"

namespace tldb::admin {

struct ImportStats {
  uint64_t lines = 0;
  uint64_t imported = 0;
  uint64_t already_present = 0;  // idempotent re-run: the store held the same message
  uint64_t namespaces_created = 0;
};

Result<ImportStats> ImportLines(Db& db, std::istream& in);
// Opens (creating if missing) the store in `dir` and imports into it.
Result<ImportStats> ImportIntoDir(const std::string& dir, std::istream& in);
void PrintImportStats(const ImportStats& s, bool json, std::ostream& out);

}  // namespace tldb::admin
