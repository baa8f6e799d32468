// Rebuild from a snapshot (docs/replication.md "Automatic rebuild"): a follower whose next
// frames the primary compacted away, and a replica on an empty disk behind a compacted log, are
// sent a snapshot over the peer transport, install it, and catch up from its end as learners;
// and the installer's commit point holds across a crash before and after it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "replication/snapshot_installer.h"
#include "replication_sim_cluster.h"
#include "store/db_impl.h"
#include "store/scrubber.h"
#include "util/checksum.h"

namespace tldb::repl {
namespace {

// Flips a bit in replica n's first sealed segment of `chat` and runs its scrub over it, which
// quarantines that segment.
void FlipABitAndScrub(SimCluster& c, uint32_t n) {
  const std::string seg = "/replica" + std::to_string(n) + "/ns/chat/0000000000000001.seg";
  auto r = c.fs(n).OpenReadable(seg);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  char ch = 0;
  ASSERT_EQ(*(*r)->Read(600, 1, &ch), 1u);
  ch ^= 0x10;
  auto w = c.fs(n).OpenWritable(seg, false, false);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(600, {&ch, 1}).ok());
  ASSERT_TRUE((*w)->Close().ok());
  ASSERT_TRUE(c.replica(n)
                  .WithDb([](Db& db) {
                    ScrubStepResult step;
                    return static_cast<DbImpl&>(db).Scrub("chat", uint64_t{1} << 40, true, &step);
                  })
                  .ok());
}

uint64_t Quarantined(SimCluster& c, uint32_t n) {
  uint64_t q = 0;
  EXPECT_TRUE(c.replica(n)
                  .WithDb([&](Db& db) {
                    q = db.Stats().scrub_segments_quarantined;
                    return Status::Ok();
                  })
                  .ok());
  return q;
}

TEST(ReplicationRebuildTest, FollowerBehindACompactedLogIsRebuiltFromASnapshot) {
  SimCluster c(31, SmallSegmentsShortRetention);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  const uint32_t a = (*p + 1) % SimCluster::kNodes, b = (*p + 2) % SimCluster::kNodes;
  uint64_t next = 0;
  AddBig(c, 200, &next);
  ASSERT_TRUE(c.Settle(50'000));
  c.Crash(a, UnsyncedMode::kKeep, /*restart=*/false);
  AddBig(c, 200, &next);
  ASSERT_TRUE(c.Settle(50'000) || true);     // a is down: ends never all equal
  for (int i = 0; i < 4'000; ++i) c.Step();  // a is absent for longer than the retention
  CompactAll(c, *p);
  c.Start(a);
  AddBig(c, 50, &next);
  ASSERT_TRUE(c.Settle(200'000)) << "the follower did not catch up";
  EXPECT_EQ(c.replica(a).status().rebuilds, 1u) << "caught up without a snapshot?";
  EXPECT_FALSE(c.replica(a).status().rebuilding);
  c.Check(/*own_compaction=*/{b});
  EXPECT_TRUE(WaitUntilVoter(c, a));

  // A replica on an empty disk behind the compacted log: it starts as a learner, is told it
  // needs a snapshot, is rebuilt, and votes once caught up. Afterwards all three hold the
  // primary's segments byte for byte.
  c.Wipe(b);
  AddBig(c, 50, &next);
  ASSERT_TRUE(c.Settle(200'000)) << "the wiped replica did not catch up";
  EXPECT_EQ(c.replica(b).status().rebuilds, 1u);
  c.Check();
  EXPECT_TRUE(WaitUntilVoter(c, b));
  EXPECT_EQ(c.Serving(), p);
}

// A replica that was down while the others went on, and then leads with a follower that
// compacted its own sealed segments: it fetches the rest of the log from that follower (Adopt),
// which it can because followers keep the segments the primary holds for a lagging replica
// (the heartbeat's floor). Without that, the follower's compaction rewrote the segments the
// candidate needs from, and no election could finish while the follower cannot campaign.
TEST(ReplicationRebuildTest, ACandidateBehindFetchesFromAFollowerThatCompacted) {
  SimCluster c(34, [](ReplicaConfig& rc) {
    SmallSegmentsShortRetention(rc);
    rc.retain_for_absent_ms = 600'000;  // the lagging replica is absent for less than this
  });
  auto p = Elect(c);
  ASSERT_TRUE(p);
  const uint32_t a = (*p + 1) % SimCluster::kNodes, b = (*p + 2) % SimCluster::kNodes;
  uint64_t next = 0;
  AddBig(c, 60, &next);
  ASSERT_TRUE(c.Settle(50'000));
  c.Crash(b, UnsyncedMode::kKeep, /*restart=*/false);
  AddBig(c, 200, &next);  // several more segments on the primary and on a
  for (int i = 0; i < 20'000 && !(c.ledger().Due(1).empty() && c.ledger().in_flight() == 0); ++i) {
    c.Client(16);
    c.Step();
  }
  for (int i = 0; i < 500; ++i) c.Step();  // heartbeats carry the floor to a
  // a compacts its own sealed segments (every plain one is compressed when there is no TTL).
  uint64_t rewritten = 0;
  ASSERT_TRUE(c.replica(a)
                  .WithDb([&](Db& db) {
                    for (const std::string& ns : kSimNamespaces) {
                      auto r = db.Compact(ns, CompactOptions{});
                      if (!r.ok()) return r.status();
                      rewritten += r->segments_done;
                    }
                    return Status::Ok();
                  })
                  .ok());
  // The primary dies; b returns and leads (a cannot reach etcd), adopting a's log.
  c.Crash(*p, UnsyncedMode::kKeep, /*restart=*/false);
  c.coord().SetReachable(a, false);
  c.Start(b);
  std::optional<uint32_t> leader;
  for (int i = 0; i < 30'000 && !leader; ++i) {
    c.Step();
    leader = c.Serving();
  }
  ASSERT_TRUE(leader) << "the lagging replica could not complete its log from a's";
  EXPECT_EQ(*leader, b);
  c.coord().SetReachable(a, true);
  c.Start(*p);
  AddBig(c, 20, &next);
  ASSERT_TRUE(c.Settle(200'000));
  c.Check(/*own_compaction=*/{a});
  std::printf("a rewrote %llu sealed segments above the lagging replica's position\n",
              static_cast<unsigned long long>(rewritten));
}

// A follower's scrub finds a flipped bit in one of its sealed segments and quarantines the
// segment (reads of it would answer Corruption); the follower cures it by a rebuild from a
// snapshot of its primary, after which it holds the primary's segments byte for byte and
// nothing is quarantined.
TEST(ReplicationRebuildTest, FollowerWithAQuarantinedSegmentIsRebuiltFromItsPrimary) {
  SimCluster c(33, SmallSegmentsShortRetention);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  const uint32_t a = (*p + 1) % SimCluster::kNodes;
  uint64_t next = 0;
  AddBig(c, 200, &next);
  ASSERT_TRUE(c.Settle(50'000));
  FlipABitAndScrub(c, a);
  const auto quarantined = [&] { return Quarantined(c, a); };
  ASSERT_EQ(quarantined(), 1u) << "the scrub did not find the flipped bit";
  AddBig(c, 20, &next);
  for (int i = 0; i < 50'000 && c.replica(a).status().rebuilds == 0; ++i) {
    c.Client(16);
    c.Step();
  }
  ASSERT_TRUE(c.Settle(100'000));
  EXPECT_EQ(c.replica(a).status().rebuilds, 1u) << "the quarantined segment was not cured";
  EXPECT_EQ(quarantined(), 0u);
  c.Check();
  EXPECT_TRUE(WaitUntilVoter(c, a));
}

// The same damage on the primary: it hands over to a follower that has its whole log, lets
// that one lead (a replica with a quarantine campaigns only after the healthy ones), and then
// cures itself like any follower, from the new primary's snapshot.
TEST(ReplicationRebuildTest, PrimaryWithAQuarantinedSegmentHandsOverAndIsRebuilt) {
  SimCluster c(35, SmallSegmentsShortRetention);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  uint64_t next = 0;
  AddBig(c, 200, &next);
  ASSERT_TRUE(c.Settle(50'000));
  FlipABitAndScrub(c, *p);
  ASSERT_EQ(Quarantined(c, *p), 1u) << "the scrub did not find the flipped bit";
  AddBig(c, 20, &next);
  for (int i = 0; i < 60'000 && c.replica(*p).status().rebuilds == 0; ++i) {
    c.Client(16);
    c.Step();
  }
  EXPECT_EQ(c.replica(*p).status().rebuilds, 1u) << "the old primary was not rebuilt";
  ASSERT_TRUE(c.Settle(100'000));
  EXPECT_NE(c.Serving(), p) << "a healthy replica leads";
  EXPECT_EQ(Quarantined(c, *p), 0u);
  c.Check();
  EXPECT_TRUE(WaitUntilVoter(c, *p));
}

// Snapshots travel as chunks over a lossy, reordering network; a chunk that is lost is asked
// for again, one that is stale or duplicated is ignored.
TEST(ReplicationRebuildTest, RebuildSurvivesALossyNetwork) {
  SimCluster c(32, [](ReplicaConfig& rc) {
    SmallSegmentsShortRetention(rc);
    rc.frame_batch_bytes_max = 8 << 10;  // about 60 chunks: some are lost or come twice
  });
  auto p = Elect(c);
  ASSERT_TRUE(p);
  const uint32_t a = (*p + 1) % SimCluster::kNodes;
  uint64_t next = 0;
  AddBig(c, 150, &next);
  ASSERT_TRUE(c.Settle(50'000));
  CompactAll(c, *p);
  c.net().SetLossPct(5);
  c.net().SetDuplicatePct(5);
  c.net().SetReorderWindow(4);
  c.Wipe(a);
  AddBig(c, 30, &next);
  for (int i = 0; i < 30'000 && c.replica(a).status().rebuilds == 0; ++i) {
    c.Client(16);
    c.Step();
  }
  const uint64_t dropped = c.net().dropped();
  c.net().SetLossPct(0);
  c.net().SetDuplicatePct(0);
  ASSERT_TRUE(c.Settle(200'000));
  EXPECT_EQ(c.replica(a).status().rebuilds, 1u);
  EXPECT_GT(dropped, 0u) << "the network lost nothing: the test shows nothing";
  c.Check(/*own_compaction=*/{(*p + 2) % SimCluster::kNodes});
}

// A move takes a voter away before the new replica votes (docs/cluster.md "Moving a replica"),
// so the primary commits only with the one follower left, which may be far behind. The
// snapshot a rebuild is sent must not wait for that follower: here it is cut off altogether,
// and the wiped replica is still rebuilt, catches up to the commit point and votes, which
// gives the primary its majority back. (A snapshot that first syncs the primary's log waits
// for a majority to sync too: the sync is a frame like any other.)
TEST(ReplicationRebuildTest, RebuildDoesNotWaitForTheOtherFollower) {
  SimCluster c(35, SmallSegmentsShortRetention);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  const uint32_t a = (*p + 1) % SimCluster::kNodes, b = (*p + 2) % SimCluster::kNodes;
  uint64_t next = 0;
  AddBig(c, 150, &next);
  ASSERT_TRUE(c.Settle(50'000));
  CompactAll(c, *p);
  ASSERT_TRUE(c.Settle(50'000));
  // Buffered appends: the primary's log ends past its durable end, so a sync has work to do.
  // (Counted through a shared_ptr: a callback may run after a failed assertion returned.)
  auto done = std::make_shared<std::atomic<int>>(0), failed = std::make_shared<std::atomic<int>>(0);
  for (int i = 0; i < 20; ++i) {
    AppendOptions ao;
    ao.durability = Durability::kBuffered;
    c.Served(*p).AppendAsync(kSimNamespaces[0], "buffered", std::string(2000, 'b'), ao,
                             [done, failed](Result<AppendResult> r) {
                               if (!r.ok()) ++*failed;
                               ++*done;
                             });
  }
  // The group commit runs on threads of its own: give it time between steps.
  for (int i = 0; i < 10'000 && *done < 20; ++i) {
    c.Step();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_EQ(*done, 20);
  ASSERT_EQ(*failed, 0);
  c.net().Isolate(b, SimCluster::kNodes);
  c.Wipe(a);
  // The snapshot is taken on a thread of its own: time between steps again, a generous bound.
  for (int i = 0; i < 30'000 && c.replica(a).status().membership != Membership::kVoter; ++i) {
    c.Step();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_EQ(c.replica(a).status().rebuilds, 1u)
      << "the rebuild waited for the follower that is cut off";
  EXPECT_EQ(c.replica(a).status().membership, Membership::kVoter);
  EXPECT_EQ(c.Serving(), p);
  c.net().HealAll();
  AddBig(c, 30, &next);
  ASSERT_TRUE(c.Settle(200'000));
  c.Check(/*own_compaction=*/{b});
}

// ---- SnapshotInstaller ----

std::string Read(SimFileSystem& fs, const std::string& path) {
  auto r = fs.ReadFileToString(path);
  return r.ok() ? *r : "<missing>";
}

void Put(SimFileSystem& fs, const std::string& path, const std::string& bytes) {
  ASSERT_TRUE(fs.WriteFileAtomic(path, bytes).ok()) << path;
}

// A data directory with an old segment, an old index and an old catalog.
void OldDir(SimFileSystem& fs) {
  ASSERT_TRUE(fs.CreateDir("/d").ok());
  ASSERT_TRUE(fs.CreateDir("/d/ns").ok());
  ASSERT_TRUE(fs.CreateDir("/d/ns/chat").ok());
  Put(fs, "/d/CATALOG", "old catalog");
  Put(fs, "/d/ns/chat/0000000000000001.seg", "old segment 1");
  Put(fs, "/d/ns/chat/0000000000000002.seg", "old segment 2");
}

const std::vector<std::string> kBytes = {"new catalog", "new segment 2", "replica", ""};
const std::vector<SnapshotFile> kFiles = {{"CATALOG", 11, Hash64(kBytes[0])},
                                          {"ns/chat/0000000000000002.seg", 13, Hash64(kBytes[1])},
                                          {"REPLICA", 7, Hash64(kBytes[2])},
                                          {"ns/chat/EMPTY", 0, Hash64(kBytes[3])}};

void Receive(SnapshotInstaller& in, size_t files) {
  for (size_t i = 0; i < files; ++i) {
    if (kBytes[i].empty()) continue;
    // In two chunks, the second one first (ignored, then asked for again), and a duplicate.
    const std::string& b = kBytes[i];
    ASSERT_TRUE(in.Accept(kFiles[i].path, 4, std::string_view(b).substr(4)).ok());
    ASSERT_TRUE(in.Accept(kFiles[i].path, 0, std::string_view(b).substr(0, 4)).ok());
    ASSERT_TRUE(in.Accept(kFiles[i].path, 0, std::string_view(b).substr(0, 4)).ok());
    auto want = in.Next();
    ASSERT_TRUE(want);
    EXPECT_EQ(*want, std::make_pair(kFiles[i].path, uint64_t{4}));
    ASSERT_TRUE(in.Accept(kFiles[i].path, 4, std::string_view(b).substr(4)).ok());
  }
}

TEST(SnapshotInstallerTest, InstallReplacesTheNamespaceDirectoriesAndKeepsNothingOld) {
  SimFileSystem fs;
  OldDir(fs);
  SnapshotInstaller in(fs, "/d");
  ASSERT_TRUE(in.Begin(kFiles).ok());
  Receive(in, kFiles.size());
  EXPECT_FALSE(in.Next());
  EXPECT_EQ(in.bytes_received(), 31u);
  ASSERT_TRUE(in.Install().ok());
  EXPECT_EQ(Read(fs, "/d/CATALOG"), "new catalog");
  EXPECT_EQ(Read(fs, "/d/REPLICA"), "replica");
  EXPECT_EQ(Read(fs, "/d/ns/chat/0000000000000002.seg"), "new segment 2");
  EXPECT_EQ(Read(fs, "/d/ns/chat/EMPTY"), "");
  EXPECT_FALSE(*fs.Exists("/d/ns/chat/0000000000000001.seg")) << "an old segment stayed";
  EXPECT_FALSE(*fs.Exists("/d/rebuild"));
}

TEST(SnapshotInstallerTest, CrashBeforeTheCommitPointKeepsTheOldDirectory) {
  SimFileSystem fs;
  OldDir(fs);
  {
    SnapshotInstaller in(fs, "/d");
    ASSERT_TRUE(in.Begin(kFiles).ok());
    Receive(in, 2);  // then the process dies
  }
  ASSERT_TRUE(SnapshotInstaller::Recover(fs, "/d").ok());
  EXPECT_FALSE(*fs.Exists("/d/rebuild"));
  EXPECT_EQ(Read(fs, "/d/CATALOG"), "old catalog");
  EXPECT_EQ(Read(fs, "/d/ns/chat/0000000000000001.seg"), "old segment 1");
  EXPECT_EQ(Read(fs, "/d/ns/chat/0000000000000002.seg"), "old segment 2");
}

TEST(SnapshotInstallerTest, CrashAfterTheCommitPointFinishesTheInstall) {
  SimFileSystem fs;
  OldDir(fs);
  // What Install leaves when it dies after the commit point, one file already moved.
  ASSERT_TRUE(fs.CreateDir("/d/rebuild").ok());
  ASSERT_TRUE(fs.CreateDir("/d/rebuild/ns").ok());
  ASSERT_TRUE(fs.CreateDir("/d/rebuild/ns/chat").ok());
  Put(fs, "/d/CATALOG", "new catalog");
  Put(fs, "/d/rebuild/ns/chat/0000000000000002.seg", "new segment 2");
  Put(fs, "/d/rebuild/REPLICA", "replica");
  Put(fs, "/d/rebuild/INSTALL", "CATALOG\nns/chat/0000000000000002.seg\nREPLICA\n");
  ASSERT_TRUE(SnapshotInstaller::Recover(fs, "/d").ok());
  EXPECT_EQ(Read(fs, "/d/CATALOG"), "new catalog");
  EXPECT_EQ(Read(fs, "/d/REPLICA"), "replica");
  EXPECT_EQ(Read(fs, "/d/ns/chat/0000000000000002.seg"), "new segment 2");
  EXPECT_FALSE(*fs.Exists("/d/ns/chat/0000000000000001.seg"));
  EXPECT_FALSE(*fs.Exists("/d/rebuild"));
  // Recovering again changes nothing.
  ASSERT_TRUE(SnapshotInstaller::Recover(fs, "/d").ok());
  EXPECT_EQ(Read(fs, "/d/ns/chat/0000000000000002.seg"), "new segment 2");
}

TEST(SnapshotInstallerTest, RefusesUnsafeManifestsAndOversizedChunks) {
  SimFileSystem fs;
  OldDir(fs);
  SnapshotInstaller in(fs, "/d");
  for (const std::string bad : {"../etc/passwd", "/abs", "ns//x", "rebuild/INSTALL"}) {
    EXPECT_EQ(in.Begin({{bad, 1}, {"REPLICA", 1}}).code(), Status::Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(in.Begin({{"CATALOG", 1}}).code(), Status::Code::kInvalidArgument)
      << "a manifest without REPLICA cannot seed a replica";
  ASSERT_TRUE(in.Begin({{"CATALOG", 3}, {"REPLICA", 1}}).ok());
  EXPECT_EQ(in.Accept("CATALOG", 0, "four").code(), Status::Code::kCorruption);
  EXPECT_EQ(in.Install().code(), Status::Code::kInvalidArgument) << "installed half a snapshot";
  // A file whose bytes are not those its manifest's checksum describes (damaged on the way).
  ASSERT_TRUE(in.Begin(kFiles).ok());
  EXPECT_EQ(in.Accept("CATALOG", 0, "new catalOg").code(), Status::Code::kCorruption);
  EXPECT_EQ(in.Install().code(), Status::Code::kInvalidArgument);
  in.Abort();
  EXPECT_FALSE(*fs.Exists("/d/rebuild"));
  EXPECT_EQ(Read(fs, "/d/CATALOG"), "old catalog");
}

}  // namespace
}  // namespace tldb::repl
