// A sharded cluster's keys in a real etcd (server/cluster/testing/etcd_cluster.h): the slot map
// (SlotMapStore: create once, load, update by compare-and-swap, every map checked), server
// registrations on a lease, the primaries assembled from partitions/<P>/leader, the namespace
// catalog (ClusterNamespaces), EtcdCoordinator's per-partition keys, and the routing rule of
// cursor keys (CursorRoutingTimeline). Without etcd installed these tests fail.
#include "cluster/slot_map_store.h"

#include <gtest/gtest.h>

#include "cluster/cluster_namespaces.h"
#include "cluster/etcd_coordinator.h"
#include "cluster/sharded_db.h"
#include "cluster/testing/etcd_test.h"

namespace tldb::cluster {
namespace {

using proto::SlotMap;
using tldb::cluster::testing::EtcdTest;

class SlotMapStoreTest : public EtcdTest {
 protected:
  SlotMap Even(uint64_t version, uint32_t partitions) {
    auto m = SlotMap::Even(version, partitions, {0, 1, 2, 3, 4}, 3);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return *m;
  }
};

TEST_F(SlotMapStoreTest, LoadIsNotFoundUntilCreatedThenRoundTrips) {
  SlotMapStore store(*client_, "/t/");
  EXPECT_TRUE(store.Load().status().IsNotFound());
  auto created = store.Create(Even(1, 4));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->map.version(), 1u);
  EXPECT_EQ(loaded->mod_revision, created->mod_revision);
  ASSERT_EQ(loaded->map.partitions().size(), 4u);
  for (uint32_t p = 0; p < 4; ++p) {
    const auto& want = created->map.partitions()[p];
    const auto& got = loaded->map.partitions()[p];
    EXPECT_EQ(got.id, want.id);
    EXPECT_EQ(got.replicas, want.replicas);
    ASSERT_EQ(got.ranges.size(), want.ranges.size());
    EXPECT_EQ(got.ranges[0].first, want.ranges[0].first);
    EXPECT_EQ(got.ranges[0].last, want.ranges[0].last);
  }
  // The slot of a key is the same in both.
  EXPECT_EQ(loaded->map.Owner(proto::SlotOf("conv:1")).id,
            created->map.Owner(proto::SlotOf("conv:1")).id);
  // The stored value is the documented JSON form (docs/cluster.md "The map").
  auto kv = client_->Get("/t/slotmap");
  ASSERT_TRUE(kv.ok() && kv->has_value());
  EXPECT_NE((*kv)->value.find("\"version\":1"), std::string::npos) << (*kv)->value;
  EXPECT_NE((*kv)->value.find("\"slots\":[[0,4095]]"), std::string::npos) << (*kv)->value;
}

TEST_F(SlotMapStoreTest, CreateRefusesWhenPresentAndNeedsVersionOne) {
  SlotMapStore store(*client_, "/t/");
  EXPECT_EQ(store.Create(Even(2, 4)).status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(store.Load().status().IsNotFound());  // nothing written
  ASSERT_TRUE(store.Create(Even(1, 4)).ok());
  auto again = store.Create(Even(1, 2));
  EXPECT_EQ(again.status().code(), Status::Code::kAlreadyExists) << again.status().ToString();
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->map.partitions().size(), 4u);  // the first map stays
}

TEST_F(SlotMapStoreTest, UpdateComparesTheRevisionItWasComputedFrom) {
  SlotMapStore store(*client_, "/t/");
  auto v1 = store.Create(Even(1, 4));
  ASSERT_TRUE(v1.ok());
  // A version that does not follow is refused before etcd is asked.
  EXPECT_EQ(store.Update(*v1, Even(3, 2)).status().code(), Status::Code::kInvalidArgument);
  auto v2 = store.Update(*v1, Even(2, 2));
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_GT(v2->mod_revision, v1->mod_revision);
  // A second change computed from version 1 lost the race: Conflict, version 2 stays.
  auto late = store.Update(*v1, Even(2, 8));
  EXPECT_EQ(late.status().code(), Status::Code::kConflict) << late.status().ToString();
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->map.version(), 2u);
  EXPECT_EQ(loaded->map.partitions().size(), 2u);
}

TEST_F(SlotMapStoreTest, AStoredMapThatBreaksTheRulesIsCorruption) {
  SlotMapStore store(*client_, "/t/");
  // Slots 4096.. belong to nobody.
  ASSERT_TRUE(
      client_
          ->Put("/t/slotmap",
                R"({"version":1,"partitions":[{"id":0,"replicas":[0],"slots":[[0,4095]]}]})")
          .ok());
  auto loaded = store.Load();
  EXPECT_TRUE(loaded.status().IsCorruption()) << loaded.status().ToString();
  ASSERT_TRUE(client_->Put("/t/slotmap", "not json").ok());
  EXPECT_TRUE(store.Load().status().IsCorruption());
  // The JSON parse checks ranges and replicas as Make does.
  EXPECT_FALSE(SlotMapStore::FromJson(
                   R"({"version":1,"partitions":[{"id":0,"replicas":[0,0],"slots":[[0,16383]]}]})")
                   .ok());
  EXPECT_FALSE(SlotMapStore::FromJson(
                   R"({"version":1,"partitions":[{"id":0,"replicas":[0],"slots":[[0,16384]]}]})")
                   .ok());
  EXPECT_FALSE(SlotMapStore::FromJson(
                   R"({"version":1,"partitions":[{"id":0,"replicas":[0],"slots":[[5]]}]})")
                   .ok());
  EXPECT_TRUE(SlotMapStore::FromJson(
                  R"({"version":1,"partitions":[{"id":0,"replicas":[0],"slots":[[0,16383]]}]})")
                  .ok());
  // A move's spare: kept through the JSON form, never one of the replicas.
  auto spared = SlotMapStore::FromJson(
      R"({"version":3,"partitions":[{"id":0,"replicas":[0,1,2],"spare":4,"spare_for":1,"slots":[[0,16383]]}]})");
  ASSERT_TRUE(spared.ok()) << spared.status().ToString();
  EXPECT_EQ(spared->partitions()[0].spare, 4u);
  EXPECT_EQ(spared->partitions()[0].spare_for, 1u);
  auto again = SlotMapStore::FromJson(SlotMapStore::ToJson(*spared));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->partitions()[0].spare, 4u);
  EXPECT_EQ(SlotMapStore::ToJson(*again), SlotMapStore::ToJson(*spared));
  EXPECT_EQ(SlotMapStore::ToJson(Even(1, 2)).find("spare"), std::string::npos);
  EXPECT_FALSE(
      SlotMapStore::FromJson(
          R"({"version":1,"partitions":[{"id":0,"replicas":[0,1],"spare":1,"spare_for":0,"slots":[[0,16383]]}]})")
          .ok());
  EXPECT_FALSE(
      SlotMapStore::FromJson(  // the spare must be for one of the replicas
          R"({"version":1,"partitions":[{"id":0,"replicas":[0,1],"spare":2,"spare_for":5,"slots":[[0,16383]]}]})")
          .ok());
}

TEST_F(SlotMapStoreTest, ServersAndPrimariesMakeTheServingMap) {
  SlotMapStore store(*client_, "/t/");
  auto v1 = store.Create(Even(1, 4));
  ASSERT_TRUE(v1.ok());
  auto lease = client_->LeaseGrant(5);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(store.RegisterServer(1, "127.0.0.1:7001", lease->id).ok());
  ASSERT_TRUE(store.RegisterServer(2, "127.0.0.1:7002", 0).ok());
  ASSERT_TRUE(client_->Put("/t/servers/x", "{\"client\":\"bad id\"}").ok());  // skipped
  auto servers = store.Servers();
  ASSERT_TRUE(servers.ok());
  EXPECT_EQ(*servers,
            (std::map<uint32_t, std::string>{{1, "127.0.0.1:7001"}, {2, "127.0.0.1:7002"}}));
  // Partition 1's replicas are servers 1,2,3: its leader key names replica 1, server 2.
  ASSERT_TRUE(client_->Put("/t/partitions/1/leader", "1").ok());
  ASSERT_TRUE(client_->Put("/t/partitions/9/leader", "0").ok());  // no such partition
  auto serving = store.Serving(v1->map);
  ASSERT_TRUE(serving.ok()) << serving.status().ToString();
  EXPECT_EQ(serving->Partition(1)->primary, 2u);
  EXPECT_EQ(serving->Partition(0)->primary, proto::kNoServer);
  const uint16_t slot = serving->Partition(1)->ranges[0].first;
  EXPECT_EQ(serving->RouteAddress(slot), "127.0.0.1:7002");
  // The server key goes with its lease.
  ASSERT_TRUE(client_->LeaseRevoke(lease->id).ok());
  servers = store.Servers();
  ASSERT_TRUE(servers.ok());
  EXPECT_EQ(servers->count(1), 0u);
}

TEST_F(SlotMapStoreTest, NamespaceCatalogCreatesOnceAndComparesOptions) {
  ClusterNamespaces ns(*client_, "/t/");
  NamespaceOptions a;
  a.ttl_ms = 60'000;
  ASSERT_TRUE(ns.Create("chat", a).ok());
  EXPECT_TRUE(ns.Create("chat", a).ok());  // a retry
  NamespaceOptions b = a;
  b.messages_per_timeline_max = 10;
  EXPECT_EQ(ns.Create("chat", b).code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(ns.Create("Bad Name", a).code(), Status::Code::kInvalidArgument);
  NamespaceOptions bad;
  bad.compress_level = 99;
  EXPECT_FALSE(ns.Create("other", bad).ok());
  ASSERT_TRUE(ns.SetOptions("chat", b).ok());
  ASSERT_TRUE(ns.SetOptions("fresh", a).ok());  // created by a set
  auto list = ns.List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_TRUE(list->at("chat") == b);
  EXPECT_EQ(list->at("chat").durability, b.durability);
  EXPECT_TRUE(list->at("fresh") == a);
  auto back = ClusterNamespaces::FromJson(ClusterNamespaces::ToJson(b));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == b);
}

TEST_F(SlotMapStoreTest, CoordinatorKeysArePerPartition) {
  EtcdCoordinatorOptions o;
  o.etcd = etcd_.ClientOptions();
  o.prefix = "/t/";
  o.partition = 3;
  o.node = 1;
  o.client_address = "127.0.0.1:7001";
  o.peer_address = "127.0.0.1:8001";
  auto c = EtcdCoordinator::Start(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto voters = client_->Get("/t/partitions/3/voters");
  ASSERT_TRUE(voters.ok() && voters->has_value());
  EXPECT_EQ((*voters)->value, "0,1,2");
  auto node = client_->Get("/t/partitions/3/nodes/1");
  ASSERT_TRUE(node.ok() && node->has_value());
  EXPECT_NE((*node)->value.find("127.0.0.1:8001"), std::string::npos);
  auto won = (*c)->Campaign(1);
  ASSERT_TRUE(won.ok()) << won.status().ToString();
  EXPECT_EQ(won->node, 1u);
  auto leader = client_->Get("/t/partitions/3/leader");
  ASSERT_TRUE(leader.ok() && leader->has_value());
  EXPECT_EQ((*leader)->value, "1");
  // Partition 0 (an unsharded cluster) is untouched, and its promote key is where the CLI
  // writes it.
  auto other = client_->GetPrefix("/t/partitions/0/");
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->kvs.empty());
  EXPECT_EQ(EtcdCoordinator::PromoteKey("/t/"), "/t/partitions/0/promote");
  ASSERT_TRUE(client_->Put(EtcdCoordinator::PromoteKey("/t/", 3), "2").ok());
  auto target = (*c)->PromoteTarget(1);
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, std::optional<uint32_t>(2));
  auto nodes = (*c)->Nodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ(nodes->at(1).client, "127.0.0.1:7001");
}

TEST(CursorRoutingTest, CursorKeysRouteByTheirTimeline) {
  EXPECT_EQ(CursorRoutingTimeline("__cursors", "phone|chat|inbox:{u42}:web"), "inbox:{u42}:web");
  EXPECT_EQ(proto::SlotOf(CursorRoutingTimeline("__cursors", "phone|chat|conv:1")),
            proto::SlotOf("conv:1"));
  // A timeline key may itself hold '|': only the first two separate device and namespace.
  EXPECT_EQ(CursorRoutingTimeline("__cursors", "d|ns|a|b"), "a|b");
  EXPECT_EQ(CursorRoutingTimeline("__cursors", "no-separator"), "no-separator");
  EXPECT_EQ(CursorRoutingTimeline("chat", "d|ns|conv:1"), "d|ns|conv:1");
}

}  // namespace
}  // namespace tldb::cluster
