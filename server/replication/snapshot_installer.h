// SnapshotInstaller: a follower's side of a rebuild (docs/replication.md "Automatic rebuild"):
// it receives the files of a snapshot its primary took, and puts them in place of its data
// directory's contents.
//
// - Files arrive into DIR/rebuild/, in manifest order, each written whole (and fdatasync'ed)
//   before the next is asked for; a chunk that is not the next piece wanted is ignored.
// - Install writes DIR/rebuild/INSTALL (the list of paths, atomically): the commit point. It
//   then removes, in every namespace directory the snapshot has files in, the files the
//   snapshot does not have, moves each file to its place under DIR, syncs the directories, and
//   removes DIR/rebuild.
// - Recover, called before the Db of DIR opens, finishes an install whose INSTALL exists (a
//   crash after the commit point) and removes a partial download otherwise (a crash before):
//   the directory is either the old one or the snapshot, never a mix.
//
// Contract: one caller at a time (the replica's driver); the Db of DIR is closed during Install
// and Recover. Paths are checked with IsSafeSnapshotPath before anything is written.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tldb/db.h"
#include "tldb/file_system.h"
#include "tldb/status.h"

namespace tldb::repl {

class SnapshotInstaller {
 public:
  SnapshotInstaller(FileSystem& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}

  // Starts a download of `files` (replacing any earlier one). InvalidArgument for an unsafe
  // path or a manifest without the REPLICA file a rebuild needs.
  [[nodiscard]] Status Begin(std::vector<SnapshotFile> files);
  bool begun() const { return begun_; }
  // The next piece wanted, (path, offset); nullopt once every file is complete.
  std::optional<std::pair<std::string, uint64_t>> Next() const;
  // A received chunk of `path` at `offset`. OK and ignored unless it is the next piece wanted;
  // Corruption for bytes past the file's size in the manifest, and for a complete file whose
  // XXH3-64 is not the manifest's (nothing of the download is installed then).
  [[nodiscard]] Status Accept(std::string_view path, uint64_t offset, std::string_view data);
  // Every file complete: the install above. The Db of DIR must be closed.
  [[nodiscard]] Status Install();
  // Gives the download up: DIR/rebuild is removed.
  void Abort();
  uint64_t bytes_received() const { return bytes_; }

  static std::string RebuildDir(const std::string& dir) { return dir + "/rebuild"; }
  [[nodiscard]] static Status Recover(FileSystem& fs, const std::string& dir);

 private:
  Status StartFile();  // opens the current file; completes it at once if it is empty
  Status FinishFile();
  static Status Finish(FileSystem& fs, const std::string& dir,
                       const std::vector<std::string>& paths);

  FileSystem& fs_;
  const std::string dir_;
  std::vector<SnapshotFile> files_;
  bool begun_ = false;
  size_t current_ = 0;  // index of the file being received
  uint64_t offset_ = 0;
  uint64_t bytes_ = 0;
  std::unique_ptr<WritableFile> file_;
  std::shared_ptr<void> hash_;  // XXH3 state of the file being received
};

}  // namespace tldb::repl
