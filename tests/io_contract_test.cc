// The I/O seam's contract: one suite run over the posix, uring and sim backends.
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
#include "io/sim_file_system.h"
#include "io_test_util.h"
#include "tldb/file_system.h"

namespace tldb {
namespace {

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

TEST_P(FileSystemContractTest, ManyReadsAtOffsetsWithinAndBeyondTheEnd) {
  const std::string content = Pattern(1 << 20, 3);
  WriteFile("data", content);
  IO_ASSERT_OK_AND_ASSIGN(auto r, fs_->OpenReadable(P("data")));
  constexpr size_t kReqs = 300;
  for (size_t i = 0; i < kReqs; ++i) {
    const uint64_t off = (i * 7919 * 13) % (content.size() + 4096);  // some beyond the end
    const size_t len = 1 + (i * 104729) % 9000;
    std::string buf(len, '\xee');
    IO_ASSERT_OK_AND_ASSIGN(size_t n, r->Read(off, len, buf.data()));
    const size_t expect_n = off >= content.size() ? 0 : std::min<size_t>(len, content.size() - off);
    ASSERT_EQ(n, expect_n) << "request " << i;
    ASSERT_EQ(buf.substr(0, n), content.substr(std::min<size_t>(off, content.size()), expect_n))
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
  EXPECT_FALSE(w->WriteBack(0, 1).ok());
}

// WriteBack (sync_file_range) changes no byte, in any range, before the fdatasync.
TEST_P(FileSystemContractTest, WriteBackInStepsThenSyncKeepsEveryByte) {
  IO_ASSERT_OK_AND_ASSIGN(auto w, fs_->OpenWritable(P("idx"), true, false));
  const std::string data = Pattern(size_t{1} << 20, 5);
  IO_ASSERT_OK(w->Write(0, Bytes(data)));
  for (uint64_t off = 0; off < data.size(); off += 300'000)
    IO_ASSERT_OK(w->WriteBack(off, 300'000));
  IO_ASSERT_OK(w->WriteBack(data.size(), 4096));  // past the end: nothing to write
  IO_ASSERT_OK(w->Sync());
  IO_ASSERT_OK(w->Close());
  EXPECT_EQ(ReadAll("idx"), data);
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
      std::string buf(rec.size(), '\0');
      for (size_t i = 0; i < 50; ++i) {
        auto n = (*r)->Read(i * rec.size(), rec.size(), buf.data());
        if (!n.ok()) return void(errors[t] = n.status().ToString());
        if (*n != rec.size() || buf != rec) return void(errors[t] = "bad read");
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

}  // namespace
}  // namespace tldb
