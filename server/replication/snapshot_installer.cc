#include "replication/snapshot_installer.h"

#include <xxhash.h>

#include <map>
#include <set>

namespace tldb::repl {
namespace {

constexpr const char* kInstallName = "INSTALL";

std::string Parent(const std::string& rel) {
  const size_t slash = rel.rfind('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash);
}

std::string Join(const std::string& dir, const std::string& rel) {
  return rel.empty() ? dir : dir + "/" + rel;
}

// Creates `rel`'s directories under `dir`, outermost first.
Status CreateDirs(FileSystem& fs, const std::string& dir, const std::string& rel) {
  TLDB_RETURN_IF_ERROR(fs.CreateDir(dir));
  for (size_t i = rel.find('/'); i != std::string::npos; i = rel.find('/', i + 1)) {
    TLDB_RETURN_IF_ERROR(fs.CreateDir(dir + "/" + rel.substr(0, i)));
  }
  if (!rel.empty()) TLDB_RETURN_IF_ERROR(fs.CreateDir(dir + "/" + rel));
  return Status::Ok();
}

}  // namespace

Status SnapshotInstaller::Begin(std::vector<SnapshotFile> files) {
  bool has_state = false;
  for (const SnapshotFile& f : files) {
    if (!IsSafeSnapshotPath(f.path) || f.path == "rebuild" || f.path.rfind("rebuild/", 0) == 0) {
      return Status::InvalidArgument("snapshot manifest names an unsafe path '" + f.path + "'");
    }
    has_state = has_state || f.path == "REPLICA";
  }
  if (!has_state) {
    return Status::InvalidArgument(
        "snapshot manifest has no REPLICA file: it cannot seed a replica");
  }
  Abort();
  files_ = std::move(files);
  begun_ = true;
  current_ = 0;
  offset_ = 0;
  bytes_ = 0;
  TLDB_RETURN_IF_ERROR(CreateDirs(fs_, RebuildDir(dir_), ""));
  return StartFile();
}

Status SnapshotInstaller::StartFile() {
  while (current_ < files_.size()) {
    const SnapshotFile& f = files_[current_];
    TLDB_RETURN_IF_ERROR(CreateDirs(fs_, RebuildDir(dir_), Parent(f.path)));
    TLDB_ASSIGN_OR_RETURN(file_, fs_.OpenWritable(RebuildDir(dir_) + "/" + f.path,
                                                  /*create=*/true, /*exclusive=*/false));
    TLDB_RETURN_IF_ERROR(file_->Truncate(0));
    offset_ = 0;
    hash_ = std::shared_ptr<void>(XXH3_createState(),
                                  [](void* p) { XXH3_freeState(static_cast<XXH3_state_t*>(p)); });
    XXH3_64bits_reset(static_cast<XXH3_state_t*>(hash_.get()));
    if (f.bytes != 0) return Status::Ok();
    TLDB_RETURN_IF_ERROR(FinishFile());
  }
  return Status::Ok();
}

Status SnapshotInstaller::FinishFile() {
  const SnapshotFile& f = files_[current_];
  const uint64_t got = XXH3_64bits_digest(static_cast<XXH3_state_t*>(hash_.get()));
  if (got != f.xxh3) {
    return Status::Corruption("snapshot file " + f.path + " arrived with checksum " +
                              std::to_string(got) + ", its manifest says " +
                              std::to_string(f.xxh3));
  }
  TLDB_RETURN_IF_ERROR(file_->Sync());
  TLDB_RETURN_IF_ERROR(file_->Close());
  file_.reset();
  current_++;
  offset_ = 0;
  return Status::Ok();
}

std::optional<std::pair<std::string, uint64_t>> SnapshotInstaller::Next() const {
  if (!begun_ || current_ >= files_.size()) return std::nullopt;
  return std::make_pair(files_[current_].path, offset_);
}

Status SnapshotInstaller::Accept(std::string_view path, uint64_t offset, std::string_view data) {
  if (!begun_ || current_ >= files_.size()) return Status::Ok();
  const SnapshotFile& f = files_[current_];
  if (path != f.path || offset != offset_ || data.empty()) return Status::Ok();  // stale
  if (offset + data.size() > f.bytes) {
    return Status::Corruption("snapshot file " + f.path + ": " +
                              std::to_string(offset + data.size()) + " bytes sent of " +
                              std::to_string(f.bytes));
  }
  TLDB_RETURN_IF_ERROR(file_->Write(offset, data));
  XXH3_64bits_update(static_cast<XXH3_state_t*>(hash_.get()), data.data(), data.size());
  offset_ += data.size();
  bytes_ += data.size();
  if (offset_ == f.bytes) {
    TLDB_RETURN_IF_ERROR(FinishFile());
    return StartFile();
  }
  return Status::Ok();
}

Status SnapshotInstaller::Install() {
  if (!begun_ || current_ < files_.size()) {
    return Status::InvalidArgument("snapshot not completely received");
  }
  std::set<std::string> dirs{""};
  std::string list;
  std::vector<std::string> paths;
  for (const SnapshotFile& f : files_) {
    dirs.insert(Parent(f.path));
    list += f.path + "\n";
    paths.push_back(f.path);
  }
  for (const std::string& d : dirs) TLDB_RETURN_IF_ERROR(fs_.SyncDir(Join(RebuildDir(dir_), d)));
  // The commit point: from here a crash finishes the install at the next open.
  TLDB_RETURN_IF_ERROR(fs_.WriteFileAtomic(RebuildDir(dir_) + "/" + kInstallName, list));
  TLDB_RETURN_IF_ERROR(Finish(fs_, dir_, paths));
  begun_ = false;
  files_.clear();
  return Status::Ok();
}

Status SnapshotInstaller::Finish(FileSystem& fs, const std::string& dir,
                                 const std::vector<std::string>& paths) {
  std::map<std::string, std::set<std::string>> by_dir;  // parent → names
  for (const std::string& p : paths) {
    const std::string parent = Parent(p);
    by_dir[parent].insert(parent.empty() ? p : p.substr(parent.size() + 1));
  }
  const std::string rebuild = RebuildDir(dir);
  for (const auto& [parent, names] : by_dir) {
    TLDB_RETURN_IF_ERROR(CreateDirs(fs, dir, parent));
    if (parent.empty()) continue;  // the top level keeps what the snapshot does not replace
    // A namespace directory becomes exactly the snapshot's: older segments, index files and
    // leftovers of a compaction go.
    TLDB_ASSIGN_OR_RETURN(auto present, fs.ListDir(Join(dir, parent)));
    for (const std::string& n : present) {
      if (names.count(n) == 0) TLDB_RETURN_IF_ERROR(RemoveTree(fs, Join(dir, parent) + "/" + n));
    }
  }
  for (const std::string& p : paths) {
    TLDB_ASSIGN_OR_RETURN(bool waiting, fs.Exists(rebuild + "/" + p));
    if (waiting) TLDB_RETURN_IF_ERROR(fs.Rename(rebuild + "/" + p, dir + "/" + p));
  }
  for (const auto& [parent, names] : by_dir) TLDB_RETURN_IF_ERROR(fs.SyncDir(Join(dir, parent)));
  TLDB_RETURN_IF_ERROR(fs.Remove(rebuild + "/" + kInstallName));
  TLDB_RETURN_IF_ERROR(RemoveTree(fs, rebuild));
  return fs.SyncDir(dir);
}

void SnapshotInstaller::Abort() {
  if (file_) {
    (void)file_->Close();
    file_.reset();
  }
  begun_ = false;
  files_.clear();
  (void)RemoveTree(fs_, RebuildDir(dir_));
}

Status SnapshotInstaller::Recover(FileSystem& fs, const std::string& dir) {
  const std::string rebuild = RebuildDir(dir);
  TLDB_ASSIGN_OR_RETURN(bool committed, fs.Exists(rebuild + "/" + kInstallName));
  if (!committed) return RemoveTree(fs, rebuild);
  TLDB_ASSIGN_OR_RETURN(std::string list, fs.ReadFileToString(rebuild + "/" + kInstallName));
  std::vector<std::string> paths;
  for (size_t start = 0; start < list.size();) {
    size_t nl = list.find('\n', start);
    if (nl == std::string::npos) nl = list.size();
    std::string p = list.substr(start, nl - start);
    if (!IsSafeSnapshotPath(p)) {
      return Status::Corruption(rebuild + "/" + kInstallName + " names an unsafe path '" + p + "'");
    }
    paths.push_back(std::move(p));
    start = nl + 1;
  }
  return Finish(fs, dir, paths);
}

}  // namespace tldb::repl
