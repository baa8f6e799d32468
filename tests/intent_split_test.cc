// A cross-partition fan-out pending across a split (docs/cluster.md "Splitting a partition",
// "Cross-partition fan-out"), in one process against a real etcd: three ShardHosts (servers 0,
// 1, 2) hold two partitions of three replicas, every one led by server 0 (`promote` keys, also
// for the child to come). An intent whose home slot lies in the upper half of partition 0 is
// accepted by a primary that never delivers (IntentFanoutOptions::deliver = false); then
// PartitionSplit, run against the ShardHosts, gives that half to partition 2, whose replicas
// start on their clones. Afterwards the intent is delivered by partition 2 only: every member
// holds the message once, partition 2's copy of the intent is marked delivered for every
// member, and partition 0's copy (the journal was cloned) has no mark. Without etcd installed
// this test fails.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "cluster/etcd_coordinator.h"
#include "cluster/intent_fanout.h"
#include "cluster/partition_split.h"
#include "cluster/shard_host.h"
#include "cluster/sharded_db.h"
#include "cluster/slot_map_store.h"
#include "cluster/testing/etcd_test.h"
#include "common/temp_dir.h"

namespace tldb::cluster {
namespace {

using Clock = std::chrono::steady_clock;
using tldb::cluster::testing::EtcdTest;

class IntentSplitTest : public EtcdTest {
 protected:
  ShardHostOptions Options(uint32_t server) {
    ShardHostOptions o;
    o.etcd_endpoints = etcd_.endpoints();
    o.etcd_prefix = "/s/";
    o.server = server;
    o.client_address = "127.0.0.1:" + std::to_string(7979 - server);
    o.peer_listen = "127.0.0.1:0";
    o.data_dir = dir_.path() + "/s" + std::to_string(server);
    o.namespaces = {{"store", NamespaceOptions{}}};
    o.log = [](std::string_view) {};
    return o;
  }
  // Waits (30 s at most) until server 0 is the serving primary of every partition it holds,
  // `count` of them.
  bool ServerZeroServes(size_t count) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      auto r = hosts_[0]->routing();
      bool all = r->local.size() == count;
      for (const auto& [p, node] : r->local) all &= node->serving_primary();
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // The delivered marks of `key` in `db` (a replica's own Db), by target.
  static std::map<std::string, Seq> Marks(Db& db, const std::string& key) {
    std::map<std::string, Seq> out;
    ScanOptions so;
    so.limit = 1000;
    auto records = db.Scan(std::string(kIntentNamespace), key, so);
    EXPECT_TRUE(records.ok()) << records.status().ToString();
    if (!records.ok() || records->empty()) return out;
    EXPECT_TRUE(DecodeIntent((*records)[0].payload).ok());
    for (size_t i = 1; i < records->size(); ++i) {
      auto mark = DecodeMark((*records)[i].payload);
      if (mark.ok()) out.insert(mark->begin(), mark->end());
    }
    return out;
  }

  common::TempDir dir_{"tldb-intent-split"};
  std::vector<std::unique_ptr<ShardHost>> hosts_;  // after dir_: stopped before it goes
};

TEST_F(IntentSplitTest, TheChildDeliversThePendingIntentsOfTheSlotsItTook) {
  SlotMapStore store(*client_, "/s/");
  auto map = proto::SlotMap::Make(1, {{0, {0, 1, 2}, {{0, 8191}}, proto::kNoServer},
                                      {1, {0, 1, 2}, {{8192, 16383}}, proto::kNoServer}});
  ASSERT_TRUE(map.ok());
  ASSERT_TRUE(store.Create(*map).ok());
  for (uint32_t p : {0u, 1u, 2u}) {  // 2: the child, once it exists
    ASSERT_TRUE(client_->Put(EtcdCoordinator::PromoteKey("/s/", p), "0").ok());
  }
  for (uint32_t server : {0u, 1u, 2u}) {
    auto h = ShardHost::Start(Options(server));
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    hosts_.push_back(std::move(h).value());
  }
  ASSERT_TRUE(ServerZeroServes(2)) << "server 0 does not serve both partitions";

  // Members in partition 1 and in the upper half of partition 0, the smallest (the home) in
  // the upper half: the intent lives in a slot the child takes.
  std::vector<std::string> members;
  auto add = [&](const std::string& prefix, uint16_t first, uint16_t last) {
    for (int i = 0, n = 0; n < 2; ++i) {
      std::string t = prefix + std::to_string(i);
      const uint16_t slot = proto::SlotOf(t);
      if (slot >= first && slot <= last) {
        members.push_back(t);
        ++n;
      }
    }
  };
  add("a", 4096, 8191);   // the smallest names: the home is one of these
  add("b", 8192, 16383);  // partition 1's
  const std::vector<std::string_view> order(members.begin(), members.end());
  const std::string key = IntentKey("store", order, "m-split");
  const uint16_t home_slot = *IntentSlot(key);
  ASSERT_GE(home_slot, 4096);
  ASSERT_LT(home_slot, 8192);
  {
    ShardedDb dying(*hosts_[0], IntentFanoutOptions{.deliver = false});
    AppendOptions ao;
    ao.client_msg_id = "m-split";
    auto r = dying.AppendFanout("store", order, "split", ao);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(dying.Close().ok());
  }

  PartitionSplit split(*client_, "/s/");
  PartitionSplitRequest req;
  req.partition = 0;
  req.timeout_ms = 30'000;
  auto done = split.Run(req, [](std::string_view) {});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  ASSERT_EQ(done->child, 2u);
  ASSERT_EQ(done->at, 4096);
  ASSERT_TRUE(ServerZeroServes(3)) << "server 0 does not serve the child";

  ShardedDb db(*hosts_[0]);  // delivers: both partition 0 and 2 scan their journals
  std::map<std::string, Seq> child_marks;
  auto r = hosts_[0]->routing();
  Db* child = r->local.at(2)->db();
  Db* parent = r->local.at(0)->db();
  for (const auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until;) {
    child_marks = Marks(*child, key);
    if (child_marks.size() == members.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto count = [&](Db& d, const std::string& timeline) -> std::string {
    auto m = d.Scan(std::string(kIntentNamespace), timeline, ScanOptions{});
    return m.ok() ? std::to_string(m->size()) : m.status().ToString();
  };
  EXPECT_EQ(child_marks.size(), members.size())
      << "partition 2 did not deliver the intent: its copy holds " << count(*child, key)
      << " record(s), its journal " << count(*child, std::string(kJournalTimeline));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a delivery pass of partition 0
  EXPECT_TRUE(Marks(*parent, key).empty()) << "partition 0 delivered an intent it no longer owns";
  for (const std::string& t : members) {
    auto msgs = db.Scan("store", t, ScanOptions{});
    ASSERT_TRUE(msgs.ok()) << t << ": " << msgs.status().ToString();
    ASSERT_EQ(msgs->size(), 1u) << t;
    EXPECT_EQ((*msgs)[0].payload, "split");
  }
  ASSERT_TRUE(db.Close().ok());
}

}  // namespace
}  // namespace tldb::cluster
