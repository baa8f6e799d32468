// FileSystem conveniences shared by every backend, DirName, and the backend factory.
#include "tldb/file_system.h"

#include <cstdlib>
#include <string_view>

#include "util/kill_point.h"

namespace tldb {

Result<std::string> FileSystem::ReadFileToString(const std::string& path) {
  TLDB_ASSIGN_OR_RETURN(auto file, OpenReadable(path));
  TLDB_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  std::string out(size, '\0');
  TLDB_ASSIGN_OR_RETURN(size_t n, file->Read(0, out.size(), out.data()));
  out.resize(n);
  return out;
}

Status FileSystem::Link(const std::string& from, const std::string& to) {
  return Status::NotSupported("hard link " + from + " -> " + to + ": not supported by the " +
                              Name() + " file system");
}

Result<std::unique_ptr<WritableFile>> FileSystem::WriteTemporary(const std::string& path,
                                                                 std::span<const char> data) {
  TLDB_ASSIGN_OR_RETURN(auto file,
                        OpenWritable(path + ".tmp", /*create=*/true, /*exclusive=*/false));
  // Written over, then cut: a stale tmp from an earlier attempt, or a file of zeros written
  // ahead so that these bytes land in pages already in the page cache (an index spare).
  TLDB_RETURN_IF_ERROR(file->Write(0, data));
  TLDB_RETURN_IF_ERROR(file->Truncate(data.size()));
  return file;
}

Status FileSystem::WriteFileAtomic(const std::string& path, std::span<const char> data) {
  const std::string tmp = path + ".tmp";
  TLDB_ASSIGN_OR_RETURN(auto file, WriteTemporary(path, data));
  TLDB_RETURN_IF_ERROR(file->Sync());
  TLDB_RETURN_IF_ERROR(file->Close());
  TLDB_KILL_POINT("atomic.after_tmp_sync");
  TLDB_RETURN_IF_ERROR(Rename(tmp, path));
  TLDB_KILL_POINT("atomic.after_rename");
  return SyncDir(DirName(path));
}

std::string DirName(const std::string& path) {
  std::string_view p = path;
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  const size_t slash = p.rfind('/');
  if (slash == std::string_view::npos) return ".";
  std::string_view dir = p.substr(0, slash);
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  if (dir.empty()) return "/";
  return std::string(dir);
}

Status RemoveTree(FileSystem& fs, const std::string& path) {
  TLDB_ASSIGN_OR_RETURN(bool exists, fs.Exists(path));
  if (!exists) return Status::Ok();
  auto names = fs.ListDir(path);
  if (names.ok()) {
    for (const std::string& n : *names) TLDB_RETURN_IF_ERROR(RemoveTree(fs, path + "/" + n));
  }
  return fs.Remove(path);
}

namespace {

// "auto": TLDB_IO_BACKEND=posix|uring forces a backend; otherwise io_uring when the kernel
// allows it, else POSIX.
Result<std::shared_ptr<FileSystem>> NewAutoFileSystem() {
  const char* env = std::getenv("TLDB_IO_BACKEND");
  const std::string_view forced = env == nullptr ? "" : env;
  if (forced == "posix") return NewPosixFileSystem();
  if (forced == "uring") return NewUringFileSystem();
  if (!forced.empty() && forced != "auto") {
    return Status::InvalidArgument("TLDB_IO_BACKEND=" + std::string(forced) +
                                   ": expected posix, uring or auto");
  }
  auto uring = NewUringFileSystem();
  if (uring.ok()) return uring;
  if (uring.status().code() == Status::Code::kNotSupported) return NewPosixFileSystem();
  return uring.status();
}

}  // namespace

Result<std::shared_ptr<FileSystem>> NewFileSystem(const std::string& backend) {
  if (backend == "auto") return NewAutoFileSystem();
  if (backend == "uring") return NewUringFileSystem();
  if (backend == "posix") return NewPosixFileSystem();
  return Status::InvalidArgument("unknown I/O backend '" + backend +
                                 "': expected auto, uring or posix");
}

}  // namespace tldb
