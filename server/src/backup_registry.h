// BackupRegistry: the online backups of one server (BACKUP_OPEN, BACKUP_READ, BACKUP_CLOSE;
// docs/protocol.md "Online backup"). A backup is a snapshot of the data directory
// (Db::Snapshot) in DATA_DIR/snapshots/<backup id>, served file by file to the connection that
// opened it and deleted when that connection closes it, closes itself, or the server stops.
//
// Contract: thread-safe (mu_ guards the table; nothing slow runs under it). Taking a snapshot,
// checksumming its files and deleting a released one run on the registry's own thread, never on
// an event loop; Read() (a pread of at most proto::kBackupChunkBytesMax bytes) runs on the loop
// that asks. A backup belongs to one connection: the others get NOT_FOUND for its id. At
// construction the leftovers of an earlier run (a crash) under DATA_DIR/snapshots are deleted.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "protocol/backup_messages.h"
#include "task_thread.h"
#include "tldb/db.h"

namespace tldb::server {

class BackupRegistry {
 public:
  // Backups open at once (all connections): each pins the disk space of the files it links
  // (compaction and TTL cannot free it until the backup is released), so a client that opens
  // backups in a loop cannot fill the disk.
  static constexpr size_t kOpenMax = 4;

  // `data_dir` empty: backups are refused (NotSupported).
  BackupRegistry(Db* db, std::string data_dir);
  ~BackupRegistry();
  BackupRegistry(const BackupRegistry&) = delete;
  BackupRegistry& operator=(const BackupRegistry&) = delete;

  using OpenDone = std::function<void(Result<proto::BackupOpenResponse>)>;
  // Reserves a backup for connection `conn_id` (Busy past kOpenMax) and takes its snapshot on
  // the registry's thread; `done` runs there with the manifest (or the error; the backup is then
  // gone). False when the server is stopping (nothing reserved, `done` not called).
  bool Open(uint64_t conn_id, OpenDone done, Status* refused);
  // Bytes [offset, offset + bytes_max) of a file of backup `backup_id` (fewer at its end; none
  // at or past it).
  Result<std::string> Read(uint64_t conn_id, const proto::BackupReadRequest& r, uint32_t bytes_max);
  // Releases one backup (its files are deleted on the registry's thread).
  Status Close(uint64_t conn_id, uint64_t backup_id);
  // Releases every backup of a connection that closed.
  void ReleaseConnection(uint64_t conn_id);
  // Deletes what is left (server stop). Idempotent.
  void Stop();

  size_t open_count();
  std::string SnapshotsDir() const { return data_dir_ + "/snapshots"; }

 private:
  struct Backup {
    uint64_t conn_id = 0;
    std::string dir;
    bool ready = false;  // the snapshot is taken; files is filled
    std::vector<proto::BackupFile> files;
  };
  // On the registry's thread: the snapshot and its manifest.
  Result<proto::BackupOpenResponse> Take(uint64_t backup_id, const std::string& dir);
  void RemoveLater(std::string dir);

  Db* const db_;
  const std::string data_dir_;
  std::mutex mu_;  // guards the fields below
  std::map<uint64_t, Backup> backups_;
  uint64_t next_id_ = 1;
  TaskThread thread_;  // last: its tasks use the members above
};

// XXH3-64 (seed 0) of a whole file, read in chunks.
Result<uint64_t> FileXxh3(const std::string& path);

}  // namespace tldb::server
