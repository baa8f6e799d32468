#include "backup_registry.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>

#include "tldb/errno_status.h"

namespace tldb::server {

namespace {

// Closes the descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Result<size_t> PreadFull(int fd, char* buf, size_t len, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return StatusFromErrno(errno, "read " + path);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

void RemoveTree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);  // best effort: what is left goes at the next start
}

}  // namespace

Result<uint64_t> FileXxh3(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return StatusFromErrno(errno, "open " + path);
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> st(XXH3_createState(), &XXH3_freeState);
  XXH3_64bits_reset(st.get());
  std::string buf(1u << 20, '\0');
  for (uint64_t off = 0;;) {
    TLDB_ASSIGN_OR_RETURN(size_t n, PreadFull(f.fd, buf.data(), buf.size(), off, path));
    if (n == 0) break;
    XXH3_64bits_update(st.get(), buf.data(), n);
    off += n;
  }
  return static_cast<uint64_t>(XXH3_64bits_digest(st.get()));
}

BackupRegistry::BackupRegistry(Db* db, std::string data_dir)
    : db_(db), data_dir_(std::move(data_dir)) {
  if (!data_dir_.empty()) RemoveTree(SnapshotsDir());
}

BackupRegistry::~BackupRegistry() {
  Stop();
}

void BackupRegistry::Stop() {
  thread_.Stop();
  std::lock_guard l(mu_);
  backups_.clear();
  if (!data_dir_.empty()) RemoveTree(SnapshotsDir());
}

size_t BackupRegistry::open_count() {
  std::lock_guard l(mu_);
  return backups_.size();
}

bool BackupRegistry::Open(uint64_t conn_id, OpenDone done, Status* refused) {
  if (data_dir_.empty()) {
    *refused = Status::NotSupported("this server has no data directory to back up");
    return false;
  }
  uint64_t id = 0;
  std::string dir;
  {
    std::lock_guard l(mu_);
    if (backups_.size() >= kOpenMax) {
      *refused = Status::Busy(std::to_string(backups_.size()) +
                              " backups are open (the most at once): close one first");
      return false;
    }
    id = next_id_++;
    dir = SnapshotsDir() + "/" + std::to_string(id);
    backups_[id] = Backup{conn_id, dir, false, {}};
  }
  const bool posted = thread_.Post([this, id, dir, done = std::move(done)] {
    auto manifest = Take(id, dir);
    {
      std::lock_guard l(mu_);
      auto it = backups_.find(id);
      if (!manifest.ok() || it == backups_.end()) {
        // Failed, or released while it was being taken (its connection closed): the release's
        // removal task runs after this one; remove here too for the failure case.
        if (it != backups_.end()) backups_.erase(it);
        RemoveTree(dir);
      } else {
        it->second.ready = true;
        it->second.files = manifest->files;
      }
    }
    done(std::move(manifest));
  });
  if (!posted) {
    std::lock_guard l(mu_);
    backups_.erase(id);
    *refused = Status::Closed("server stopping");
    return false;
  }
  return true;
}

Result<proto::BackupOpenResponse> BackupRegistry::Take(uint64_t backup_id, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(SnapshotsDir(), ec);
  if (ec) return Status::IOError("create " + SnapshotsDir() + ": " + ec.message());
  SnapshotOptions o;
  o.sync = false;  // read once and deleted: a crash loses nothing a client relies on
  TLDB_ASSIGN_OR_RETURN(SnapshotInfo info, db_->Snapshot(dir, o));
  proto::BackupOpenResponse m;
  m.backup_id = backup_id;
  m.chunk_bytes_max = proto::kBackupChunkBytesMax;
  for (const auto& f : info.files) {
    TLDB_ASSIGN_OR_RETURN(uint64_t h, FileXxh3(dir + "/" + f.path));
    m.files.push_back({f.path, f.bytes, h});
  }
  for (const auto& n : info.namespaces)
    m.namespaces.push_back({n.name, n.end.segment, n.end.offset});
  return m;
}

Result<std::string> BackupRegistry::Read(uint64_t conn_id, const proto::BackupReadRequest& r,
                                         uint32_t bytes_max) {
  std::string path;
  uint64_t size = 0;
  {
    std::lock_guard l(mu_);
    auto it = backups_.find(r.backup_id);
    if (it == backups_.end() || it->second.conn_id != conn_id) {
      return Status::NotFound("no backup " + std::to_string(r.backup_id) + " on this connection");
    }
    if (!it->second.ready) {
      return Status::Busy("backup " + std::to_string(r.backup_id) + " is still being taken");
    }
    const auto& files = it->second.files;
    if (r.file_index >= files.size()) {
      return Status::InvalidArgument("backup " + std::to_string(r.backup_id) + " has " +
                                     std::to_string(files.size()) + " files, no file " +
                                     std::to_string(r.file_index));
    }
    path = it->second.dir + "/" + files[r.file_index].path;
    size = files[r.file_index].bytes;
  }
  if (r.offset > size) {
    return Status::InvalidArgument("offset " + std::to_string(r.offset) + " is past the end of " +
                                   std::to_string(size) + "-byte file " +
                                   std::to_string(r.file_index));
  }
  const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes_max, size - r.offset));
  std::string out(n, '\0');
  if (n == 0) return out;
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return StatusFromErrno(errno, "open " + path);
  TLDB_ASSIGN_OR_RETURN(size_t got, PreadFull(f.fd, out.data(), n, r.offset, path));
  if (got != n) return Status::IOError(path + ": shorter than its manifest size");
  return out;
}

Status BackupRegistry::Close(uint64_t conn_id, uint64_t backup_id) {
  std::string dir;
  {
    std::lock_guard l(mu_);
    auto it = backups_.find(backup_id);
    if (it == backups_.end() || it->second.conn_id != conn_id) {
      return Status::NotFound("no backup " + std::to_string(backup_id) + " on this connection");
    }
    dir = it->second.dir;
    backups_.erase(it);
  }
  RemoveLater(std::move(dir));
  return Status::Ok();
}

void BackupRegistry::ReleaseConnection(uint64_t conn_id) {
  std::vector<std::string> dirs;
  {
    std::lock_guard l(mu_);
    for (auto it = backups_.begin(); it != backups_.end();) {
      if (it->second.conn_id == conn_id) {
        dirs.push_back(it->second.dir);
        it = backups_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& d : dirs) RemoveLater(std::move(d));
}

void BackupRegistry::RemoveLater(std::string dir) {
  // After Stop() the task is dropped: Stop() removed the whole snapshots directory.
  (void)thread_.Post([dir = std::move(dir)] { RemoveTree(dir); });
}

}  // namespace tldb::server
