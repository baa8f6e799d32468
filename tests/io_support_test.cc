// The I/O seam's support code: the errno mapping, DirName, the backend factory, and Allocate on a
// file system without fallocate (ext2 on a loop device).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tldb/errno_status.h"
#include "tldb/file_system.h"
#include "io/sim_file_system.h"
#include "io_test_util.h"

namespace tldb {
namespace {

// ---------------------------------------------------------------------------------------------
// Errno mapping, DirName and the factory.

TEST(ErrnoStatusTest, MapsErrnoToCodes) {
  using C = Status::Code;
  EXPECT_EQ(StatusFromErrno(ENOSPC, "w").code(), C::kNoSpace);
  EXPECT_EQ(StatusFromErrno(EDQUOT, "w").code(), C::kNoSpace);
  EXPECT_EQ(StatusFromErrno(ENOENT, "w").code(), C::kNotFound);
  EXPECT_EQ(StatusFromErrno(EACCES, "w").code(), C::kPermissionDenied);
  EXPECT_EQ(StatusFromErrno(EPERM, "w").code(), C::kPermissionDenied);
  EXPECT_EQ(StatusFromErrno(ENOSYS, "w").code(), C::kNotSupported);
  EXPECT_EQ(StatusFromErrno(EOPNOTSUPP, "w").code(), C::kNotSupported);
  EXPECT_EQ(StatusFromErrno(EIO, "w").code(), C::kIOError);
  EXPECT_EQ(StatusFromErrno(EINVAL, "pwrite").code(), C::kIOError);
  EXPECT_EQ(StatusFromErrno(EINVAL, "io_uring_setup").code(), C::kNotSupported);
  EXPECT_EQ(StatusFromErrno(EPERM, "io_uring_setup").code(), C::kNotSupported);
  EXPECT_EQ(StatusFromErrno(EIO, "pread /x/y at 5").message(),
            std::string("pread /x/y at 5: ") + std::strerror(EIO));
}

TEST(DirNameTest, Cases) {
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(DirName("/"), "/");
  EXPECT_EQ(DirName("/a/b/"), "/a");
  EXPECT_EQ(DirName("a//b"), "a");
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(NewFileSystemTest, Backends) {
  ScopedEnv env("TLDB_IO_BACKEND", nullptr);
  IO_ASSERT_OK_AND_ASSIGN(auto posix, NewFileSystem("posix"));
  EXPECT_EQ(posix->Name(), "posix");
  auto bad = NewFileSystem("bogus");
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  IO_ASSERT_OK_AND_ASSIGN(auto autofs, NewFileSystem("auto"));
  const bool uring_ok = NewUringFileSystem().ok();
  EXPECT_EQ(autofs->Name(), uring_ok ? "uring" : "posix");
  auto uring = NewFileSystem("uring");
  EXPECT_EQ(uring.ok(), uring_ok);
  if (!uring_ok) {
    EXPECT_EQ(uring.status().code(), Status::Code::kNotSupported);
  }
}

TEST(NewFileSystemTest, EnvOverride) {
  {
    ScopedEnv env("TLDB_IO_BACKEND", "posix");
    IO_ASSERT_OK_AND_ASSIGN(auto fs, NewFileSystem("auto"));
    EXPECT_EQ(fs->Name(), "posix");
  }
  {
    ScopedEnv env("TLDB_IO_BACKEND", "uring");
    auto fs = NewFileSystem("auto");
    if (fs.ok()) {
      EXPECT_EQ((*fs)->Name(), "uring");
    } else {
      EXPECT_EQ(fs.status().code(), Status::Code::kNotSupported);
    }
  }
  {
    ScopedEnv env("TLDB_IO_BACKEND", "floppy");
    EXPECT_EQ(NewFileSystem("auto").status().code(), Status::Code::kInvalidArgument);
  }
}

// ---- a file system without fallocate (ext2 on a loop device) ----

// A small ext2 file system loop-mounted for the test's lifetime. ext2 has no fallocate, so
// Allocate must reserve by writing zeros. mounted() is false, with why(), where the machine
// refuses (no mkfs.ext4, no loop devices, not root).
class LoopExt2 {
 public:
  explicit LoopExt2(uint32_t mib) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tldb_ext2.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      why_ = std::strerror(errno);
      return;
    }
    dir_ = tmpl;
    image_ = dir_ + ".img";
    const std::string mk = "dd if=/dev/zero of=" + image_ + " bs=1M count=" + std::to_string(mib) +
                           " status=none && mkfs.ext4 -q -t ext2 -F " + image_ +
                           " >/dev/null 2>&1 && mount -o loop " + image_ + " " + dir_ +
                           " >/dev/null 2>&1";
    mounted_ = std::system(mk.c_str()) == 0;
    if (!mounted_) why_ = "could not create and loop-mount an ext2 image (" + mk + ")";
  }
  ~LoopExt2() {
    if (mounted_) (void)std::system(("umount " + dir_ + " >/dev/null 2>&1").c_str());
    std::error_code ec;
    std::filesystem::remove(image_, ec);
    std::filesystem::remove_all(dir_, ec);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, image_, why_;
  bool mounted_ = false;
};

// Fills the file system with one file until it reports ENOSPC.
void FillUp(FileSystem& fs, const std::string& path) {
  auto f = fs.OpenWritable(path, true, false);
  ASSERT_TRUE(f.ok());
  const std::string chunk(64 << 10, 'f');
  uint64_t at = 0;
  for (Status s; s.ok(); at += chunk.size()) s = (*f)->Write(at, Bytes(chunk));
  (void)(*f)->Close();
}

TEST(NoFallocateTest, AllocateReservesByWritingZerosOnExt2) {
  LoopExt2 ext2(8);
  if (!ext2.mounted()) GTEST_SKIP() << ext2.why();
  auto fs = NewPosixFileSystem();
  const std::string seg = ext2.dir() + "/seg";
  IO_ASSERT_OK_AND_ASSIGN(auto w, fs->OpenWritable(seg, true, false));
  IO_ASSERT_OK(w->Write(0, Bytes("header")));
  IO_ASSERT_OK(w->Allocate(0, 2 << 20));
  IO_ASSERT_OK_AND_ASSIGN(uint64_t size, w->Size());
  EXPECT_EQ(size, uint64_t{2} << 20);  // zeros past the old end: the file grew
  FillUp(*fs, ext2.dir() + "/filler");
  // The disk is full, yet writes into the reserved range cannot fail for lack of space...
  const std::string records(1 << 20, 'r');
  IO_ASSERT_OK(w->Write(4096, Bytes(records)));
  IO_ASSERT_OK(w->Sync());
  // ...and a reservation beyond it reports NoSpace itself, before any record is written.
  Status more = w->Allocate(0, 4 << 20);
  EXPECT_EQ(more.code(), Status::Code::kNoSpace) << more.ToString();
  IO_ASSERT_OK(w->Close());
  auto back = fs->ReadFileToString(seg);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->substr(0, 6), "header");  // bytes already there are never overwritten
  EXPECT_EQ(back->substr(4096, records.size()), records);
}

}  // namespace
}  // namespace tldb
