// backup: `tldb backup --server HOST:PORT DIR` — an online backup of a running server written to
// a new (or empty) directory that a server opens as its data directory and `tldb verify` finds
// SOUND (docs/protocol.md "Online backup", docs/admin.md "Online backup").
//
// Contract: RunBackup refuses a DIR that exists and is not an empty directory before it asks the
// server for anything. It opens a backup (BACKUP_OPEN), checks every path of the manifest (plain
// relative names only: a server cannot make it write outside DIR), writes each file from
// BACKUP_READ chunks while hashing it, checks each file's size and XXH3 against the manifest,
// fdatasyncs every file and fsyncs every directory (DIR's parent too), then closes the backup.
// On any error it closes the backup, deletes what it wrote (DIR was empty) and returns the error
// naming the file.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "tldb/client.h"

namespace tldb::admin {

struct BackupOptions {
  // Bytes asked for per BACKUP_READ (the server caps it at its chunk_bytes_max).
  uint32_t chunk_bytes = 1u << 20;
  // BACKUP_OPEN's timeout: the server links, copies and checksums the whole data directory
  // before it answers, which takes a while on a large store.
  uint32_t open_timeout_ms = 3'600'000;
  // After each chunk: bytes written so far, total bytes, the file being written.
  std::function<void(uint64_t done, uint64_t total, const std::string& file)> progress;
};

struct BackupReport {
  std::string dir;
  uint64_t files = 0;
  uint64_t bytes = 0;
  double open_seconds = 0;  // BACKUP_OPEN: the server's snapshot and checksums
  double seconds = 0;       // the whole run
  std::vector<SnapshotNamespace> namespaces;
};

// OK if `dir` does not exist or is an empty directory.
Status CheckBackupTarget(const std::string& dir);
Result<BackupReport> RunBackup(Client& client, const std::string& dir, const BackupOptions& o);
void PrintBackupReport(const BackupReport& r, bool json, std::ostream& out);

}  // namespace tldb::admin
