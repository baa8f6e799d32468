// BackupHandler: the online-backup requests (docs/protocol.md "Online backup"). BACKUP_OPEN
// needs the admin right on every namespace ('*') and runs on the BackupRegistry's thread (the
// snapshot and the checksums of its files); its answer, the manifest, comes back through the
// loop's queue. BACKUP_READ answers one chunk (at most proto::kBackupChunkBytesMax bytes, a pread
// on the loop) and BACKUP_CLOSE releases the backup, both inline. A connection's backups are
// released when it closes (Forget).
//
// Contract: one per Loop; its methods and completions run on that loop's thread only. Owns no
// lock and no state (the registry is the server's).
#pragma once

#include <cstdint>
#include <string_view>

#include "connection.h"
#include "handler_context.h"

namespace tldb::server {

class BackupHandler {
 public:
  explicit BackupHandler(HandlerContext& ctx) : ctx_(ctx) {}

  void Open(Connection& c, uint64_t id, std::string_view body);
  void Read(Connection& c, uint64_t id, std::string_view body);
  void Close(Connection& c, uint64_t id, std::string_view body);
  // The connection is closing: its backups are released.
  void Forget(Connection& c);

 private:
  HandlerContext& ctx_;
};

}  // namespace tldb::server
