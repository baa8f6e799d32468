// The POSIX backend: pread/pwrite/fdatasync on plain file descriptors. Works on every Linux
// kernel and file system; the io_uring backend reuses it for everything but the data path.
//
// Contract (in addition to file_system.h):
// - Write/Read loop over short transfers and retry EINTR; a Write returns OK only when every
//   byte reached the page cache.
// - Sync is fdatasync; SyncDir fsyncs a directory fd.
// - Allocate reserves blocks with fallocate(FALLOC_FL_KEEP_SIZE): the file size is unchanged.
//   When the file system cannot (EOPNOTSUPP: ext2, some FUSE and network file systems) it
//   writes zeros over the part of the range past the end of the file instead (the file grows,
//   as a prepared segment does), so the reservation holds there too: a later write into the
//   range cannot fail with ENOSPC, and ENOSPC comes from Allocate, before any record.
// - Map is a read-only MAP_SHARED mapping; an empty file maps to an empty span.
// - CreateDir also creates missing parents (mkdir -p); ListDir returns sorted names without
//   "." and "..".
// - Lock takes flock(LOCK_EX|LOCK_NB) on the file (created if missing); a second Lock of the
//   same path, from this or another process, fails with IOError "... is locked by another
//   process" until the first FileLock is destroyed.
// - Every errno goes through StatusFromErrno (errno_status.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tldb/file_system.h"

namespace tldb {

// Opens `path` for positional writes (O_RDWR | O_CLOEXEC, plus O_CREAT/O_EXCL as asked).
Result<int> OpenWritableFd(const std::string& path, bool create, bool exclusive);
// Opens `path` read-only (O_RDONLY | O_CLOEXEC).
Result<int> OpenReadableFd(const std::string& path);

// Owns `fd` (closed by Close or the destructor). Not thread-safe for concurrent Close.
class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path);
  ~PosixWritableFile() override;
  PosixWritableFile(const PosixWritableFile&) = delete;
  PosixWritableFile& operator=(const PosixWritableFile&) = delete;

  Status Write(uint64_t offset, std::span<const char> data) override;
  Status Sync() override;
  Status WriteBack(uint64_t offset, uint64_t len) override;
  Status Truncate(uint64_t size) override;
  Status Allocate(uint64_t offset, uint64_t len) override;
  Result<uint64_t> Size() override;
  Status Close() override;

 protected:
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // IOError naming the path when the file was closed.
  Status CheckOpen() const;

 private:
  Status ZeroFillBeyondEnd(uint64_t offset, uint64_t len);

  int fd_;
  std::string path_;
};

// Owns `fd`. Read is thread-safe (pread).
class PosixReadableFile : public ReadableFile {
 public:
  PosixReadableFile(int fd, std::string path);
  ~PosixReadableFile() override;
  PosixReadableFile(const PosixReadableFile&) = delete;
  PosixReadableFile& operator=(const PosixReadableFile&) = delete;

  Result<size_t> Read(uint64_t offset, size_t len, char* buf) override;
  Result<uint64_t> Size() override;

 protected:
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

// Stateless; safe to share between threads.
class PosixFileSystem : public FileSystem {
 public:
  std::string Name() const override { return "posix"; }
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool create,
                                                     bool exclusive) override;
  Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) override;
  Result<std::unique_ptr<MappedFile>> Map(const std::string& path) override;
  Status CreateDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Result<bool> Exists(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status Link(const std::string& from, const std::string& to) override;
  Result<std::unique_ptr<FileLock>> Lock(const std::string& path) override;
};

}  // namespace tldb
