// THE I/O SEAM. Every byte the engine reads or writes goes through these interfaces. Public, as
// LevelDB's Env: a user (or a test) may pass its own through Options::file_system.
//
// Backends:
//   posix_file_system.cc  plain pread/pwrite/fdatasync (fallback; works everywhere)
//   uring_file_system.cc  io_uring: writes linked with fdatasync, batched reads. The only
//                         translation unit that includes liburing.h.
//   sim_file_system.cc    in memory, deterministic, fault injecting (tests).
//
// Contract shared by all backends:
// - Paths are plain strings; directories are created explicitly.
// - WritableFile writes are positional. Bytes written are visible to readers of the same path
//   immediately (as with the OS page cache) but are durable only after Sync() returns OK.
// - A file created (or renamed) is durable in its directory only after SyncDir(dir).
// - Errors come back as Status; errno is mapped in errno_status.cc only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tldb/status.h"

namespace tldb {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all of `data` at `offset` (loops over short writes).
  virtual Status Write(uint64_t offset, std::span<const char> data) = 0;
  // fdatasync.
  virtual Status Sync() = 0;
  // Writes [offset, offset+len)'s dirty pages to the device and waits for them (Linux
  // sync_file_range): durable only after Sync(), which then has less to write. Lets a
  // background writer spread a large file's writeback over time, so that another file's
  // fdatasync (which flushes the device's cache, with whatever was written into it) never
  // carries all of it at once. A backend without it does nothing.
  virtual Status WriteBack(uint64_t offset, uint64_t len) {
    (void)offset;
    (void)len;
    return Status::Ok();
  }
  // Write then fdatasync; io_uring submits both linked in one syscall.
  virtual Status WriteAndSync(uint64_t offset, std::span<const char> data) {
    TLDB_RETURN_IF_ERROR(Write(offset, data));
    return Sync();
  }
  // Sets the file size (grows with zeros, or cuts).
  virtual Status Truncate(uint64_t size) = 0;
  // Reserves [offset, offset+len) (fallocate, keep size unchanged when keep_size).
  virtual Status Allocate(uint64_t offset, uint64_t len) = 0;
  virtual Result<uint64_t> Size() = 0;
  virtual Status Close() = 0;
};

class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads up to len bytes at offset into buf; returns bytes read (short only at end of file).
  virtual Result<size_t> Read(uint64_t offset, size_t len, char* buf) = 0;
  virtual Result<uint64_t> Size() = 0;
};

// A read-only mapping of a whole file (sealed segments and index files). The bytes stay valid
// until the object is destroyed.
class MappedFile {
 public:
  virtual ~MappedFile() = default;
  virtual std::span<const char> data() const = 0;
  // Hints that the whole mapping is about to be read (starts readahead; the POSIX backend also
  // maps every page at once, MADV_POPULATE_READ). Default: nothing.
  virtual void WillNeed() const {}
  // Hints that reads are random point reads: no readahead. Sealed segments are read a record or
  // a block at a time, and a fault on a disk with a large read_ahead_kb (8 MiB here) would
  // otherwise read megabytes per record. Default: nothing.
  virtual void AdviseRandom() const {}
  // A read under the mapping hit a disk error: its bad pages now read as zeros. The caller
  // answers IOError instead of using it. Default: never.
  virtual bool failed() const { return false; }
};

// Held while a process owns a data directory.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual std::string Name() const = 0;  // "posix", "uring", "sim"

  // Opens for writing; creates when `create` (and fails with AlreadyExists-like IOError if
  // `exclusive` and it exists).
  virtual Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool create,
                                                             bool exclusive) = 0;
  virtual Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) = 0;
  virtual Result<std::unique_ptr<MappedFile>> Map(const std::string& path) = 0;

  virtual Status CreateDir(const std::string& path) = 0;  // OK if it exists
  virtual Status SyncDir(const std::string& path) = 0;
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;  // names only
  virtual Result<bool> Exists(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  // Hard link: `to` names the same file as `from` (snapshots). NotSupported when the backend
  // cannot (the default) or the two paths are on different file systems; callers then copy.
  virtual Status Link(const std::string& from, const std::string& to);
  virtual Result<std::unique_ptr<FileLock>> Lock(const std::string& path) = 0;

  // Convenience: whole-file read and atomic replace (write tmp, sync, rename, sync dir).
  Result<std::string> ReadFileToString(const std::string& path);
  Status WriteFileAtomic(const std::string& path, std::span<const char> data);
  // Writes `data` as "<path>.tmp", over whatever that file held (a stale one from an earlier
  // attempt, or zeros written ahead to have its pages cached), cut to `data`'s size, and returns
  // the file, open and not synced: the first half of WriteFileAtomic, for a caller that syncs
  // later (an index file's sync waits off the append path).
  Result<std::unique_ptr<WritableFile>> WriteTemporary(const std::string& path,
                                                       std::span<const char> data);
};

// Backend factories.
std::shared_ptr<FileSystem> NewPosixFileSystem();
// Fails with NotSupported when the kernel refuses io_uring (common in containers).
Result<std::shared_ptr<FileSystem>> NewUringFileSystem();
// "auto" | "uring" | "posix".
Result<std::shared_ptr<FileSystem>> NewFileSystem(const std::string& backend);

// The directory part of a path ("a/b/c" -> "a/b", "c" -> ".").
std::string DirName(const std::string& path);

// Removes `path` and everything under it (a directory is what ListDir can list); OK when
// `path` does not exist. Not atomic: a crash may leave part of the tree.
Status RemoveTree(FileSystem& fs, const std::string& path);

}  // namespace tldb
