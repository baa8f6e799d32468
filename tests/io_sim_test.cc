// The simulated file system (io/sim_file_system.h): its power-loss model and fault injection.
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

}  // namespace
}  // namespace tldb
