#include "admin/backup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>

#include "admin/json_text.h"
#include "tldb/errno_status.h"
#include "util/checksum.h"

namespace tldb::admin {

namespace fsys = std::filesystem;

namespace {

Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return StatusFromErrno(errno, "open " + path);
  const int rc = ::fsync(fd);
  Status s = rc == 0 ? Status::Ok() : StatusFromErrno(errno, "fsync " + path);
  ::close(fd);
  return s;
}

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Writes file `index` of the backup to `path`: chunks, hash, size and checksum check, fdatasync.
Status WriteFile(Client& client, const BackupManifest& m, uint32_t index, const std::string& path,
                 const BackupOptions& o, uint64_t* done, uint64_t total) {
  const BackupManifest::File& f = m.files[index];
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return StatusFromErrno(errno, "create " + path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  Hasher64 hash;
  uint64_t off = 0;
  while (true) {
    auto chunk = client.ReadBackup(m.backup_id, index, off, o.chunk_bytes);
    if (!chunk.ok()) {
      return Status(chunk.status().code(),
                    f.path + " at offset " + std::to_string(off) + ": " + chunk.status().message());
    }
    if (chunk->empty()) break;
    if (off + chunk->size() > f.bytes) {
      return Status::Corruption(f.path + ": the server sent more than its " +
                                std::to_string(f.bytes) + " bytes");
    }
    for (size_t w = 0; w < chunk->size();) {
      const ssize_t n =
          ::pwrite(fd, chunk->data() + w, chunk->size() - w, static_cast<off_t>(off + w));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return StatusFromErrno(errno, "write " + path);
      w += static_cast<size_t>(n);
    }
    hash.Update(chunk->data(), chunk->size());
    off += chunk->size();
    *done += chunk->size();
    if (o.progress) o.progress(*done, total, f.path);
    if (off == f.bytes) break;
  }
  if (off != f.bytes) {
    return Status::Corruption(f.path + ": received " + std::to_string(off) +
                              " bytes, the manifest says " + std::to_string(f.bytes));
  }
  if (hash.Digest() != f.xxh3) {
    return Status::Corruption(f.path +
                              ": checksum mismatch (the bytes received are not the file "
                              "the server listed)");
  }
  if (::fdatasync(fd) != 0) return StatusFromErrno(errno, "fdatasync " + path);
  return Status::Ok();
}

}  // namespace

Status CheckBackupTarget(const std::string& dir) {
  std::error_code ec;
  const auto st = fsys::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Status::IOError(dir + ": " + ec.message());
  }
  if (!fsys::exists(st)) return Status::Ok();
  if (!fsys::is_directory(st)) {
    return Status::InvalidArgument(dir +
                                   " exists and is not a directory: a backup goes into a "
                                   "new or empty directory");
  }
  if (!fsys::is_empty(dir, ec) || ec) {
    return Status::InvalidArgument(dir +
                                   " is not empty: a backup goes into a new or empty "
                                   "directory (nothing was written)");
  }
  return Status::Ok();
}

Result<BackupReport> RunBackup(Client& client, const std::string& dir, const BackupOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  TLDB_RETURN_IF_ERROR(CheckBackupTarget(dir));
  auto manifest = client.OpenBackup(CallOptions{o.open_timeout_ms});
  if (!manifest.ok()) return manifest.status();
  BackupReport report;
  report.dir = dir;
  report.open_seconds = Since(t0);
  report.namespaces = manifest->namespaces;
  auto run = [&]() -> Status {
    uint64_t total = 0;
    for (const auto& f : manifest->files) {
      if (!IsSafeSnapshotPath(f.path)) {
        return Status::Corruption("the server listed an unsafe path '" + f.path + "'");
      }
      total += f.bytes;
    }
    std::error_code ec;
    fsys::create_directories(dir, ec);
    if (ec) return Status::IOError("create " + dir + ": " + ec.message());
    std::set<std::string> dirs{dir};
    uint64_t done = 0;
    for (uint32_t i = 0; i < manifest->files.size(); ++i) {
      const std::string path = dir + "/" + manifest->files[i].path;
      const std::string parent = fsys::path(path).parent_path().string();
      fsys::create_directories(parent, ec);
      if (ec) return Status::IOError("create " + parent + ": " + ec.message());
      for (std::string p = parent; p.size() > dir.size();
           p = fsys::path(p).parent_path().string()) {
        dirs.insert(p);
      }
      TLDB_RETURN_IF_ERROR(WriteFile(client, *manifest, i, path, o, &done, total));
      report.files++;
      report.bytes += manifest->files[i].bytes;
    }
    // Deepest first, then DIR's own entry in its parent.
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) TLDB_RETURN_IF_ERROR(SyncPath(*it));
    const std::string up = fsys::absolute(dir).lexically_normal().parent_path().string();
    return SyncPath(up.empty() ? "." : up);
  };
  Status s = run();
  Status closed = client.CloseBackup(manifest->backup_id);
  if (s.ok()) s = closed;
  if (!s.ok()) {
    // DIR was new or empty: take back what this run wrote.
    std::error_code ec;
    for (const auto& e : fsys::directory_iterator(dir, ec)) fsys::remove_all(e.path(), ec);
    return s;
  }
  report.seconds = Since(t0);
  return report;
}

void PrintBackupReport(const BackupReport& r, bool json, std::ostream& out) {
  const double mbps = r.seconds > 0 ? r.bytes / 1e6 / r.seconds : 0;
  if (json) {
    out << "{\"dir\":" << JsonQuote(r.dir) << ",\"files\":" << r.files << ",\"bytes\":" << r.bytes
        << ",\"open_seconds\":" << r.open_seconds << ",\"seconds\":" << r.seconds
        << ",\"namespaces\":[";
    for (size_t i = 0; i < r.namespaces.size(); ++i) {
      const auto& n = r.namespaces[i];
      out << (i ? "," : "") << "{\"name\":" << JsonQuote(n.name) << ",\"end\":\""
          << n.end.ToString() << "\"}";
    }
    out << "]}\n";
    return;
  }
  char line[256];
  std::snprintf(line, sizeof(line),
                ": %llu files, %llu bytes in %.2f s (%.1f MB/s; the server's snapshot and "
                "checksums took %.2f s)\n",
                static_cast<unsigned long long>(r.files), static_cast<unsigned long long>(r.bytes),
                r.seconds, mbps, r.open_seconds);
  out << "backup written to " << r.dir << line;
  for (const auto& n : r.namespaces) {
    out << "  namespace " << n.name << ": log up to " << n.end.ToString() << "\n";
  }
}

}  // namespace tldb::admin
