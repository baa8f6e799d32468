// export: messages as JSON Lines (export_line.h), for backup, migration and moving data between
// servers.
//
// Contract:
// - ExportDir reads a data directory offline (read-only, no LOCK: safe beside a running server)
//   and writes every message the store would serve, in log order (so each timeline's SeqIds
//   ascend), a fan-out once per target. Torn tails are skipped (the store cuts them); a corrupt
//   segment's readable records are exported and the call then fails with Corruption.
// - ExportServer reads through the client library. The protocol cannot list timelines, so it
//   needs explicit timelines (NotSupported otherwise, saying so).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "io/file_system.h"
#include "tldb/client.h"

namespace tldb::admin {

struct ExportOptions {
  std::string ns;                      // empty: all namespaces (offline only)
  std::vector<std::string> timelines;  // empty: all timelines (offline only)
};

Status ExportDir(FileSystem& fs, const std::string& dir, const ExportOptions& options,
                 std::ostream& out, uint64_t* exported);
// NotSupported (explaining why) unless options name a namespace and timelines.
Status CheckServerExport(const ExportOptions& options);
Status ExportServer(Client& client, const ExportOptions& options, std::ostream& out,
                    uint64_t* exported);

}  // namespace tldb::admin
