// Kill points in the replication path (docs/replication.md "Kill points"): a scenario that
// elects a primary, creates a namespace through the replicated catalog, fails it over, cuts an
// old primary's unacknowledged tail, wipes a follower (a learner, then a voter) and rebuilds a
// follower from a snapshot reaches every point of
// kReplicaKillPoints. A dry run counts the hits; then, for each point, the scenario runs again
// and the replica that reaches the point first dies there (its disk refuses every later write,
// then it loses its unsynced bytes and restarts). Each run ends healed and settled, and the
// checker finds every acknowledged message once at its SeqId and every data directory SOUND.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "replication_sim_cluster.h"

namespace tldb::repl {
namespace {

struct Armed {
  std::mutex mu;
  std::string name;  // empty: a dry run
  std::map<std::string, uint64_t> hits;
  int killed = -1;  // the replica that died at the point, until the driver crashes it
  bool fired = false;
  bool admin_running = false;  // a catalog call holds a replica: crash it once the call ended
};

// The scenario; kills happen wherever `armed` says. True if it ended settled.
bool Scenario(uint64_t seed, Armed& armed, UnsyncedMode mode, std::string* failure) {
  SimCluster c(seed, [&armed, &c](ReplicaConfig& rc) {
    SmallSegmentsShortRetention(rc);
    const uint32_t node = rc.node;
    rc.kill_point = [&armed, &c, node](std::string_view point) {
      std::lock_guard l(armed.mu);
      const uint64_t n = ++armed.hits[std::string(point)];
      if (armed.fired || point != armed.name || n != 1) return false;
      armed.fired = true;
      armed.killed = static_cast<int>(node);
      c.fs(node).CrashAfterOps(0);  // nothing more reaches its disk
      return true;
    };
  });
  // One step; a replica that died at the kill point is crashed and restarted.
  auto step = [&] {
    c.Client(16);
    c.Step();
    // Simulated time passes only with steps; the engines' threads run on real time. A little
    // of it per step keeps a slow build (sanitizers) from skipping what the phases expect.
    if (c.now_ms() % 16 == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(10));
    } else {
      std::this_thread::yield();
    }
    int k = -1;
    {
      std::lock_guard l(armed.mu);
      if (!armed.admin_running) std::swap(k, armed.killed);
    }
    if (k >= 0) c.Crash(static_cast<uint32_t>(k), mode);
  };
  auto run = [&](int steps) {
    for (int i = 0; i < steps; ++i) step();
  };
  auto serving = [&] {
    for (int i = 0; i < 30'000; ++i) {
      if (auto s = c.Serving()) return s;
      step();
    }
    return std::optional<uint32_t>();
  };
  uint64_t next = 0;
  // 1. A new partition elects a primary and replicates.
  auto p = serving();
  if (!p) return *failure = "no primary at first", false;
  AddBig(c, 60, &next);
  run(3'000);
  // 1b. A namespace created through the replicated catalog (retried, as a client would, when
  // the primary died during the call), then appends to it.
  bool created = false;
  for (int attempt = 0; attempt < 5 && !created; ++attempt) {
    if (!(p = serving())) return *failure = "no primary to create a namespace", false;
    {
      std::lock_guard l(armed.mu);
      armed.admin_running = true;
    }
    auto call = std::async(std::launch::async, [&c, s = *p] {
      NamespaceOptions o;
      o.segment_bytes_max = kSegmentBytesMin;
      return c.Served(s).CreateNamespace("rooms", o);
    });
    while (call.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) step();
    {
      std::lock_guard l(armed.mu);
      armed.admin_running = false;
    }
    created = call.get().ok();
    run(100);
  }
  if (!created) return *failure = "the namespace was never created", false;
  for (int i = 0; i < 20; ++i) c.ledger().Add("rooms", "r", "room " + std::to_string(i));
  run(2'000);
  // 2. The primary is cut from its followers and writes a tail nobody acknowledges; a follower
  // takes over. That one dies as the old primary is healed, and the third replica cannot reach
  // etcd: the old primary campaigns and adopts the third's log, cutting its own tail. Then the
  // dead one returns and its log is cut to the new primary's.
  if (!(p = serving())) return *failure = "no primary before the cut", false;
  const uint32_t old = *p;
  c.net().Isolate(old, SimCluster::kNodes);
  AddBig(c, 10, &next);
  std::optional<uint32_t> q;
  for (int i = 0; i < 30'000 && !(q && *q != old); ++i) {
    step();
    q = c.Serving();
  }
  if (!(q && *q != old)) return *failure = "no failover from the isolated primary", false;
  const uint32_t third = 3 - old - *q;
  // The new primary commits frames of its epoch, so they are on the third too.
  auto acked = [&] {
    size_t n = 0;
    for (const auto& op : c.ledger().All()) n += op.acked ? 1 : 0;
    return n;
  };
  const size_t acked_before = acked();
  AddBig(c, 10, &next);
  for (int i = 0; i < 30'000 && acked() == acked_before; ++i) step();
  if (acked() == acked_before) return *failure = "the new primary committed nothing", false;
  c.coord().SetReachable(third, false);
  c.Crash(*q, mode, /*restart=*/false);
  c.net().HealAll();
  run(8'000);
  c.coord().SetReachable(third, true);
  c.Start(*q);
  run(4'000);
  // 2b. Once more a primary cut off writes a tail; when it is healed it joins the new primary,
  // which cuts that tail.
  if (!(p = serving())) return *failure = "no primary before the second cut", false;
  const uint32_t cut_off = *p;
  c.net().Isolate(cut_off, SimCluster::kNodes);
  AddBig(c, 10, &next);
  q.reset();
  for (int i = 0; i < 30'000 && !(q && *q != cut_off); ++i) {
    step();
    q = c.Serving();
  }
  c.net().HealAll();
  run(4'000);
  // 3. kill -9 of the primary: a failover.
  if (!(p = serving())) return *failure = "no primary before the kill", false;
  c.Crash(*p, mode);
  AddBig(c, 30, &next);
  run(6'000);
  // 4. A follower's disk is wiped: a learner, then told to vote.
  if (!(p = serving())) return *failure = "no primary before the wipe", false;
  c.Wipe((*p + 1) % SimCluster::kNodes);
  AddBig(c, 30, &next);
  run(6'000);
  // 5. A follower away while the primary compacts: rebuilt from a snapshot.
  if (!(p = serving())) return *failure = "no primary before the rebuild", false;
  const uint32_t away = (*p + 2) % SimCluster::kNodes;
  c.Crash(away, mode, /*restart=*/false);
  AddBig(c, 60, &next);
  run(4'000);
  if (!(p = serving())) return *failure = "no primary to compact", false;
  if (*p != away) CompactAll(c, *p);
  if (!c.Up(away)) c.Start(away);
  AddBig(c, 10, &next);
  run(10'000);
  c.net().HealAll();
  if (!c.Settle(200'000)) return *failure = "did not settle", false;
  // Followers compacted apart from the primary (or not at all): their sealed segments are
  // not compared byte for byte here (replication_rebuild_test does that).
  std::set<uint32_t> followers;
  for (uint32_t n = 0; n < SimCluster::kNodes; ++n) followers.insert(n);
  c.Check(followers);
  return true;
}

TEST(ReplicationKillPointTest, EveryPointIsReachedAndAKillThereLosesNothing) {
  Armed dry;
  std::string failure;
  ASSERT_TRUE(Scenario(41, dry, UnsyncedMode::kDrop, &failure)) << "dry run: " << failure;
  for (std::string_view point : kReplicaKillPoints) {
    EXPECT_GT(dry.hits[std::string(point)], 0u) << point << " is never reached";
  }
  constexpr UnsyncedMode kModes[] = {UnsyncedMode::kDrop, UnsyncedMode::kTear512,
                                     UnsyncedMode::kGarbageFill};
  size_t i = 0, fired = 0;
  for (std::string_view point : kReplicaKillPoints) {
    SCOPED_TRACE(std::string(point));
    Armed armed;
    armed.name = std::string(point);
    failure.clear();
    EXPECT_TRUE(Scenario(100 + i, armed, kModes[i % 3], &failure)) << failure;
    fired += armed.fired ? 1 : 0;
    std::printf("%-28s %s\n", std::string(point).c_str(),
                armed.fired ? "killed, recovered, nothing lost" : "not reached in this run");
    ++i;
  }
  // The engines' threads make runs differ in detail; nearly every point must still be hit.
  EXPECT_GE(fired + 1, std::size(kReplicaKillPoints)) << "kill points missed in the armed runs";
}

}  // namespace
}  // namespace tldb::repl
