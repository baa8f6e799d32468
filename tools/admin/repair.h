// repair: brings a data directory back to a state the store opens, with the server stopped.
//
// Contract:
// - Takes DIR/LOCK (FileSystem::Lock) first and refuses if another process holds it.
// - Never deletes data: a corrupt sealed segment (and its index) is moved to
//   DIR/quarantine/<ns>/; a corrupt active segment is copied there before it is cut.
// - Cuts a torn tail of the active segment by the engine's rule (log/segment_scan.h); cuts an
//   active segment damaged before its durable point at the damage (what Options::salvage does).
// - Rebuilds an index file that is missing, damaged or disagrees with its segment.
// - Reports every action and every message that is no longer reachable, then verifies the
//   result: `report.after` says whether the store is now sound (e.g. a quarantined segment can
//   leave a SeqId gap in a timeline that continues later, which the engine refuses).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "tldb/file_system.h"
#include "verify.h"

namespace tldb::admin {

struct RepairReport {
  std::vector<std::string> actions;      // what was done, one line each
  std::vector<std::string> unreachable;  // data no longer reachable through the store
  VerifyReport after;                    // verify after the repair
};

Result<RepairReport> Repair(FileSystem& fs, const std::string& dir);
void PrintRepairReport(const RepairReport& report, bool json, std::ostream& out);

}  // namespace tldb::admin
