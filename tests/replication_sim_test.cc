// Replication of a partition, simulated (docs/replication.md "Testing"): three replicas in one
// process over simulated disks, network and etcd. Seeded runs inject message loss, duplicates
// and reordering, crashes with power loss in all five unsynced-bytes modes, partitions (one
// replica cut off, the primary cut from its followers but not from etcd) and a stalled etcd,
// while a client appends with client_msg_ids and retries what failed. Each run ends healed and
// settled, and the checker (SimCluster::Check) finds every acknowledged message at its SeqId,
// no message stored twice, the replicas' segments byte-identical and every data directory
// SOUND. Directed cases pin the failover paths one by one.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "replication_sim_cluster.h"

namespace tldb::repl {
namespace {

constexpr UnsyncedMode kModes[] = {UnsyncedMode::kKeep, UnsyncedMode::kDrop, UnsyncedMode::kTear512,
                                   UnsyncedMode::kZeroFill, UnsyncedMode::kGarbageFill};

void AddAppends(SimCluster& c, int n, uint64_t* next) {
  for (int i = 0; i < n; ++i, ++*next) {
    c.ledger().Add(kSimNamespaces[*next % 2], "t" + std::to_string(*next % 13),
                   "payload " + std::to_string(*next));
  }
}

TEST(ReplicationSimTest, ElectsAPrimaryAndReplicatesEveryAppend) {
  SimCluster c(1);
  auto p = Elect(c);
  ASSERT_TRUE(p) << "no replica serves";
  uint64_t next = 0;
  AddAppends(c, 500, &next);
  ASSERT_TRUE(c.Settle(200'000));
  c.Check();
  for (const auto& op : c.ledger().All()) ASSERT_TRUE(op.acked) << op.cmid;
  EXPECT_EQ(c.coord().elections(), 1u);
}

TEST(ReplicationSimTest, PrimaryCrashFailsOverWithoutLosingAcknowledgedAppends) {
  for (UnsyncedMode mode : kModes) {
    SimCluster c(static_cast<uint64_t>(mode) + 10);
    auto p = Elect(c);
    ASSERT_TRUE(p);
    uint64_t next = 0;
    AddAppends(c, 300, &next);
    for (int i = 0; i < 200; ++i) {  // some appends in flight when the primary dies
      c.Client(16);
      c.Step();
    }
    c.Crash(*p, mode);
    auto q = Elect(c);
    ASSERT_TRUE(q) << "no failover";
    EXPECT_NE(*q, *p);
    AddAppends(c, 100, &next);
    ASSERT_TRUE(c.Settle(100'000)) << "mode " << static_cast<int>(mode);
    c.Check();
    EXPECT_GE(c.coord().elections(), 2u);
  }
}

// Nothing is acknowledged before a majority has it: with the primary's frames kept from both
// followers, appends wait; the primary then dies with its unsynced bytes, and the new primary
// holds every acknowledged append (none) and the retries land once.
TEST(ReplicationSimTest, AcknowledgesOnlyWhatAMajorityHas) {
  SimCluster c(6);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  uint64_t next = 0;
  AddAppends(c, 50, &next);
  ASSERT_TRUE(c.Settle(200'000));
  for (uint32_t n = 0; n < SimCluster::kNodes; ++n) {
    if (n != *p) c.net().Cut(*p, n, /*both_ways=*/false);
  }
  AddAppends(c, 30, &next);
  for (int i = 0; i < 300; ++i) {
    c.Client(16);
    c.Step();
  }
  size_t acked = 0;
  for (const auto& op : c.ledger().All()) acked += op.acked ? 1 : 0;
  EXPECT_EQ(acked, 50u) << "appends acknowledged that no follower had";
  c.Crash(*p, UnsyncedMode::kKeep);
  c.net().HealAll();
  ASSERT_TRUE(c.Settle(100'000));
  c.Check();
}

// A primary cut off from its followers but not from etcd: it keeps its leader key, so it must
// notice that it hears no majority and resign; what it wrote meanwhile was never acknowledged
// and is cut from its log when it rejoins the new primary.
TEST(ReplicationSimTest, PrimaryCutFromFollowersResignsAndItsTailIsCut) {
  SimCluster c(3);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  uint64_t next = 0;
  AddAppends(c, 100, &next);
  ASSERT_TRUE(c.Settle(200'000));
  const size_t acked_before = c.ledger().All().size();
  c.net().Isolate(*p, SimCluster::kNodes);
  // Appends sent to the isolated primary are written on its disk and never acknowledged.
  AddAppends(c, 20, &next);
  for (int i = 0; i < 50; ++i) {
    c.Client(16);
    c.Step();
  }
  const LogPosition zombie_end = c.End(*p, "chat");
  std::optional<uint32_t> q;
  for (int i = 0; i < 20'000 && !(q && *q != *p); ++i) {
    c.Step();
    q = c.Serving();
  }
  ASSERT_TRUE(q && *q != *p) << "no failover away from the isolated primary";
  EXPECT_NE(c.replica(*p).status().role, Role::kPrimary);
  c.net().HealAll();
  AddAppends(c, 50, &next);
  ASSERT_TRUE(c.Settle(100'000));
  c.Check();
  EXPECT_GE(c.ledger().All().size(), acked_before);
  EXPECT_NE(c.End(*p, "chat"), zombie_end) << "the old primary's unacknowledged tail stayed";
}

// etcd stalled for everyone: no failover can happen, and the primary goes on acknowledging
// (its followers fence it, not etcd).
TEST(ReplicationSimTest, StalledEtcdKeepsThePrimaryServing) {
  SimCluster c(4);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  c.coord().SetStalled(true);
  uint64_t next = 0;
  AddAppends(c, 200, &next);
  ASSERT_TRUE(c.Settle(200'000));
  for (int i = 0; i < 5000; ++i) c.Step();  // longer than the lease
  EXPECT_EQ(c.Serving(), p);
  AddAppends(c, 50, &next);
  ASSERT_TRUE(c.Settle(200'000));
  EXPECT_EQ(c.Serving(), p);
  EXPECT_EQ(c.coord().elections(), 1u);
  c.coord().SetStalled(false);
  ASSERT_TRUE(c.Settle(200'000));
  size_t failing = 0, again = 0;
  for (const std::string& e : c.Events(*p)) {
    failing += e.find("etcd: cannot keep this replica registered") != std::string::npos;
    again += e.find("etcd: registered again") != std::string::npos;
  }
  EXPECT_EQ(failing, 1u) << "the stall is logged once, not every tick";
  EXPECT_EQ(again, 1u);
  c.Check();
}

// A planned switchover: the named replica leads once it has the whole log, quickly (no lease
// to wait for), and no acknowledged append is lost on the way.
TEST(ReplicationSimTest, PromoteHandsOverToTheNamedReplica) {
  SimCluster c(7);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  uint64_t next = 0;
  AddAppends(c, 300, &next);
  for (int i = 0; i < 100; ++i) {  // appends under way during the switchover
    c.Client(16);
    c.Step();
  }
  const uint32_t target = (*p + 2) % SimCluster::kNodes;
  c.coord().SetPromote(target);
  const int64_t asked = c.now_ms();
  std::optional<uint32_t> q;
  while (c.now_ms() - asked < 20'000 && !(q && *q == target)) {
    c.Client(16);
    c.Step();
    // Simulated time passes only with steps, the engines' threads (which write and sync the
    // frames) run on real time: give them some per step, so that a loaded machine does not
    // make the switchover look slow in simulated time.
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    q = c.Serving();
  }
  ASSERT_TRUE(q && *q == target) << "the named replica does not lead";
  const int64_t took = c.now_ms() - asked;
  // Waiting for a lease would take at least its TTL (2000 simulated ms) after the primary
  // stopped renewing it.
  EXPECT_LT(took, 2000) << "a planned switchover waits for no lease";
  EXPECT_FALSE(c.coord().PromoteTarget(target)->has_value()) << "the request stays";
  AddAppends(c, 100, &next);
  ASSERT_TRUE(c.Settle(100'000));
  c.Check();
  std::printf("switchover to replica %u in %lld simulated ms\n", target,
              static_cast<long long>(took));
}

// A follower that crashed and lost its unsynced bytes catches up from its position.
TEST(ReplicationSimTest, RestartedFollowerCatchesUp) {
  SimCluster c(5);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  const uint32_t f = (*p + 1) % SimCluster::kNodes;
  uint64_t next = 0;
  AddAppends(c, 200, &next);
  ASSERT_TRUE(c.Settle(200'000));
  c.Crash(f, UnsyncedMode::kDrop, /*restart=*/false);
  AddAppends(c, 300, &next);  // a majority is still there
  ASSERT_TRUE(c.Settle(200'000) || true);
  c.Start(f);
  ASSERT_TRUE(c.Settle(100'000));
  EXPECT_EQ(c.Serving(), p) << "a follower's restart needs no failover";
  c.Check();
}

// A replica whose disk was wiped has lost the frames it acknowledged and the epochs it
// promised. Here the primary and one follower (a) hold 200 acknowledged appends that the
// other follower (b) never got; then a's disk is wiped and the primary dies. Were a to count,
// a and b would form a majority and elect b's log without those appends. As a learner it
// counts for nothing: no replica serves until the old primary returns, and then a catches up
// and is told to vote.
TEST(ReplicationSimTest, WipedReplicaIsALearnerUntilItHoldsEveryCommittedFrame) {
  SimCluster c(21);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  const uint32_t a = (*p + 1) % SimCluster::kNodes, b = (*p + 2) % SimCluster::kNodes;
  uint64_t next = 0;
  AddAppends(c, 100, &next);
  ASSERT_TRUE(c.Settle(200'000));
  c.net().Isolate(b, SimCluster::kNodes);
  AddAppends(c, 200, &next);
  for (int i = 0; i < 50'000 && !(c.ledger().in_flight() == 0 && c.ledger().Due(1).empty()); ++i) {
    c.Client(16);
    c.Step();
  }
  for (const auto& op : c.ledger().All()) ASSERT_TRUE(op.acked) << op.cmid;
  EXPECT_EQ(c.replica(a).status().membership, Membership::kVoter);
  c.Crash(*p, UnsyncedMode::kKeep, /*restart=*/false);
  c.Wipe(a);
  c.net().HealAll();
  for (int i = 0; i < 10'000; ++i) {
    c.Step();
    ASSERT_FALSE(c.Serving()) << "a majority counted the wiped replica " << a;
  }
  EXPECT_EQ(c.replica(a).status().membership, Membership::kLearner);
  EXPECT_NE(c.replica(a).status().role, Role::kCandidate);
  c.Start(*p);
  AddAppends(c, 50, &next);
  ASSERT_TRUE(c.Settle(100'000));
  c.Check();
  EXPECT_TRUE(WaitUntilVoter(c, a)) << "the caught-up learner was never told to vote";
}

// A replica whose disk was replaced is seeded with an online backup of the primary (the
// snapshot and the REPLICA file it carries) instead of starting empty: it opens as a learner
// whose log ends where the snapshot does, its log is never cut (the snapshot holds committed
// bytes only and its histories describe them), it catches up from there, and is told to vote.
TEST(ReplicationSimTest, ReplicaSeededFromABackupOfThePrimaryCatchesUpFromIt) {
  SimCluster c(23);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  const uint32_t a = (*p + 1) % SimCluster::kNodes;
  uint64_t next = 0;
  AddAppends(c, 300, &next);
  ASSERT_TRUE(c.Settle(200'000));
  EXPECT_EQ(c.Served(a).Snapshot("/backup", {}).status().code(), Status::Code::kNotPrimary)
      << "a follower's snapshot may hold bytes that are not committed";
  auto info = c.Served(*p).Snapshot("/backup", {});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE(std::any_of(info->files.begin(), info->files.end(),
                          [](const SnapshotFile& f) { return f.path == "REPLICA"; }));
  AddAppends(c, 100, &next);
  ASSERT_TRUE(c.Settle(200'000));
  const std::string dir = "/replica" + std::to_string(a);
  c.Wipe(a, [&](SimFileSystem& fs) {
    for (const SnapshotFile& f : info->files) {
      auto bytes = c.fs(*p).ReadFileToString("/backup/" + f.path);
      ASSERT_TRUE(bytes.ok()) << f.path;
      const std::string to = dir + "/" + f.path;
      for (size_t i = to.find('/', 1); i != std::string::npos; i = to.find('/', i + 1)) {
        ASSERT_TRUE(fs.CreateDir(to.substr(0, i)).ok());
      }
      ASSERT_TRUE(fs.WriteFileAtomic(to, *bytes).ok());
    }
  });
  EXPECT_EQ(c.replica(a).status().membership, Membership::kLearner);
  for (const SnapshotNamespace& n : info->namespaces) {
    EXPECT_EQ(c.End(a, n.name), n.end) << "the seeded log ends where the snapshot does";
  }
  AddAppends(c, 100, &next);
  ASSERT_TRUE(c.Settle(100'000));
  c.Check();
  for (const std::string& e : c.Events(a)) {
    EXPECT_EQ(e.find("cut namespace"), std::string::npos) << "seeded log was cut: " << e;
  }
  EXPECT_TRUE(WaitUntilVoter(c, a));
  EXPECT_EQ(c.Serving(), p);
}

// A new partition: every replica starts on an empty disk before anything was served, so each
// learns from etcd that it is a voter, and one of them leads.
TEST(ReplicationSimTest, ReplicasOfANewPartitionAreVoters) {
  SimCluster c(22);
  ASSERT_TRUE(Elect(c));
  for (uint32_t n = 0; n < SimCluster::kNodes; ++n) {
    EXPECT_EQ(c.replica(n).status().membership, Membership::kVoter) << "replica " << n;
  }
}

// Seeded runs with every fault mixed in, a wiped follower disk included, while namespaces are
// created through the replicated catalog (an admin call on a thread of its own, retried until
// it succeeds, like a client; appends go to a created namespace once its creation returned).
// Db::SetTimelineOwnership through the replica (docs/design.md "Ownership"): compaction runs on
// each replica by itself, and each drops the timeline its store does not own from the segments
// it rewrites (the newest may be held for the followers: RetainLogFrom), while the timelines it
// owns read exactly as before on every replica.
TEST(ReplicationSimTest, EachReplicasCompactionDropsATimelineItDoesNotOwn) {
  SimCluster c(41, SmallSegmentsShortRetention);
  auto p = Elect(c);
  ASSERT_TRUE(p);
  for (uint32_t n = 0; n < SimCluster::kNodes; ++n) {
    c.replica(n).SetTimelineOwnership(
        [](std::string_view, std::string_view tl) { return tl != "t1"; });
  }
  uint64_t next = 0;
  AddBig(c, 200, &next);  // t0..t6 in both namespaces, over several 64 KiB segments
  ASSERT_TRUE(c.Settle(200'000));
  // Per replica and namespace: t1's message count, and t2's messages.
  using Counts = std::map<std::string, std::pair<size_t, std::vector<std::string>>>;
  auto read = [&](uint32_t n) {
    Counts out;
    Status s = c.replica(n).WithDb([&](Db& db) {
      for (const std::string& ns : kSimNamespaces) {
        auto gone = db.Scan(ns, "t1", {});
        auto kept = db.Scan(ns, "t2", {});
        if (!gone.ok() || !kept.ok()) return !gone.ok() ? gone.status() : kept.status();
        auto& [n1, t2] = out[ns];
        n1 = gone->size();
        for (const Message& m : *kept) t2.push_back(std::to_string(m.seq) + " " + m.payload);
      }
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  };
  std::vector<Counts> before;
  for (uint32_t n = 0; n < SimCluster::kNodes; ++n) before.push_back(read(n));
  // Heartbeats carry the followers' positions to the primary, which then holds only the
  // segments from there on (simulated seconds).
  for (int i = 0; i < 3'000; ++i) c.Step();
  CompactAll(c, *p);
  ASSERT_TRUE(c.Settle(200'000));
  for (uint32_t n = 0; n < SimCluster::kNodes; ++n) {
    if (n != *p) CompactAll(c, n);
    const Counts after = read(n);
    for (const std::string& ns : kSimNamespaces) {
      ASSERT_GT(before[n].at(ns).first, 10u);
      EXPECT_LT(after.at(ns).first, before[n].at(ns).first / 2) << "replica " << n << " " << ns;
      EXPECT_FALSE(after.at(ns).second.empty());
      EXPECT_EQ(after.at(ns).second, before[n].at(ns).second) << "replica " << n << " " << ns;
    }
  }
}

// TLDB_SIM_SEEDS=N runs the first N seeds instead of 12 (a sanitizer build runs a few: each
// seed takes minutes under ThreadSanitizer).
TEST(ReplicationSimTest, SeededFaultRuns) {
  const char* env = std::getenv("TLDB_SIM_SEEDS");
  const int seeds = env != nullptr ? std::max(1, std::atoi(env)) : 12;
  for (int seed = 100; seed < 100 + seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    SimCluster c(seed);
    std::mt19937_64 rng(seed);
    c.net().SetLossPct(3);
    c.net().SetDuplicatePct(2);
    c.net().SetReorderWindow(4);
    uint64_t next = 0;
    int down = -1;  // a crashed replica not restarted yet
    int64_t heal_at = -1, restart_at = -1, unstall_at = -1;
    int faults = 0, wipes = 0, rooms = 0;
    std::future<Status> admin;  // creating "room<rooms>"
    // The admin call holds its replica: it ends before that replica may crash.
    const auto finish_admin = [&] {
      for (int i = 0; i < 50'000 && admin.valid() &&
                      admin.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready;
           ++i) {
        c.Client(16);
        c.Step();
      }
      ASSERT_TRUE(!admin.valid() ||
                  admin.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready);
      if (admin.valid() && admin.get().ok()) rooms++;
    };
    for (int step = 0; step < 30'000; ++step) {
      if (step % 10 == 0) AddAppends(c, 2, &next);
      if (step % 10 == 5 && rooms > 0) {
        c.ledger().Add("room" + std::to_string(next % rooms), "t" + std::to_string(next % 3),
                       "room payload " + std::to_string(next));
        next++;
      }
      if (admin.valid() &&
          admin.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready) {
        if (admin.get().ok()) rooms++;
      }
      if (!admin.valid() && step % 1000 == 500 && rooms < 8) {
        if (auto s = c.Serving()) {
          admin = std::async(std::launch::async, [&c, s, name = "room" + std::to_string(rooms)] {
            return c.Served(*s).CreateNamespace(name, NamespaceOptions{});
          });
        }
      }
      c.Client(16);
      c.Step();
      const int64_t now = c.now_ms();
      if (now == heal_at) c.net().HealAll();
      if (now == unstall_at) c.coord().SetStalled(false);
      if (now == restart_at && down >= 0) {
        c.Start(static_cast<uint32_t>(down));
        down = -1;
      }
      if (step % 2500 != 1250) continue;
      finish_admin();
      faults++;
      const uint32_t victim = static_cast<uint32_t>(rng() % SimCluster::kNodes);
      switch (rng() % 6) {
        case 0:  // kill -9 + power loss, restarted at once
          if (c.Up(victim)) c.Crash(victim, kModes[rng() % 5]);
          break;
        case 1:  // kill, restarted later
          if (down < 0 && c.Up(victim)) {
            c.Crash(victim, kModes[rng() % 5], /*restart=*/false);
            down = static_cast<int>(victim);
            restart_at = now + 3000;
          }
          break;
        case 2:  // one replica cut off both ways
          c.net().Isolate(victim, SimCluster::kNodes);
          heal_at = now + 2000;
          break;
        case 3:  // the primary cut from its followers, one way
          if (auto s = c.Serving()) {
            for (uint32_t n = 0; n < SimCluster::kNodes; ++n) {
              if (n != *s) c.net().Cut(*s, n, /*both_ways=*/false);
            }
            heal_at = now + 2500;
          }
          break;
        case 4:  // etcd stalled
          c.coord().SetStalled(true);
          unstall_at = now + 1500;
          break;
        case 5: {  // a follower's disk wiped: it comes back a learner (one at a time)
          auto s = c.Serving();
          bool learner = false;
          for (uint32_t n = 0; n < SimCluster::kNodes; ++n) {
            learner =
                learner || (c.Up(n) && c.replica(n).status().membership != Membership::kVoter);
          }
          if (s && victim != *s && c.Up(victim) && !learner) {
            c.Wipe(victim);
            wipes++;
          }
          break;
        }
      }
    }
    c.net().HealAll();
    c.net().SetLossPct(0);
    c.net().SetDuplicatePct(0);
    c.coord().SetStalled(false);
    if (down >= 0) c.Start(static_cast<uint32_t>(down));
    finish_admin();
    ASSERT_TRUE(c.Settle(200'000)) << "did not settle";
    c.Check();
    EXPECT_GT(faults, 5);
    EXPECT_GT(rooms, 0) << "no namespace was created during the run";
    // Every replica has every namespace created, with the primary's id.
    const uint32_t primary = *c.Serving();
    for (int r = 0; r < rooms; ++r) {
      for (uint32_t n = 0; n < SimCluster::kNodes; ++n) {
        std::optional<uint32_t> ids[2];
        const uint32_t of[2] = {primary, n};
        for (int k = 0; k < 2; ++k) {
          (void)c.replica(of[k]).WithDb([&](Db& db) {
            auto d = db.DescribeNamespace("room" + std::to_string(r));
            if (d.ok()) ids[k] = d->id;
            return Status::Ok();
          });
        }
        EXPECT_TRUE(ids[0] && ids[0] == ids[1]) << "room" << r << " on replica " << n;
      }
    }
    size_t acked = 0;
    for (const auto& op : c.ledger().All()) acked += op.acked ? 1 : 0;
    std::printf(
        "seed %d: %d faults (%d wipes), %d namespaces created, %llu elections, %zu of %zu appends "
        "acknowledged (%zu as retries deduplicated), %llu messages dropped\n",
        seed, faults, wipes, rooms, static_cast<unsigned long long>(c.coord().elections()), acked,
        c.ledger().All().size(), c.ledger().deduplicated(),
        static_cast<unsigned long long>(c.net().dropped()));
  }
}

}  // namespace
}  // namespace tldb::repl
