// Tests for the I/O seam: one contract suite run over the posix, uring and sim backends, plus
// the simulated file system's fault-injection and power-loss model, the errno mapping, DirName
// and the backend factory.
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

#include "io/errno_status.h"
#include "tldb/file_system.h"
#include "io/sim_file_system.h"

namespace tldb {
namespace {

Status ToStatus(const Status& s) {
  return s;
}
template <typename T>
Status ToStatus(const Result<T>& r) {
  return r.status();
}

#define IO_ASSERT_OK(expr)                                  \
  do {                                                      \
    const ::tldb::Status _s = ToStatus(expr);               \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define IO_EXPECT_OK(expr)                                  \
  do {                                                      \
    const ::tldb::Status _s = ToStatus(expr);               \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define IO_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  IO_ASSERT_OK_AND_ASSIGN_IMPL(TLDB_CONCAT(_io_r_, __LINE__), lhs, expr)
#define IO_ASSERT_OK_AND_ASSIGN_IMPL(r, lhs, expr)               \
  auto r = (expr);                                               \
  ASSERT_TRUE(r.ok()) << #expr << ": " << r.status().ToString(); \
  lhs = std::move(r).value()

std::span<const char> Bytes(const std::string& s) {
  return {s.data(), s.size()};
}

// Deterministic, position-dependent content so misplaced bytes show up.
std::string Pattern(size_t n, uint32_t salt = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 131 + size_t{salt} * 7 + i / 251) & 0xff);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Contract tests, one instantiation per backend.

class FileSystemContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string& backend = GetParam();
    if (backend == "sim") {
      fs_ = std::make_shared<SimFileSystem>();
      root_ = "/sim/root";
      IO_ASSERT_OK(fs_->CreateDir(root_));
      return;
    }
    if (backend == "uring") {
      auto r = NewUringFileSystem();
      if (!r.ok() && r.status().code() == Status::Code::kNotSupported) {
        GTEST_SKIP() << "io_uring not supported here: " << r.status().ToString();
      }
      IO_ASSERT_OK(r);
      fs_ = *r;
    } else {
      fs_ = NewPosixFileSystem();
    }
    std::string tmpl = (std::filesystem::temp_directory_path() / "tldb_io_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    root_ = tmpl;
    owns_dir_ = true;
  }

  void TearDown() override {
    if (!owns_dir_) return;
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  std::string P(const std::string& name) const { return root_ + "/" + name; }

  void WriteFile(const std::string& name, const std::string& content) {
    IO_ASSERT_OK_AND_ASSIGN(auto f, fs_->OpenWritable(P(name), true, false));
    IO_ASSERT_OK(f->Write(0, Bytes(content)));
    IO_ASSERT_OK(f->Sync());
    IO_ASSERT_OK(f->Close());
  }

  std::string ReadAll(const std::string& name) {
    auto r = fs_->ReadFileToString(P(name));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : std::string();
  }

  std::shared_ptr<FileSystem> fs_;
  std::string root_;
  bool owns_dir_ = false;
};

TEST_P(FileSystemContractTest, NameMatchesBackend) {
  EXPECT_EQ(fs_->Name(), GetParam());
}

TEST_P(FileSystemContractTest, WriteReadRoundTrip) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, fs_->OpenWritable(P("f"), true, true));
  IO_ASSERT_OK(w->Write(0, Bytes("hello")));
  IO_ASSERT_OK(w->Write(5, Bytes(" world")));
  IO_ASSERT_OK(w->Write(0, Bytes("J")));  // positional overwrite
  IO_ASSERT_OK_AND_ASSIGN(uint64_t size, w->Size());
  EXPECT_EQ(size, 11u);

  // Visible to readers before any Sync.
  IO_ASSERT_OK_AND_ASSIGN(auto r, fs_->OpenReadable(P("f")));
  std::string buf(11, '\0');
  IO_ASSERT_OK_AND_ASSIGN(size_t n, r->Read(0, buf.size(), buf.data()));
  EXPECT_EQ(n, 11u);
  EXPECT_EQ(buf, "Jello world");
  std::string mid(5, '\0');
  IO_ASSERT_OK_AND_ASSIGN(n, r->Read(6, 5, mid.data()));
  EXPECT_EQ(mid, "world");
  IO_ASSERT_OK_AND_ASSIGN(size, r->Size());
  EXPECT_EQ(size, 11u);
  IO_EXPECT_OK(w->Close());
}

TEST_P(FileSystemContractTest, LargeWriteRoundTrip) {
  const std::string big = Pattern(3 * 1024 * 1024 + 17);
  WriteFile("big", big);
  EXPECT_EQ(ReadAll("big"), big);
}

TEST_P(FileSystemContractTest, ShortReadAtEof) {
  WriteFile("f", "0123456789A");
  IO_ASSERT_OK_AND_ASSIGN(auto r, fs_->OpenReadable(P("f")));
  char buf[100];
  IO_ASSERT_OK_AND_ASSIGN(size_t n, r->Read(8, sizeof(buf), buf));
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(std::string(buf, n), "89A");
  IO_ASSERT_OK_AND_ASSIGN(n, r->Read(11, 10, buf));
  EXPECT_EQ(n, 0u);
  IO_ASSERT_OK_AND_ASSIGN(n, r->Read(1000, 10, buf));
  EXPECT_EQ(n, 0u);
}

TEST_P(FileSystemContractTest, WriteAndSync) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, fs_->OpenWritable(P("log"), true, false));
  std::string expect;
  uint64_t off = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string rec = Pattern(100 + static_cast<size_t>(i) * 997, static_cast<uint32_t>(i));
    IO_ASSERT_OK(w->WriteAndSync(off, Bytes(rec)));
    off += rec.size();
    expect += rec;
  }
  IO_ASSERT_OK(w->WriteAndSync(off, {}));  // empty: just a sync
  const std::string big = Pattern(size_t{2} << 20, 9);
  IO_ASSERT_OK(w->WriteAndSync(off, Bytes(big)));
  expect += big;
  IO_ASSERT_OK(w->Close());
  EXPECT_EQ(ReadAll("log"), expect);
}

TEST_P(FileSystemContractTest, Truncate) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, fs_->OpenWritable(P("t"), true, false));
  IO_ASSERT_OK(w->Write(0, Bytes(Pattern(100))));
  IO_ASSERT_OK(w->Truncate(10));
  IO_ASSERT_OK_AND_ASSIGN(uint64_t size, w->Size());
  EXPECT_EQ(size, 10u);
  IO_ASSERT_OK(w->Truncate(20));
  IO_ASSERT_OK(w->Sync());
  IO_ASSERT_OK(w->Close());
  const std::string got = ReadAll("t");
  EXPECT_EQ(got, Pattern(100).substr(0, 10) + std::string(10, '\0'));
}

TEST_P(FileSystemContractTest, AllocateKeepsSize) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, fs_->OpenWritable(P("a"), true, false));
  IO_ASSERT_OK(w->Write(0, Bytes("abc")));
  IO_ASSERT_OK(w->Allocate(0, 1 << 20));
  IO_ASSERT_OK(w->Allocate(0, 0));
  IO_ASSERT_OK_AND_ASSIGN(uint64_t size, w->Size());
  EXPECT_EQ(size, 3u);
  IO_ASSERT_OK(w->Write(3, Bytes("def")));
  IO_ASSERT_OK(w->Close());
  EXPECT_EQ(ReadAll("a"), "abcdef");
}

TEST_P(FileSystemContractTest, Map) {
  const std::string content = Pattern(10000);
  WriteFile("m", content);
  IO_ASSERT_OK_AND_ASSIGN(auto m, fs_->Map(P("m")));
  EXPECT_EQ(std::string(m->data().data(), m->data().size()), content);

  WriteFile("empty", "");
  IO_ASSERT_OK_AND_ASSIGN(auto e, fs_->Map(P("empty")));
  EXPECT_TRUE(e->data().empty());

  auto missing = fs_->Map(P("missing"));
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
}

TEST_P(FileSystemContractTest, ListDir) {
  WriteFile("b", "1");
  WriteFile("a", "2");
  IO_ASSERT_OK(fs_->CreateDir(P("sub")));
  IO_ASSERT_OK(fs_->CreateDir(P("sub")));  // OK if it exists
  WriteFile("sub/inner", "3");
  IO_ASSERT_OK_AND_ASSIGN(auto names, fs_->ListDir(root_));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "sub"}));
  IO_ASSERT_OK_AND_ASSIGN(names, fs_->ListDir(P("sub")));
  EXPECT_EQ(names, (std::vector<std::string>{"inner"}));
  EXPECT_TRUE(fs_->ListDir(P("nope")).status().IsNotFound());
}

TEST_P(FileSystemContractTest, CreateDirMakesParents) {
  IO_ASSERT_OK(fs_->CreateDir(P("x/y/z")));
  IO_ASSERT_OK_AND_ASSIGN(bool exists, fs_->Exists(P("x/y/z")));
  EXPECT_TRUE(exists);
  IO_ASSERT_OK(fs_->SyncDir(P("x/y")));
  WriteFile("x/y/z/f", "deep");
  EXPECT_EQ(ReadAll("x/y/z/f"), "deep");
}

TEST_P(FileSystemContractTest, Rename) {
  WriteFile("from", "payload");
  WriteFile("victim", "old");
  IO_ASSERT_OK(fs_->Rename(P("from"), P("to")));
  IO_ASSERT_OK_AND_ASSIGN(bool exists, fs_->Exists(P("from")));
  EXPECT_FALSE(exists);
  EXPECT_EQ(ReadAll("to"), "payload");
  IO_ASSERT_OK(fs_->Rename(P("to"), P("victim")));  // replaces
  EXPECT_EQ(ReadAll("victim"), "payload");
  IO_ASSERT_OK(fs_->SyncDir(root_));
  EXPECT_TRUE(fs_->Rename(P("missing"), P("x")).IsNotFound());
}

TEST_P(FileSystemContractTest, RemoveAndExists) {
  WriteFile("f", "x");
  IO_ASSERT_OK_AND_ASSIGN(bool exists, fs_->Exists(P("f")));
  EXPECT_TRUE(exists);
  IO_ASSERT_OK(fs_->Remove(P("f")));
  IO_ASSERT_OK_AND_ASSIGN(exists, fs_->Exists(P("f")));
  EXPECT_FALSE(exists);
  EXPECT_TRUE(fs_->Remove(P("f")).IsNotFound());
  IO_ASSERT_OK(fs_->CreateDir(P("d")));
  IO_ASSERT_OK(fs_->Remove(P("d")));  // an empty directory
  IO_ASSERT_OK_AND_ASSIGN(exists, fs_->Exists(P("d")));
  EXPECT_FALSE(exists);
}

TEST_P(FileSystemContractTest, FileSize) {
  WriteFile("f", Pattern(12345));
  IO_ASSERT_OK_AND_ASSIGN(uint64_t size, fs_->FileSize(P("f")));
  EXPECT_EQ(size, 12345u);
  EXPECT_TRUE(fs_->FileSize(P("missing")).status().IsNotFound());
}

TEST_P(FileSystemContractTest, LockIsExclusive) {
  {
    IO_ASSERT_OK_AND_ASSIGN(auto lock, fs_->Lock(P("LOCK")));
    auto second = fs_->Lock(P("LOCK"));
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), Status::Code::kIOError);
    EXPECT_NE(second.status().message().find("is locked by another process"), std::string::npos)
        << second.status().ToString();
  }
  IO_ASSERT_OK_AND_ASSIGN(auto again, fs_->Lock(P("LOCK")));  // released with the first
}

TEST_P(FileSystemContractTest, WriteFileAtomic) {
  const std::string first = "a much longer first version of the file";
  IO_ASSERT_OK(fs_->WriteFileAtomic(P("MANIFEST"), Bytes(first)));
  EXPECT_EQ(ReadAll("MANIFEST"), first);
  IO_ASSERT_OK(fs_->WriteFileAtomic(P("MANIFEST"), Bytes("v2")));
  EXPECT_EQ(ReadAll("MANIFEST"), "v2");
  IO_ASSERT_OK_AND_ASSIGN(auto names, fs_->ListDir(root_));
  EXPECT_EQ(names, (std::vector<std::string>{"MANIFEST"}));  // no .tmp left behind
}

TEST_P(FileSystemContractTest, ReadBatchManyRequests) {
  const std::string content = Pattern(1 << 20, 3);
  WriteFile("data", content);
  IO_ASSERT_OK_AND_ASSIGN(auto r, fs_->OpenReadable(P("data")));
  constexpr size_t kReqs = 300;  // more than one ring's worth
  std::vector<std::string> bufs(kReqs);
  std::vector<ReadRequest> reqs(kReqs);
  for (size_t i = 0; i < kReqs; ++i) {
    const uint64_t off = (i * 7919 * 13) % (content.size() + 4096);  // some beyond the end
    const size_t len = 1 + (i * 104729) % 9000;
    bufs[i].assign(len, '\xee');
    reqs[i] = {off, len, bufs[i].data()};
  }
  IO_ASSERT_OK(r->ReadBatch(reqs));
  for (size_t i = 0; i < kReqs; ++i) {
    const auto& q = reqs[i];
    ASSERT_TRUE(q.status.ok()) << i << ": " << q.status.ToString();
    const size_t expect_n =
        q.offset >= content.size() ? 0 : std::min<size_t>(q.len, content.size() - q.offset);
    ASSERT_EQ(q.bytes_read, expect_n) << "request " << i;
    ASSERT_EQ(std::string(q.buf, q.bytes_read),
              content.substr(std::min<size_t>(q.offset, content.size()), expect_n))
        << i;
  }
}

TEST_P(FileSystemContractTest, MissingFilesMapToNotFound) {
  auto r = fs_->OpenReadable(P("missing"));
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find("missing"), std::string::npos);
  auto w = fs_->OpenWritable(P("missing"), /*create=*/false, false);
  EXPECT_EQ(w.status().code(), Status::Code::kNotFound);
  auto nodir = fs_->OpenWritable(P("nodir/f"), true, false);
  EXPECT_EQ(nodir.status().code(), Status::Code::kNotFound);
  EXPECT_TRUE(fs_->SyncDir(P("nodir")).IsNotFound());
}

TEST_P(FileSystemContractTest, ExclusiveCreateOfExistingFails) {
  WriteFile("f", "x");
  auto w = fs_->OpenWritable(P("f"), true, /*exclusive=*/true);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Status::Code::kIOError) << w.status().ToString();
  IO_ASSERT_OK_AND_ASSIGN(auto reopened, fs_->OpenWritable(P("f"), false, false));
  IO_ASSERT_OK_AND_ASSIGN(uint64_t size, reopened->Size());
  EXPECT_EQ(size, 1u);  // opening does not truncate
}

TEST_P(FileSystemContractTest, WriteAfterCloseFails) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, fs_->OpenWritable(P("f"), true, false));
  IO_ASSERT_OK(w->Close());
  EXPECT_FALSE(w->Write(0, Bytes("x")).ok());
}

TEST_P(FileSystemContractTest, ConcurrentWritersAndReaders) {
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string name = P("t" + std::to_string(t));
      auto w = fs_->OpenWritable(name, true, false);
      if (!w.ok()) return void(errors[t] = w.status().ToString());
      const std::string rec = Pattern(4096, static_cast<uint32_t>(t));
      for (int i = 0; i < 50; ++i) {
        Status s = (*w)->WriteAndSync(static_cast<uint64_t>(i) * rec.size(), Bytes(rec));
        if (!s.ok()) return void(errors[t] = s.ToString());
      }
      auto r = fs_->OpenReadable(name);
      if (!r.ok()) return void(errors[t] = r.status().ToString());
      std::vector<std::string> bufs(50, std::string(rec.size(), '\0'));
      std::vector<ReadRequest> reqs(50);
      for (size_t i = 0; i < reqs.size(); ++i)
        reqs[i] = {i * rec.size(), rec.size(), bufs[i].data()};
      if (Status s = (*r)->ReadBatch(reqs); !s.ok()) return void(errors[t] = s.ToString());
      for (size_t i = 0; i < reqs.size(); ++i) {
        if (!reqs[i].status.ok() || bufs[i] != rec) return void(errors[t] = "bad read");
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
}

// RLIMIT_FSIZE makes the kernel return a short write at the limit and EFBIG after it, which
// exercises the short-write loops (and, for io_uring, the cancelled linked fsync).
TEST_P(FileSystemContractTest, ShortWriteAtFileSizeLimit) {
  if (GetParam() == "sim") GTEST_SKIP() << "the sim has ShortWriteNth instead";
  IO_ASSERT_OK_AND_ASSIGN(auto w, fs_->OpenWritable(P("capped"), true, false));
  const std::string data = Pattern(16384, 5);
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit capped = old;
  capped.rlim_cur = 10000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &capped), 0);
  const Status sync_status = w->WriteAndSync(0, Bytes(data));
  const Status write_status = w->Write(10000, Bytes(data));
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(sync_status.code(), Status::Code::kIOError) << sync_status.ToString();
  EXPECT_EQ(write_status.code(), Status::Code::kIOError) << write_status.ToString();
  IO_ASSERT_OK(w->Close());
  EXPECT_EQ(ReadAll("capped"), data.substr(0, 10000));
}

INSTANTIATE_TEST_SUITE_P(Backends, FileSystemContractTest,
                         ::testing::Values("posix", "uring", "sim"),
                         [](const auto& info) { return info.param; });

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

// ---------------------------------------------------------------------------------------------
// SimFileSystem: power loss and fault injection.

class SimTest : public ::testing::Test {
 protected:
  void SetUp() override { IO_ASSERT_OK(sim_.CreateDir("/db")); }

  // Creates /db/<name> with `durable` synced (file and directory entry) and `extra` appended
  // but not synced.
  void MakeFile(const std::string& name, const std::string& durable, const std::string& extra) {
    IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/" + name, true, false));
    IO_ASSERT_OK(w->Write(0, Bytes(durable)));
    IO_ASSERT_OK(w->Sync());
    IO_ASSERT_OK(sim_.SyncDir("/db"));
    IO_ASSERT_OK(w->Write(durable.size(), Bytes(extra)));
    IO_ASSERT_OK(w->Close());
  }

  std::string Data(const std::string& path) {
    auto r = sim_.GetFileData(path);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : std::string();
  }

  bool Exists(const std::string& path) {
    auto r = sim_.Exists(path);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && r.value();
  }

  SimFileSystem sim_;
};

TEST_F(SimTest, PowerLossDropDiscardsUnsyncedBytes) {
  MakeFile("f", "durable", "-volatile");
  EXPECT_EQ(Data("/db/f"), "durable-volatile");
  sim_.PowerLoss(UnsyncedMode::kDrop, 1);
  EXPECT_EQ(Data("/db/f"), "durable");
}

TEST_F(SimTest, PowerLossKeepKeepsUnsyncedBytes) {
  MakeFile("f", "durable", "-volatile");
  sim_.PowerLoss(UnsyncedMode::kKeep, 1);
  EXPECT_EQ(Data("/db/f"), "durable-volatile");
  sim_.PowerLoss(UnsyncedMode::kDrop, 2);  // now durable
  EXPECT_EQ(Data("/db/f"), "durable-volatile");
}

TEST_F(SimTest, UnsyncedOverwriteRevertsOnDrop) {
  MakeFile("f", "AAAAAAAA", "");
  IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/f", false, false));
  IO_ASSERT_OK(w->Write(2, Bytes("BB")));
  IO_ASSERT_OK(w->Truncate(6));
  sim_.PowerLoss(UnsyncedMode::kDrop, 3);
  EXPECT_EQ(Data("/db/f"), "AAAAAAAA");
}

TEST_F(SimTest, Tear512CutsAtBoundaryBetweenDurableAndVisible) {
  const std::string durable = Pattern(1000, 1);
  const std::string extra = Pattern(4000, 2);
  const std::string visible = durable + extra;
  std::set<size_t> sizes;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    SimFileSystem sim;
    IO_ASSERT_OK(sim.CreateDir("/db"));
    IO_ASSERT_OK_AND_ASSIGN(auto w, sim.OpenWritable("/db/f", true, false));
    IO_ASSERT_OK(w->Write(0, Bytes(durable)));
    IO_ASSERT_OK(w->Sync());
    IO_ASSERT_OK(sim.SyncDir("/db"));
    IO_ASSERT_OK(w->Write(durable.size(), Bytes(extra)));
    sim.PowerLoss(UnsyncedMode::kTear512, seed);
    IO_ASSERT_OK_AND_ASSIGN(std::string got, sim.GetFileData("/db/f"));
    const size_t n = got.size();
    EXPECT_TRUE(n == durable.size() || (n % 512 == 0 && n > durable.size() && n <= visible.size()))
        << "seed " << seed << " size " << n;
    EXPECT_EQ(got, visible.substr(0, n)) << "seed " << seed;
    sizes.insert(n);
  }
  EXPECT_GE(sizes.size(), 3u);  // the cut really is random
}

TEST_F(SimTest, ZeroFillZeroesUnsyncedRanges) {
  MakeFile("f", std::string(1000, 'A'), std::string(1000, 'B'));
  IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/f", false, false));
  IO_ASSERT_OK(w->Write(10, Bytes(std::string(10, 'C'))));
  sim_.PowerLoss(UnsyncedMode::kZeroFill, 4);
  const std::string expect = std::string(10, 'A') + std::string(10, '\0') + std::string(980, 'A') +
                             std::string(1000, '\0');
  EXPECT_EQ(Data("/db/f"), expect);
}

TEST_F(SimTest, GarbageFillScramblesUnsyncedRanges) {
  MakeFile("f", std::string(1000, 'A'), std::string(1000, 'B'));
  sim_.PowerLoss(UnsyncedMode::kGarbageFill, 5);
  const std::string got = Data("/db/f");
  ASSERT_EQ(got.size(), 2000u);
  EXPECT_EQ(got.substr(0, 1000), std::string(1000, 'A'));
  EXPECT_NE(got.substr(1000), std::string(1000, 'B'));
  EXPECT_NE(got.substr(1000), std::string(1000, '\0'));
}

TEST_F(SimTest, RandomModeIsDeterministicPerSeed) {
  auto run = [](uint64_t seed) {
    SimFileSystem sim;
    EXPECT_TRUE(sim.CreateDir("/db").ok());
    for (int i = 0; i < 8; ++i) {
      const std::string name = "/db/f" + std::to_string(i);
      EXPECT_TRUE(sim.SetFileData(name, std::string(700, 'D')).ok());
      auto w = sim.OpenWritable(name, false, false);
      EXPECT_TRUE(w.ok() && (*w)->Write(700, Bytes(Pattern(3000, i))).ok());
    }
    IO_EXPECT_OK(sim.CreateDir("/db/new"));
    auto w = sim.OpenWritable("/db/new/x", true, false);
    EXPECT_TRUE(w.ok());
    sim.PowerLoss(UnsyncedMode::kRandom, seed);
    std::string all;
    auto names = sim.ListDir("/db");
    EXPECT_TRUE(names.ok());
    for (const auto& name : *names) {
      auto d = sim.GetFileData("/db/" + name);
      all += name + "=" + (d.ok() ? d.value() : std::string("<dir>")) + ";";
    }
    return all;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST_F(SimTest, FileWithoutSyncDirMayVanish) {
  int vanished = 0;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    SimFileSystem sim;
    IO_ASSERT_OK(sim.CreateDir("/db"));
    IO_ASSERT_OK_AND_ASSIGN(auto w, sim.OpenWritable("/db/seg", true, false));
    IO_ASSERT_OK(w->WriteAndSync(0, Bytes("synced bytes")));  // data synced, entry not
    sim.PowerLoss(UnsyncedMode::kKeep, seed);
    IO_ASSERT_OK_AND_ASSIGN(bool exists, sim.Exists("/db/seg"));
    if (!exists) {
      ++vanished;
    } else {
      IO_ASSERT_OK_AND_ASSIGN(std::string got, sim.GetFileData("/db/seg"));
      EXPECT_EQ(got, "synced bytes");
    }
  }
  EXPECT_GT(vanished, 0);
  EXPECT_LT(vanished, 32);
}

TEST_F(SimTest, FileNeverVanishesAfterSyncDir) {
  for (uint64_t seed = 0; seed < 32; ++seed) {
    SimFileSystem sim;
    IO_ASSERT_OK(sim.CreateDir("/db"));
    IO_ASSERT_OK_AND_ASSIGN(auto w, sim.OpenWritable("/db/seg", true, false));
    IO_ASSERT_OK(w->WriteAndSync(0, Bytes("synced bytes")));
    IO_ASSERT_OK(sim.SyncDir("/db"));
    sim.PowerLoss(UnsyncedMode::kRandom, seed);
    IO_ASSERT_OK_AND_ASSIGN(std::string got, sim.GetFileData("/db/seg"));
    EXPECT_EQ(got, "synced bytes") << "seed " << seed;
  }
}

TEST_F(SimTest, UnsyncedRenameLandsAtOneNameOnly) {
  std::set<std::string> outcomes;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    SimFileSystem sim;
    IO_ASSERT_OK(sim.SetFileData("/db/MANIFEST.tmp", "new"));
    IO_ASSERT_OK(sim.SetFileData("/db/MANIFEST", "old"));
    IO_ASSERT_OK(sim.Rename("/db/MANIFEST.tmp", "/db/MANIFEST"));
    sim.PowerLoss(UnsyncedMode::kKeep, seed);
    IO_ASSERT_OK_AND_ASSIGN(std::string got, sim.GetFileData("/db/MANIFEST"));
    IO_ASSERT_OK_AND_ASSIGN(bool tmp, sim.Exists("/db/MANIFEST.tmp"));
    EXPECT_TRUE((got == "old" && tmp) || (got == "new" && !tmp)) << got << " " << tmp;
    outcomes.insert(got);
  }
  EXPECT_EQ(outcomes.size(), 2u);
}

TEST_F(SimTest, UnsyncedRemoveMayBeUndone) {
  std::set<bool> outcomes;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    SimFileSystem sim;
    IO_ASSERT_OK(sim.SetFileData("/db/old-seg", "bytes"));
    IO_ASSERT_OK(sim.Remove("/db/old-seg"));
    sim.PowerLoss(UnsyncedMode::kKeep, seed);
    IO_ASSERT_OK_AND_ASSIGN(bool exists, sim.Exists("/db/old-seg"));
    outcomes.insert(exists);
  }
  EXPECT_EQ(outcomes.size(), 2u);
  SimFileSystem sim;
  IO_ASSERT_OK(sim.SetFileData("/db/old-seg", "bytes"));
  IO_ASSERT_OK(sim.Remove("/db/old-seg"));
  IO_ASSERT_OK(sim.SyncDir("/db"));
  for (uint64_t seed = 0; seed < 8; ++seed) {
    sim.PowerLoss(UnsyncedMode::kKeep, seed);
    IO_ASSERT_OK_AND_ASSIGN(bool exists, sim.Exists("/db/old-seg"));
    EXPECT_FALSE(exists);
  }
}

TEST_F(SimTest, FailNthWriteOnce) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/f", true, false));
  sim_.FailNth(SimOp::kWrite, 2, /*persistent=*/false, Status::IOError("injected EIO"));
  IO_EXPECT_OK(w->Write(0, Bytes("a")));
  Status s = w->Write(1, Bytes("b"));
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "injected EIO");
  EXPECT_EQ(Data("/db/f"), "a");  // the failed write changed nothing
  IO_EXPECT_OK(w->Write(1, Bytes("c")));
  IO_EXPECT_OK(w->Write(2, Bytes("d")));
  EXPECT_EQ(Data("/db/f"), "acd");
}

TEST_F(SimTest, FailNthWritePersistent) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/f", true, false));
  sim_.FailNth(SimOp::kWrite, 2, /*persistent=*/true, Status::NoSpace("injected ENOSPC"));
  IO_EXPECT_OK(w->Write(0, Bytes("a")));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(w->Write(1, Bytes("b")).code(), Status::Code::kNoSpace);
  IO_EXPECT_OK(w->Sync());  // other kinds are unaffected
  sim_.ClearFaults();
  IO_EXPECT_OK(w->Write(1, Bytes("b")));
  EXPECT_EQ(Data("/db/f"), "ab");
}

TEST_F(SimTest, FailNthSyncOnceAndPersistent) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/f", true, false));
  IO_ASSERT_OK(sim_.SyncDir("/db"));
  sim_.FailNth(SimOp::kSync, 1, false, Status::IOError("sync EIO"));
  IO_ASSERT_OK(w->Write(0, Bytes("x")));
  EXPECT_FALSE(w->Sync().ok());
  IO_EXPECT_OK(w->Sync());
  sim_.FailNth(SimOp::kSync, 1, true, Status::IOError("sync EIO"));
  IO_ASSERT_OK(w->Write(1, Bytes("y")));
  EXPECT_FALSE(w->Sync().ok());
  EXPECT_FALSE(w->WriteAndSync(2, Bytes("z")).ok());
  EXPECT_FALSE(w->Sync().ok());
  sim_.PowerLoss(UnsyncedMode::kDrop, 7);
  EXPECT_EQ(Data("/db/f"), "x");  // only the synced byte survived
}

TEST_F(SimTest, FailNthOtherOps) {
  IO_ASSERT_OK(sim_.SetFileData("/db/a", "1"));
  sim_.FailNth(SimOp::kRename, 1, false, Status::IOError("rename EIO"));
  EXPECT_FALSE(sim_.Rename("/db/a", "/db/b").ok());
  EXPECT_TRUE(Exists("/db/a"));
  sim_.FailNth(SimOp::kOpen, 1, false, Status::IOError("open EIO"));
  EXPECT_FALSE(sim_.OpenReadable("/db/a").ok());
  sim_.FailNth(SimOp::kSyncDir, 1, false, Status::IOError("syncdir EIO"));
  EXPECT_FALSE(sim_.SyncDir("/db").ok());
  sim_.FailNth(SimOp::kRemove, 1, false, Status::IOError("unlink EIO"));
  EXPECT_FALSE(sim_.Remove("/db/a").ok());
  EXPECT_TRUE(Exists("/db/a"));
  IO_ASSERT_OK_AND_ASSIGN(auto r, sim_.OpenReadable("/db/a"));
  sim_.FailNth(SimOp::kRead, 1, false, Status::IOError("read EIO"));
  char c;
  EXPECT_FALSE(r->Read(0, 1, &c).ok());
  IO_EXPECT_OK(r->Read(0, 1, &c));
  IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/a", false, false));
  sim_.FailNth(SimOp::kAllocate, 1, false, Status::NoSpace("fallocate ENOSPC"));
  EXPECT_EQ(w->Allocate(0, 100).code(), Status::Code::kNoSpace);
}

TEST_F(SimTest, CapacityGivesNoSpaceUntilSpaceIsFreed) {
  sim_.SetCapacityBytes(1000);
  IO_ASSERT_OK_AND_ASSIGN(auto a, sim_.OpenWritable("/db/a", true, false));
  IO_ASSERT_OK(a->Write(0, Bytes(std::string(800, 'a'))));
  IO_ASSERT_OK(a->Write(0, Bytes(std::string(800, 'b'))));  // overwrite: no growth
  IO_ASSERT_OK_AND_ASSIGN(auto b, sim_.OpenWritable("/db/b", true, false));
  Status s = b->Write(0, Bytes(std::string(300, 'c')));
  EXPECT_EQ(s.code(), Status::Code::kNoSpace) << s.ToString();
  EXPECT_EQ(b->Allocate(0, 300).code(), Status::Code::kNoSpace);
  EXPECT_EQ(b->Truncate(300).code(), Status::Code::kNoSpace);
  EXPECT_EQ(sim_.TotalBytes(), 800u);
  IO_ASSERT_OK(b->Write(0, Bytes(std::string(200, 'c'))));  // exactly full
  EXPECT_EQ(sim_.TotalBytes(), 1000u);
  IO_ASSERT_OK(sim_.Remove("/db/a"));
  EXPECT_EQ(sim_.TotalBytes(), 200u);
  IO_ASSERT_OK(b->Write(200, Bytes(std::string(300, 'c'))));
  EXPECT_EQ(sim_.TotalBytes(), 500u);
}

TEST_F(SimTest, AllocatedSpaceCountsOnce) {
  sim_.SetCapacityBytes(1000);
  IO_ASSERT_OK_AND_ASSIGN(auto a, sim_.OpenWritable("/db/a", true, false));
  IO_ASSERT_OK(a->Allocate(0, 900));
  EXPECT_EQ(sim_.TotalBytes(), 900u);
  IO_ASSERT_OK(a->Write(0, Bytes(std::string(900, 'a'))));  // into reserved space
  EXPECT_EQ(sim_.TotalBytes(), 900u);
  IO_ASSERT_OK_AND_ASSIGN(uint64_t size, a->Size());
  EXPECT_EQ(size, 900u);
}

TEST_F(SimTest, ShortWriteStoresPrefixThenFails) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/f", true, false));
  sim_.ShortWriteNth(2, 10);
  IO_ASSERT_OK(w->Write(0, Bytes("head:")));
  const std::string body = Pattern(100);
  Status s = w->Write(5, Bytes(body));
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(Data("/db/f"), "head:" + body.substr(0, 10));
  IO_ASSERT_OK(w->Write(5, Bytes(body)));  // only the nth
  EXPECT_EQ(Data("/db/f"), "head:" + body);
}

TEST_F(SimTest, CrashAfterOpsFreezesEverythingUntilPowerLoss) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/f", true, false));
  IO_ASSERT_OK(sim_.SyncDir("/db"));
  const uint64_t start = sim_.ops();
  sim_.CrashAfterOps(2);
  EXPECT_FALSE(sim_.crashed());
  IO_EXPECT_OK(w->Write(0, Bytes("ab")));
  IO_EXPECT_OK(w->Sync());
  EXPECT_TRUE(sim_.crashed());
  Status s = w->Write(2, Bytes("cd"));
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(s.message(), "simulated crash");
  EXPECT_FALSE(w->Sync().ok());
  EXPECT_FALSE(sim_.OpenWritable("/db/g", true, false).ok());
  EXPECT_FALSE(sim_.Rename("/db/f", "/db/h").ok());
  EXPECT_FALSE(sim_.Remove("/db/f").ok());
  EXPECT_FALSE(sim_.Exists("/db/f").ok());
  EXPECT_FALSE(sim_.ListDir("/db").ok());
  EXPECT_FALSE(sim_.Lock("/db/LOCK").ok());
  EXPECT_EQ(sim_.ops(), start + 2);
  EXPECT_EQ(Data("/db/f"), "ab");  // nothing changed after the crash

  sim_.PowerLoss(UnsyncedMode::kDrop, 1);
  EXPECT_FALSE(sim_.crashed());
  EXPECT_EQ(Data("/db/f"), "ab");
  EXPECT_FALSE(w->Write(2, Bytes("cd")).ok());  // handles from before the crash are stale
  IO_ASSERT_OK_AND_ASSIGN(auto w2, sim_.OpenWritable("/db/f", false, false));
  IO_EXPECT_OK(w2->Write(2, Bytes("cd")));
  IO_EXPECT_OK(sim_.Lock("/db/LOCK"));
}

TEST_F(SimTest, CrashAfterZeroOpsFailsTheNextOp) {
  sim_.CrashAfterOps(0);
  EXPECT_TRUE(sim_.crashed());
  EXPECT_FALSE(sim_.CreateDir("/db2").ok());
  sim_.ClearFaults();
  IO_EXPECT_OK(sim_.CreateDir("/db2"));
}

TEST_F(SimTest, EveryCallCountsOneOp) {
  const uint64_t start = sim_.ops();
  IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/f", true, false));  // 1
  IO_ASSERT_OK(w->Write(0, Bytes("abc")));                                   // 2
  IO_ASSERT_OK(w->WriteAndSync(3, Bytes("d")));                              // 3, 4
  IO_ASSERT_OK(sim_.SyncDir("/db"));                                         // 5
  IO_ASSERT_OK(sim_.Rename("/db/f", "/db/g"));                               // 6
  IO_ASSERT_OK_AND_ASSIGN(auto m, sim_.Map("/db/g"));                        // 7
  IO_ASSERT_OK(sim_.Exists("/db/g"));                                        // 8
  EXPECT_EQ(sim_.ops(), start + 8);
}

TEST_F(SimTest, MapIsASnapshot) {
  MakeFile("f", "before", "");
  IO_ASSERT_OK_AND_ASSIGN(auto m, sim_.Map("/db/f"));
  IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/f", false, false));
  IO_ASSERT_OK(w->Write(0, Bytes("AFTER!")));
  IO_ASSERT_OK(sim_.Remove("/db/f"));
  EXPECT_EQ(std::string(m->data().data(), m->data().size()), "before");
}

TEST_F(SimTest, SetFileDataIsDurable) {
  IO_ASSERT_OK(sim_.SetFileData("/db/x/seg", "corrupted"));
  sim_.PowerLoss(UnsyncedMode::kDrop, 9);
  EXPECT_EQ(Data("/db/x/seg"), "corrupted");
  EXPECT_TRUE(sim_.GetFileData("/db/nope").status().IsNotFound());
}

TEST_F(SimTest, WritesToRenamedFileFollowTheInode) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, sim_.OpenWritable("/db/a", true, false));
  IO_ASSERT_OK(sim_.Rename("/db/a", "/db/b"));
  IO_ASSERT_OK(w->Write(0, Bytes("hi")));
  EXPECT_EQ(Data("/db/b"), "hi");
  EXPECT_FALSE(Exists("/db/a"));
}

TEST_F(SimTest, PathsAreNormalised) {
  IO_ASSERT_OK(sim_.SetFileData("/db/f", "x"));
  EXPECT_EQ(Data("/db//./f"), "x");
  IO_ASSERT_OK(sim_.CreateDir("rel/dir/"));
  IO_ASSERT_OK(sim_.SetFileData("rel/dir/f", "y"));
  IO_ASSERT_OK_AND_ASSIGN(auto names, sim_.ListDir("./rel/dir"));
  EXPECT_EQ(names, (std::vector<std::string>{"f"}));
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
