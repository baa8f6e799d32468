// export: messages as JSON Lines (export_line.h), for backup, migration and moving data between
// servers.
//
// Contract:
// - ExportDir reads a data directory offline (read-only, no LOCK: safe beside a running server,
//   which is why it does not open the store through Db::Open) and writes every message the
//   store would serve, in log order (so each timeline's SeqIds ascend), a fan-out once per
//   target: recalled, trimmed, deleted and expired messages are left out and edited ones carry
//   their newest payload (LiveModel applies the engine's rules to the maintenance records of
//   every segment, plain or compressed). Deleted SeqIds leave gaps, which import preserves.
//   Torn tails are skipped (the store cuts them); a corrupt segment's readable records are
//   exported and the call then fails with Corruption.
// - ExportServer reads through the client library. The protocol cannot list timelines, so it
//   needs explicit timelines (NotSupported otherwise, saying so).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "tldb/file_system.h"
#include "tldb/client.h"

namespace tldb::admin {

struct ExportOptions {
  std::string ns;                      // empty: all namespaces (offline only)
  std::vector<std::string> timelines;  // empty: all timelines (offline only)
  TimestampMs now_ms = 0;              // TTL clock for offline export; 0: the wall clock
};

Status ExportDir(FileSystem& fs, const std::string& dir, const ExportOptions& options,
                 std::ostream& out, uint64_t* exported);
// NotSupported (explaining why) unless options name a namespace and timelines.
Status CheckServerExport(const ExportOptions& options);
Status ExportServer(Client& client, const ExportOptions& options, std::ostream& out,
                    uint64_t* exported);

}  // namespace tldb::admin
