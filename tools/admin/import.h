// import: JSON Lines (export_line.h) into a store through Db::Import, which keeps each message's
// SeqId and timestamp. Missing namespaces are created with default options.
//
// Contract: idempotent — re-running the same file reports every message as already present and
// writes nothing. Lines must list each timeline's SeqIds in ascending order (what export
// writes). SeqIds may skip values (export leaves recalled, trimmed, expired and lost messages
// out): Db::Import refuses a gap, so each skipped SeqId is imported as an empty placeholder and
// recalled at once, which keeps every SeqId where it was (Get answers Deleted for it, as in the
// source store) at the cost of two small records per skipped SeqId. A timeline's SeqIds below
// its first line are not recreated (Get answers NotFound there). The first bad line stops the
// import with an error naming its line number; everything before it is imported and durable.
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
  uint64_t gaps_kept = 0;  // skipped SeqIds kept as recalled placeholders
};

Result<ImportStats> ImportLines(Db& db, std::istream& in);
// Opens (creating if missing) the store in `dir` and imports into it.
Result<ImportStats> ImportIntoDir(const std::string& dir, std::istream& in);
void PrintImportStats(const ImportStats& s, bool json, std::ostream& out);

}  // namespace tldb::admin
