// POSIX backend (see posix_file_system.h for the contract).
#include "io/posix_file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "tldb/errno_status.h"
#include "io/posix_mapped_file.h"

namespace tldb {
namespace {

// Linux transfers at most 0x7ffff000 bytes per call; stay well below.
constexpr size_t kMaxChunk = size_t{1} << 30;

Status Errno(std::string_view op, const std::string& path) {
  const int err = errno;
  std::string ctx(op);
  ctx += " ";
  ctx += path;
  return StatusFromErrno(err, ctx);
}

Status ErrnoAt(std::string_view op, const std::string& path, uint64_t offset) {
  const int err = errno;
  std::string ctx(op);
  ctx += " ";
  ctx += path;
  ctx += " at ";
  ctx += std::to_string(offset);
  return StatusFromErrno(err, ctx);
}

int RetryOpen(const char* path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

Result<struct stat> Stat(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Errno("stat", path);
  return st;
}

Result<uint64_t> FdSize(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Errno("fstat", path);
  return static_cast<uint64_t>(st.st_size);
}

// Holds the flock'ed descriptor; closing it releases the lock.
class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }
  PosixFileLock(const PosixFileLock&) = delete;
  PosixFileLock& operator=(const PosixFileLock&) = delete;

 private:
  int fd_;
};

Status MkdirOne(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return Status::Ok();
  if (errno != EEXIST) return Errno("mkdir", path);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::Ok();
  return Status::IOError("mkdir " + path + ": exists and is not a directory");
}

}  // namespace

Result<int> OpenWritableFd(const std::string& path, bool create, bool exclusive) {
  int flags = O_RDWR | O_CLOEXEC;
  if (create) flags |= O_CREAT;
  if (create && exclusive) flags |= O_EXCL;
  const int fd = RetryOpen(path.c_str(), flags, 0644);
  if (fd < 0) return Errno("open", path);
  return fd;
}

Result<int> OpenReadableFd(const std::string& path) {
  const int fd = RetryOpen(path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return Errno("open", path);
  return fd;
}

// ---- PosixWritableFile ----

PosixWritableFile::PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

PosixWritableFile::~PosixWritableFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status PosixWritableFile::CheckOpen() const {
  if (fd_ < 0) return Status::IOError(path_ + ": file is closed");
  return Status::Ok();
}

Status PosixWritableFile::Write(uint64_t offset, std::span<const char> data) {
  TLDB_RETURN_IF_ERROR(CheckOpen());
  while (!data.empty()) {
    const size_t chunk = std::min(data.size(), kMaxChunk);
    const ssize_t n = ::pwrite(fd_, data.data(), chunk, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoAt("pwrite", path_, offset);
    }
    if (n == 0) return Status::IOError("pwrite " + path_ + ": wrote 0 bytes");
    data = data.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status PosixWritableFile::Sync() {
  TLDB_RETURN_IF_ERROR(CheckOpen());
  if (::fdatasync(fd_) != 0) return Errno("fdatasync", path_);
  return Status::Ok();
}

Status PosixWritableFile::WriteBack(uint64_t offset, uint64_t len) {
  TLDB_RETURN_IF_ERROR(CheckOpen());
  constexpr unsigned kFlags =
      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
  int rc;
  do {
    rc = ::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(len), kFlags);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return ErrnoAt("sync_file_range", path_, offset);
  return Status::Ok();
}

Status PosixWritableFile::Truncate(uint64_t size) {
  TLDB_RETURN_IF_ERROR(CheckOpen());
  int rc;
  do {
    rc = ::ftruncate(fd_, static_cast<off_t>(size));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return ErrnoAt("ftruncate", path_, size);
  return Status::Ok();
}

Status PosixWritableFile::Allocate(uint64_t offset, uint64_t len) {
  TLDB_RETURN_IF_ERROR(CheckOpen());
  if (len == 0) return Status::Ok();
  int rc;
  do {
    rc = ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset), static_cast<off_t>(len));
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return Status::Ok();
  if (errno == EOPNOTSUPP || errno == ENOSYS) return ZeroFillBeyondEnd(offset, len);
  return ErrnoAt("fallocate", path_, offset);
}

// The reservation without fallocate (ext2, some network and FUSE file systems): zeros written
// over the part of the range past the end of the file take their blocks now, so a write into
// them later cannot fail for lack of space. Bytes already in the file are never touched.
Status PosixWritableFile::ZeroFillBeyondEnd(uint64_t offset, uint64_t len) {
  static constexpr size_t kZeroChunkBytes = 1u << 20;
  // Never destroyed: a store's thread may still write while the process exits
  // (SegmentPreparer::WriteZeros had the same use after free).
  static const std::vector<char>* const zeros = new std::vector<char>(kZeroChunkBytes, 0);
  TLDB_ASSIGN_OR_RETURN(uint64_t size, FdSize(fd_, path_));
  for (uint64_t at = std::max(offset, size); at < offset + len;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroChunkBytes, offset + len - at));
    TLDB_RETURN_IF_ERROR(PosixWritableFile::Write(at, {zeros->data(), n}));
    at += n;
  }
  return Status::Ok();
}

Result<uint64_t> PosixWritableFile::Size() {
  TLDB_RETURN_IF_ERROR(CheckOpen());
  return FdSize(fd_, path_);
}

Status PosixWritableFile::Close() {
  if (fd_ < 0) return Status::Ok();
  const int fd = fd_;
  fd_ = -1;
  // Never retry close(): on Linux the descriptor is released even when it reports EINTR.
  if (::close(fd) != 0 && errno != EINTR) return Errno("close", path_);
  return Status::Ok();
}

// ---- PosixReadableFile ----

PosixReadableFile::PosixReadableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

PosixReadableFile::~PosixReadableFile() {
  ::close(fd_);
}

Result<size_t> PosixReadableFile::Read(uint64_t offset, size_t len, char* buf) {
  size_t done = 0;
  while (done < len) {
    const size_t chunk = std::min(len - done, kMaxChunk);
    const ssize_t n = ::pread(fd_, buf + done, chunk, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoAt("pread", path_, offset + done);
    }
    if (n == 0) break;  // end of file
    done += static_cast<size_t>(n);
  }
  return done;
}

Result<uint64_t> PosixReadableFile::Size() {
  return FdSize(fd_, path_);
}

// ---- PosixFileSystem ----

Result<std::unique_ptr<WritableFile>> PosixFileSystem::OpenWritable(const std::string& path,
                                                                    bool create, bool exclusive) {
  TLDB_ASSIGN_OR_RETURN(int fd, OpenWritableFd(path, create, exclusive));
  return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(fd, path));
}

Result<std::unique_ptr<ReadableFile>> PosixFileSystem::OpenReadable(const std::string& path) {
  TLDB_ASSIGN_OR_RETURN(int fd, OpenReadableFd(path));
  return std::unique_ptr<ReadableFile>(std::make_unique<PosixReadableFile>(fd, path));
}

Result<std::unique_ptr<MappedFile>> PosixFileSystem::Map(const std::string& path) {
  TLDB_ASSIGN_OR_RETURN(int fd, OpenReadableFd(path));
  auto size = FdSize(fd, path);
  if (!size.ok() || *size == 0) {
    ::close(fd);
    if (!size.ok()) return size.status();
    return std::unique_ptr<MappedFile>(std::make_unique<PosixMappedFile>(nullptr, 0));
  }
  void* addr = ::mmap(nullptr, *size, PROT_READ, MAP_SHARED, fd, 0);
  Status st = addr == MAP_FAILED ? Errno("mmap", path) : Status::Ok();
  ::close(fd);  // the mapping keeps the file alive
  if (!st.ok()) return st;
  return std::unique_ptr<MappedFile>(std::make_unique<PosixMappedFile>(addr, *size));
}

Status PosixFileSystem::CreateDir(const std::string& path) {
  // Create each missing ancestor in turn ("a", "a/b", "a/b/c").
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    if (path[pos - 1] == '/') continue;
    TLDB_RETURN_IF_ERROR(MkdirOne(path.substr(0, pos)));
  }
  return MkdirOne(path);
}

Status PosixFileSystem::SyncDir(const std::string& path) {
  const int fd = RetryOpen(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return Errno("open directory", path);
  Status st = ::fsync(fd) == 0 ? Status::Ok() : Errno("fsync directory", path);
  ::close(fd);
  return st;
}

Result<std::vector<std::string>> PosixFileSystem::ListDir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return Errno("opendir", path);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* ent = ::readdir(dir)) {
    const std::string_view name = ent->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  Status st = errno == 0 ? Status::Ok() : Errno("readdir", path);
  ::closedir(dir);
  if (!st.ok()) return st;
  std::sort(names.begin(), names.end());
  return names;
}

Result<bool> PosixFileSystem::Exists(const std::string& path) {
  auto st = Stat(path);
  if (st.ok()) return true;
  if (st.status().IsNotFound()) return false;
  return st.status();
}

Result<uint64_t> PosixFileSystem::FileSize(const std::string& path) {
  TLDB_ASSIGN_OR_RETURN(struct stat st, Stat(path));
  return static_cast<uint64_t>(st.st_size);
}

Status PosixFileSystem::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Errno("rename", from + " -> " + to);
  return Status::Ok();
}

Status PosixFileSystem::Remove(const std::string& path) {
  if (::unlink(path.c_str()) == 0) return Status::Ok();
  if (errno != EISDIR) return Errno("unlink", path);
  if (::rmdir(path.c_str()) == 0) return Status::Ok();
  return Errno("rmdir", path);
}

Status PosixFileSystem::Link(const std::string& from, const std::string& to) {
  if (::link(from.c_str(), to.c_str()) != 0) return Errno("link", from + " -> " + to);
  return Status::Ok();
}

Result<std::unique_ptr<FileLock>> PosixFileSystem::Lock(const std::string& path) {
  const int fd = RetryOpen(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open lock file", path);
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return std::unique_ptr<FileLock>(std::make_unique<PosixFileLock>(fd));
  const int err = errno;
  ::close(fd);
  if (err == EWOULDBLOCK) return Status::IOError(path + " is locked by another process");
  errno = err;
  return Errno("flock", path);
}

std::shared_ptr<FileSystem> NewPosixFileSystem() {
  return std::make_shared<PosixFileSystem>();
}

}  // namespace tldb
