// ShardHost and ShardedDb in one process against a real etcd: three ShardHosts (servers 0, 1,
// 2) hold partitions of three replicas, and `promote` keys make server 0 every partition's
// primary, so that its ShardedDb serves them all.
// Covered: NotFound without a slot map; a newer map version starting the replica of a
// partition newly listing the server and being routed by; LAST_SEQ split over two local
// partitions and put back in request order; a fan-out across partitions without a
// client_msg_id refused; MOVED for a
// partition held elsewhere; the CLUSTER_MAP body; a namespace written to the etcd catalog only
// (as another server's NS_CREATE does) reaching a write at once through the wait for the next
// poll; STATS counters per partition. Without etcd installed these tests fail.
#include "cluster/shard_host.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include "cluster/etcd_coordinator.h"
#include "cluster/sharded_db.h"
#include "cluster/slot_map_store.h"
#include "cluster/testing/etcd_test.h"
#include "common/temp_dir.h"

namespace tldb::cluster {
namespace {

using Clock = std::chrono::steady_clock;
using tldb::cluster::testing::EtcdTest;

class ShardHostTest : public EtcdTest {
 protected:
  ShardHostOptions Options(uint32_t server = 0) {
    ShardHostOptions o;
    o.etcd_endpoints = etcd_.endpoints();
    o.etcd_prefix = "/s/";
    o.server = server;
    o.client_address = "127.0.0.1:" + std::to_string(7999 - server);
    o.peer_listen = "127.0.0.1:0";
    o.data_dir = dir_.path() + "/s" + std::to_string(server);
    o.namespaces = {{"store", NamespaceOptions{}}};
    o.log = [](std::string_view) {};
    return o;
  }
  // Waits (30 s at most) until every local replica serves as its partition's primary.
  bool AllServing(ShardHost& h) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      auto r = h.routing();
      bool all = !r->local.empty();
      for (const auto& [p, node] : r->local) all &= node->status().serving;
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (const auto& [p, node] : h.routing()->local) {
      const repl::ReplicaStatus s = node->status();
      ADD_FAILURE() << "partition " << p << ": role " << static_cast<int>(s.role) << " membership "
                    << static_cast<int>(s.membership) << " serving " << s.serving << " etcd_ok "
                    << s.etcd_ok << " epoch " << s.epoch;
    }
    return false;
  }
  // Replica 0 (server 0) of `partition` is the one to lead (tldb cluster promote 0).
  void PromoteServer0(uint32_t partition) {
    ASSERT_TRUE(client_->Put(EtcdCoordinator::PromoteKey("/s/", partition), "0").ok());
  }
  // Servers 1 and 2: the other replicas.
  void StartOthers() {
    for (uint32_t server : {1u, 2u}) {
      auto h = ShardHost::Start(Options(server));
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      others_.push_back(std::move(h).value());
    }
  }
  // A timeline of partition `p` under `map`.
  static std::string TimelineOf(const proto::SlotMap& map, uint32_t p) {
    for (int i = 0;; ++i) {
      std::string t = "t:" + std::to_string(i);
      if (map.Owner(proto::SlotOf(t)).id == p) return t;
    }
  }

  common::TempDir dir_{"tldb-shard-host"};
  std::vector<std::unique_ptr<ShardHost>> others_;  // after dir_: stopped before it goes
};

TEST_F(ShardHostTest, NoSlotMapIsNotFound) {
  auto h = ShardHost::Start(Options());
  EXPECT_TRUE(h.status().IsNotFound()) << h.status().ToString();
}

TEST_F(ShardHostTest, RoutesByTheNewestMapAndSplitsReadsByPartition) {
  SlotMapStore store(*client_, "/s/");
  // Version 1: partition 0 (all slots) on servers 0, 1, 2.
  auto v1 =
      proto::SlotMap::Make(1, {{0, {0, 1, 2}, {{0, proto::kSlotCount - 1}}, proto::kNoServer}});
  ASSERT_TRUE(v1.ok());
  auto stored = store.Create(*v1);
  ASSERT_TRUE(stored.ok());
  PromoteServer0(0);
  PromoteServer0(1);
  auto h = ShardHost::Start(Options());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  StartOthers();
  ShardedDb db(**h);
  ASSERT_TRUE(AllServing(**h));
  auto a = db.Append("store", "t:first", "x", {});
  ASSERT_TRUE(a.ok()) << a.status().ToString();

  // Version 2: partition 1 (the upper half) on the same servers, partition 2 (one slot) on
  // server 5, which does not run.
  auto v2 = proto::SlotMap::Make(2, {{0, {0, 1, 2}, {{0, 8191}}, proto::kNoServer},
                                     {1, {0, 1, 2}, {{8192, 16382}}, proto::kNoServer},
                                     {2, {5}, {{16383, 16383}}, proto::kNoServer}});
  ASSERT_TRUE(v2.ok());
  ASSERT_TRUE(store.Update(*stored, *v2).ok());
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline && (*h)->routing()->map.version() != 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ((*h)->routing()->map.version(), 2u);
  ASSERT_EQ((*h)->routing()->local.size(), 2u);  // partition 1's replica was started
  ASSERT_TRUE(AllServing(**h));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/s0/partition-1"));

  const std::string t0 = TimelineOf(*v2, 0), t1 = TimelineOf(*v2, 1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(db.Append("store", t1, "y", {}).ok());
  ASSERT_TRUE(db.Append("store", t0, "z", {}).ok());
  // LAST_SEQ over both partitions, in request order.
  const std::string_view both[] = {t1, t0, "t:none"};
  auto last = db.LastSeq("store", both);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  const Seq t0_last = t0 == "t:first" ? 2 : 1;
  ASSERT_NE(v2->Owner(proto::SlotOf("t:none")).id, 2u);
  EXPECT_EQ(*last, (std::vector<Seq>{3, t0_last, 0}));
  // A fan-out across the two local partitions without a client_msg_id (the key of its intent,
  // tests/intent_fanout_test.cc) is refused; nothing is written.
  const std::string_view across[] = {t0, t1};
  auto fan = db.AppendFanout("store", across, "f", {});
  EXPECT_EQ(fan.status().code(), Status::Code::kInvalidArgument);
  auto still = db.LastSeq("store", across);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ((*still)[1], 3u);
  // Slot 16383 is partition 2's, on server 5, which is not registered: MOVED, no address.
  std::string elsewhere;
  for (int i = 0; elsewhere.empty(); ++i) {
    std::string t = "m:" + std::to_string(i);
    if (proto::SlotOf(t) == 16383) elsewhere = t;
  }
  auto moved = db.Append("store", elsewhere, "x", {});
  ASSERT_EQ(moved.status().code(), Status::Code::kMoved);
  EXPECT_EQ(moved.status().message(), proto::MovedMessage(16383, 2, 2, ""));
  const std::string_view with_moved[] = {t0, elsewhere};
  EXPECT_EQ(db.LastSeq("store", with_moved).status().code(), Status::Code::kMoved);

  // CLUSTER_MAP: version 2, the primaries (server 0, once a poll read the leader keys) and the
  // servers' addresses.
  Result<proto::SlotMap> wire = Status::NotFound("not read");
  for (const auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until;) {
    auto body = (*h)->ClusterMapBody();
    ASSERT_TRUE(body.ok());
    wire = proto::SlotMap::DecodeWire(*body);
    ASSERT_TRUE(wire.ok());
    if (wire->Partition(0)->primary == 0 && wire->Partition(1)->primary == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(wire->version(), 2u);
  EXPECT_EQ(wire->Partition(1)->primary, 0u);
  EXPECT_EQ(wire->AddressOf(0), "127.0.0.1:7999");
  EXPECT_EQ(wire->AddressOf(2), "127.0.0.1:7997");
  std::vector<std::pair<std::string, uint64_t>> stats;
  (*h)->AddStats(&stats);
  std::map<std::string, uint64_t> s(stats.begin(), stats.end());
  EXPECT_EQ(s["shard_map_version"], 2u);
  EXPECT_EQ(s["shard_partitions_local"], 2u);
  EXPECT_EQ(s["cluster_p1_serving"], 1u);
  EXPECT_EQ(s.count("cluster_p2_serving"), 0u);
}

TEST_F(ShardHostTest, ANamespaceInTheCatalogReachesAWriteAtOnce) {
  SlotMapStore store(*client_, "/s/");
  auto v1 = proto::SlotMap::Make(1, {{0, {0, 1, 2}, {{0, 8191}}, proto::kNoServer},
                                     {1, {0, 1, 2}, {{8192, 16383}}, proto::kNoServer}});
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(store.Create(*v1).ok());
  PromoteServer0(0);
  PromoteServer0(1);
  ShardHostOptions o = Options();
  o.poll_ms = 60'000;  // no regular poll during the test: only the wait for the next one
  auto h = ShardHost::Start(o);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  StartOthers();
  ShardedDb db(**h);
  ASSERT_TRUE(AllServing(**h));
  // Another server's NS_CREATE: the catalog in etcd only.
  NamespaceOptions chat;
  chat.ttl_ms = 3'600'000;
  ASSERT_TRUE((*h)->namespaces().Create("chat", chat).ok());
  // A write waits for the next poll (none would come for a minute: it is woken), which
  // applies the catalog, then goes through.
  const std::string t1 = TimelineOf(*v1, 1);
  ASSERT_EQ((*h)->routing()->namespaces.at(1).count("chat"), 0u);
  std::promise<Result<AppendResult>> done;
  db.AppendAsync("chat", t1, "hello", {}, [&](Result<AppendResult> r) { done.set_value(r); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto r = f.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->seq, 1u);
  auto info = db.DescribeNamespace("chat");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->options.ttl_ms, chat.ttl_ms);
  // A read does not wait: NOT_FOUND at once.
  EXPECT_TRUE(db.Get("nowhere", t1, 1).status().IsNotFound());
  // A namespace that exists nowhere: the write waits one poll, then NOT_FOUND.
  std::promise<Result<AppendResult>> none;
  db.AppendAsync("nowhere", t1, "x", {}, [&](Result<AppendResult> r) { none.set_value(r); });
  auto g = none.get_future();
  ASSERT_EQ(g.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(g.get().status().IsNotFound());
  // NS_CREATE through this server's Db: etcd, then its primaries at once.
  ASSERT_TRUE(db.CreateNamespace("feed", NamespaceOptions{}).ok());
  const std::string t0 = TimelineOf(*v1, 0);
  EXPECT_TRUE(db.Append("feed", t0, "x", {}).ok());
  EXPECT_TRUE(db.Append("feed", t1, "x", {}).ok());
  EXPECT_EQ(db.CreateNamespace("feed", chat).code(), Status::Code::kAlreadyExists);
  (*h)->Stop();
}

// A split's clone left by a server stopped mid-split: at its next start it is removed unless the
// split's map gave the child a replica here that has not started yet (then the replica starts
// on it); a name that is not a clone's is left alone.
TEST_F(ShardHostTest, ALeftoverSplitCloneIsRemovedAtStartUnlessItsChildStartsOnIt) {
  SlotMapStore store(*client_, "/s/");
  auto v1 = proto::SlotMap::Make(1, {{0, {0}, {{0, 8191}}, proto::kNoServer},
                                     {1, {0}, {{8192, proto::kSlotCount - 1}}, proto::kNoServer}});
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(store.Create(*v1).ok());
  // Partition 1's split key names split 55: its clone here is what replica 1 starts on.
  ASSERT_TRUE(client_->Put(PartitionSplit::ChildKey("/s/", 1), R"({"parent":0,"id":"55"})").ok());
  const std::string data = Options().data_dir;
  namespace fs = std::filesystem;
  for (const char* d : {"partition-0", "partition-0.split-99", "partition-5.split-77",
                        "partition-1.split-55", "partition-3.split-x"}) {
    ASSERT_TRUE(fs::create_directories(data + "/" + d));
  }
  auto h = ShardHost::Start(Options());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_FALSE(fs::exists(data + "/partition-5.split-77")) << "its child is not in the map";
  EXPECT_FALSE(fs::exists(data + "/partition-0.split-99")) << "partition 0 runs on its own";
  EXPECT_FALSE(fs::exists(data + "/partition-1.split-55")) << "partition 1 started on it";
  EXPECT_TRUE(fs::exists(data + "/partition-1"));
  EXPECT_TRUE(fs::exists(data + "/partition-3.split-x")) << "not a clone's name";
  EXPECT_EQ((*h)->routing()->local.size(), 2u);
}

}  // namespace
}  // namespace tldb::cluster
