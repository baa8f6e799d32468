// The replicated catalog (docs/replication.md "Catalog"): namespaces created and options
// changed on the serving primary reach every replica with the same id, survive failover and
// restarts, and a new primary whose own catalog is behind adopts the committed one before it
// adopts the namespaces' logs.
#include <gtest/gtest.h>

#include <future>

#include "replication_sim_cluster.h"

namespace tldb::repl {
namespace {

// Runs fn on a thread of its own while this one drives the cluster (a catalog change returns
// once a majority has its record, which needs the driver).
Status WhileStepping(SimCluster& c, const std::function<Status()>& fn) {
  auto done = std::async(std::launch::async, fn);
  for (int i = 0; i < 60'000; ++i) {
    if (done.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready) break;
    c.Step();
    std::this_thread::sleep_for(std::chrono::microseconds(50));  // engine threads run too
  }
  return done.get();
}

NamespaceOptions RoomOptions() {
  NamespaceOptions o;
  o.ttl_ms = 86'400'000;
  o.messages_per_timeline_max = 500;
  o.segment_bytes_max = kSegmentBytesMin;
  return o;
}

// Steps (sending the ledger's due appends) until fn() holds or the bound passes; returns fn().
bool StepUntil(SimCluster& c, const std::function<bool()>& fn, int steps_max = 20'000) {
  for (int i = 0; i < steps_max && !fn(); ++i) {
    c.Client(16);
    c.Step();
  }
  return fn();
}

Result<NamespaceInfo> Describe(SimCluster& c, uint32_t n, const std::string& ns) {
  Result<NamespaceInfo> out = Status::NotFound("no db");
  (void)c.replica(n).WithDb([&](Db& db) {
    out = db.DescribeNamespace(ns);
    return Status::Ok();
  });
  return out;
}

bool AllHave(SimCluster& c, const std::string& ns, const NamespaceOptions& o) {
  for (uint32_t n = 0; n < SimCluster::kNodes; ++n) {
    if (!c.Up(n)) return false;
    auto d = Describe(c, n, ns);
    if (!d.ok() || !(d->options == o)) return false;
  }
  return true;
}

void AddRooms(SimCluster& c, int n, uint64_t* next) {
  for (int i = 0; i < n; ++i, ++*next) {
    c.ledger().Add("rooms", "r" + std::to_string(*next % 5),
                   "m" + std::to_string(*next) + std::string(300, 'r'));
  }
}

TEST(ReplicationCatalogTest, CreatedNamespaceReachesEveryReplicaWithTheSameId) {
  SimCluster c(11);
  auto s = Elect(c);
  ASSERT_TRUE(s);
  ASSERT_TRUE(
      WhileStepping(c, [&] { return c.Served(*s).CreateNamespace("rooms", RoomOptions()); }).ok());
  uint64_t next = 0;
  AddRooms(c, 300, &next);  // several 64 KiB segments: rolls of a created namespace too
  ASSERT_TRUE(c.Settle(60'000));
  ASSERT_TRUE(StepUntil(c, [&] { return AllHave(c, "rooms", RoomOptions()); }));
  const uint32_t id = Describe(c, *s, "rooms")->id;
  const uint64_t version = c.replica(*s).status().catalog_seq;
  EXPECT_GT(version, 0u);
  for (uint32_t n = 0; n < SimCluster::kNodes; ++n) {
    EXPECT_EQ(Describe(c, n, "rooms")->id, id) << "replica " << n;
    EXPECT_EQ(c.replica(n).status().catalog_seq, version) << "replica " << n;
  }
  EXPECT_GE(Describe(c, *s, "rooms")->segments, 2u);  // it rolled

  // Options change through the catalog too, on every replica.
  NamespaceOptions changed = RoomOptions();
  changed.ttl_ms = 3'600'000;
  ASSERT_TRUE(
      WhileStepping(c, [&] { return c.Served(*s).SetNamespaceOptions("rooms", changed); }).ok());
  ASSERT_TRUE(StepUntil(c, [&] { return AllHave(c, "rooms", changed); }));
  c.Check();
}

TEST(ReplicationCatalogTest, ChangesAreCheckedAndServedByThePrimaryOnly) {
  SimCluster c(12);
  auto s = Elect(c);
  ASSERT_TRUE(s);
  const auto create = [&](uint32_t n, const std::string& ns, const NamespaceOptions& o) {
    return WhileStepping(c, [&, n] { return c.Served(n).CreateNamespace(ns, o); });
  };
  ASSERT_TRUE(create(*s, "rooms", RoomOptions()).ok());
  EXPECT_TRUE(create(*s, "rooms", RoomOptions()).ok()) << "creating it again is idempotent";
  NamespaceOptions other = RoomOptions();
  other.ttl_ms = 1;
  EXPECT_EQ(create(*s, "rooms", other).code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(create(*s, "Bad Name", RoomOptions()).code(), Status::Code::kInvalidArgument);
  NamespaceOptions bad = RoomOptions();
  bad.compact_live_pct = 1000;
  EXPECT_EQ(create(*s, "rooms2", bad).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(
      WhileStepping(c, [&] { return c.Served(*s).SetNamespaceOptions("nope", other); }).code(),
      Status::Code::kNotFound);
  const uint32_t follower = (*s + 1) % SimCluster::kNodes;
  EXPECT_EQ(create(follower, "rooms3", RoomOptions()).code(), Status::Code::kNotPrimary);
  // Only the one accepted change made a record: refused ones change nothing anywhere.
  EXPECT_EQ(c.replica(*s).status().catalog_seq, 1u);
  for (uint32_t n = 0; n < SimCluster::kNodes; ++n) {
    EXPECT_FALSE(Describe(c, n, "rooms2").ok());
    EXPECT_FALSE(Describe(c, n, "rooms3").ok());
  }
}

// The case the two-step adoption is for: a namespace and its frames committed by the primary
// and one follower while the other follower was cut off; then the primary dies and the
// follower that was cut off leads (the other cannot reach etcd). Its own catalog lacks the
// namespace, so it must adopt the catalog first, create the namespace, and then adopt its log
// from the follower that has it; otherwise the committed messages of `rooms` would be lost.
TEST(ReplicationCatalogTest, ALeaderWhoseCatalogIsBehindAdoptsTheCommittedOneFirst) {
  SimCluster c(13);
  auto s = Elect(c);
  ASSERT_TRUE(s);
  const uint32_t a = (*s + 1) % SimCluster::kNodes, b = (*s + 2) % SimCluster::kNodes;
  uint64_t next = 0;
  c.net().Isolate(b, SimCluster::kNodes);
  ASSERT_TRUE(
      WhileStepping(c, [&] { return c.Served(*s).CreateNamespace("rooms", RoomOptions()); }).ok());
  AddRooms(c, 200, &next);
  ASSERT_TRUE(StepUntil(
      c, [&] { return c.ledger().Due(1).empty() && c.ledger().in_flight() == 0; }, 60'000));
  EXPECT_FALSE(Describe(c, b, "rooms").ok()) << "the cut-off follower has no catalog record";
  EXPECT_GT(c.replica(a).status().catalog_seq, c.replica(b).status().catalog_seq);

  c.Crash(*s, UnsyncedMode::kDrop, /*restart=*/false);
  c.net().HealAll();
  c.coord().SetReachable(a, false);  // a cannot campaign: b leads, with a's promise
  std::optional<uint32_t> leader;
  ASSERT_TRUE(StepUntil(
      c,
      [&] {
        leader = c.Serving();
        return leader.has_value();
      },
      60'000));
  EXPECT_EQ(*leader, b);
  c.coord().SetReachable(a, true);
  c.Start(*s);
  ASSERT_TRUE(c.Settle(60'000));
  ASSERT_TRUE(StepUntil(c, [&] { return AllHave(c, "rooms", RoomOptions()); }));
  c.Check();  // every acknowledged message of `rooms` is there at its SeqId
}

// A replica restarted on an empty disk gets the created namespaces from the log (as a learner),
// and after a power loss of every replica the catalog and the namespace's messages are intact.
TEST(ReplicationCatalogTest, WipedReplicaAndPowerLossKeepTheCatalog) {
  SimCluster c(14);
  auto s = Elect(c);
  ASSERT_TRUE(s);
  ASSERT_TRUE(
      WhileStepping(c, [&] { return c.Served(*s).CreateNamespace("rooms", RoomOptions()); }).ok());
  uint64_t next = 0;
  AddRooms(c, 100, &next);
  ASSERT_TRUE(c.Settle(60'000));
  const uint32_t f = (*s + 1) % SimCluster::kNodes;
  c.Wipe(f);
  ASSERT_TRUE(WaitUntilVoter(c, f, 60'000));
  ASSERT_TRUE(StepUntil(c, [&] { return AllHave(c, "rooms", RoomOptions()); }));
  EXPECT_EQ(Describe(c, f, "rooms")->id, Describe(c, *s, "rooms")->id);

  for (uint32_t n = 0; n < SimCluster::kNodes; ++n) {
    c.Crash(n, UnsyncedMode::kDrop, /*restart=*/false);
  }
  for (uint32_t n = 0; n < SimCluster::kNodes; ++n) c.Start(n);
  ASSERT_TRUE(Elect(c, 60'000));
  AddRooms(c, 50, &next);
  ASSERT_TRUE(c.Settle(60'000));
  ASSERT_TRUE(StepUntil(c, [&] { return AllHave(c, "rooms", RoomOptions()); }));
  c.Check();
}

}  // namespace
}  // namespace tldb::repl
