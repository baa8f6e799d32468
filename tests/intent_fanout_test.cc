// Cross-partition fan-out by intent records (cluster/intent_fanout.h, docs/cluster.md
// "Cross-partition fan-out") in one process against a real etcd: three ShardHosts (servers 0,
// 1, 2) hold three partitions of three replicas, and `promote` keys make server 0 every
// partition's primary, so that its ShardedDb is the home of every intent and delivers every
// part. Covered: a fan-out over members of three partitions reaching each member exactly once,
// answered with the home's members' SeqIds and the others pending (seq 0), and marked delivered
// in __intents; a retry with the members in another order answered with the original results;
// another payload under the same id refused; no client_msg_id refused; an intent accepted by a
// primary that never delivers (IntentFanoutOptions::deliver = false, as a primary that dies
// right after answering) completed by the next one from the partition's journal. Without etcd
// installed these tests fail.
#include "cluster/intent_fanout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "cluster/etcd_coordinator.h"
#include "cluster/shard_host.h"
#include "cluster/sharded_db.h"
#include "cluster/slot_map_store.h"
#include "cluster/testing/etcd_test.h"
#include "common/temp_dir.h"

namespace tldb::cluster {
namespace {

using Clock = std::chrono::steady_clock;
using tldb::cluster::testing::EtcdTest;

class IntentFanoutTest : public EtcdTest {
 protected:
  ShardHostOptions Options(uint32_t server) {
    ShardHostOptions o;
    o.etcd_endpoints = etcd_.endpoints();
    o.etcd_prefix = "/i/";
    o.server = server;
    o.client_address = "127.0.0.1:" + std::to_string(7989 - server);
    o.peer_listen = "127.0.0.1:0";
    o.data_dir = dir_.path() + "/s" + std::to_string(server);
    o.namespaces = {{"store", NamespaceOptions{}}};
    o.log = [](std::string_view) {};
    return o;
  }
  // Three partitions on servers 0, 1, 2, every one led by server 0; returns server 0's host.
  void StartCluster() {
    SlotMapStore store(*client_, "/i/");
    auto map = proto::SlotMap::Make(1, {{0, {0, 1, 2}, {{0, 5460}}, proto::kNoServer},
                                        {1, {0, 1, 2}, {{5461, 10921}}, proto::kNoServer},
                                        {2, {0, 1, 2}, {{10922, 16383}}, proto::kNoServer}});
    ASSERT_TRUE(map.ok());
    map_ = *map;
    ASSERT_TRUE(store.Create(*map).ok());
    for (uint32_t p : {0u, 1u, 2u}) {
      ASSERT_TRUE(client_->Put(EtcdCoordinator::PromoteKey("/i/", p), "0").ok());
    }
    for (uint32_t server : {0u, 1u, 2u}) {
      auto h = ShardHost::Start(Options(server));
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      hosts_.push_back(std::move(h).value());
    }
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      auto r = hosts_[0]->routing();
      bool all = r->local.size() == 3;
      for (const auto& [p, node] : r->local) all &= node->status().serving;
      if (all) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "server 0 does not serve every partition";
  }
  // `count` timelines of partition `p`, with prefix `prefix`.
  std::vector<std::string> TimelinesOf(uint32_t p, int count, const std::string& prefix) {
    std::vector<std::string> out;
    for (int i = 0; static_cast<int>(out.size()) < count; ++i) {
      std::string t = prefix + std::to_string(i);
      if (map_->Owner(proto::SlotOf(t)).id == p) out.push_back(t);
    }
    return out;
  }
  // Waits (30 s at most) until every member holds exactly one message, `payload`; returns
  // each member's SeqId of it (0 where it is missing or there twice).
  std::map<std::string, Seq> WaitDelivered(Db& db, const std::vector<std::string>& members,
                                           const std::string& payload) {
    std::map<std::string, Seq> out;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (true) {
      out.clear();
      bool all = true;
      for (const std::string& t : members) {
        auto msgs = db.Scan("store", t, ScanOptions{});
        const bool once = msgs.ok() && msgs->size() == 1 && (*msgs)[0].payload == payload;
        out[t] = once ? (*msgs)[0].seq : 0;
        all &= once;
      }
      if (all || Clock::now() > deadline) return out;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // The targets the intent's delivered marks name, with their SeqIds.
  std::map<std::string, Seq> Marks(Db& db, const std::string& key) {
    std::map<std::string, Seq> out;
    ScanOptions so;
    so.limit = 1000;
    auto records = db.Scan(std::string(kIntentNamespace), key, so);
    EXPECT_TRUE(records.ok()) << records.status().ToString();
    if (!records.ok() || records->empty()) return out;
    EXPECT_TRUE(DecodeIntent((*records)[0].payload).ok());
    for (size_t i = 1; i < records->size(); ++i) {
      auto mark = DecodeMark((*records)[i].payload);
      EXPECT_TRUE(mark.ok());
      if (mark.ok()) out.insert(mark->begin(), mark->end());
    }
    return out;
  }

  common::TempDir dir_{"tldb-intent-fanout"};
  std::optional<proto::SlotMap> map_;
  std::vector<std::unique_ptr<ShardHost>> hosts_;  // after dir_: stopped before it goes
};

std::vector<std::string_view> Views(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

TEST_F(IntentFanoutTest, ReachesEveryMemberOfThreePartitionsOnce) {
  StartCluster();
  ShardedDb db(*hosts_[0]);
  std::vector<std::string> members;
  for (uint32_t p : {2u, 0u, 1u}) {
    for (std::string& t : TimelinesOf(p, 2, "u:")) members.push_back(std::move(t));
  }
  const std::vector<std::string_view> order = Views(members);
  AppendOptions ao;
  ao.client_msg_id = "m-1";
  auto r = db.AppendFanout("store", order, "hello", ao);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), members.size());
  const std::string key = IntentKey("store", order, "m-1");
  const uint32_t home = map_->Owner(*IntentSlot(key)).id;
  for (size_t i = 0; i < members.size(); ++i) {
    const bool local = map_->Owner(proto::SlotOf(members[i])).id == home;
    EXPECT_EQ((*r)[i].seq != 0, local) << members[i];  // the home's members now, others pending
  }

  const std::map<std::string, Seq> seqs = WaitDelivered(db, members, "hello");
  for (size_t i = 0; i < members.size(); ++i) {
    ASSERT_NE(seqs.at(members[i]), 0u) << members[i] << " lacks the message or has it twice";
    if ((*r)[i].seq != 0) {
      EXPECT_EQ(seqs.at(members[i]), (*r)[i].seq);
    }
  }
  // Every member is marked delivered at its SeqId (the marks come after the writes).
  std::map<std::string, Seq> marks;
  for (const auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until;) {
    marks = Marks(db, key);
    if (marks.size() == members.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(marks, seqs);

  // A retry with the members in another order: the original results, nothing written.
  std::vector<std::string_view> reversed(order.rbegin(), order.rend());
  auto again = db.AppendFanout("store", reversed, "hello", ao);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  for (size_t i = 0; i < reversed.size(); ++i) {
    const size_t j = members.size() - 1 - i;
    EXPECT_EQ((*again)[i].seq, (*r)[j].seq);
    EXPECT_EQ((*again)[i].deduplicated, (*r)[j].seq != 0);
  }
  // Another payload under the same id; no id at all.
  EXPECT_EQ(db.AppendFanout("store", order, "other", ao).status().code(),
            Status::Code::kClientMsgIdReused);
  EXPECT_EQ(db.AppendFanout("store", order, "hello", {}).status().code(),
            Status::Code::kInvalidArgument);
  // Still once each, after the retry's own delivery pass.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(WaitDelivered(db, members, "hello"), seqs);
  ASSERT_TRUE(db.Close().ok());
}

TEST_F(IntentFanoutTest, TheNextPrimaryResumesAnUndeliveredIntent) {
  StartCluster();
  std::vector<std::string> members;
  for (uint32_t p : {0u, 1u, 2u}) {
    for (std::string& t : TimelinesOf(p, 2, "g:")) members.push_back(std::move(t));
  }
  const std::vector<std::string_view> order = Views(members);
  AppendOptions ao;
  ao.client_msg_id = "m-2";
  std::vector<AppendResult> accepted;
  {
    // Accepts, then dies before delivering anything.
    ShardedDb dying(*hosts_[0], IntentFanoutOptions{.deliver = false});
    auto r = dying.AppendFanout("store", order, "resumed", ao);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    accepted = *r;
    auto last = dying.LastSeq("store", order);
    ASSERT_TRUE(last.ok());
    for (size_t i = 0; i < members.size(); ++i) EXPECT_EQ((*last)[i], accepted[i].seq);
    ASSERT_TRUE(dying.Close().ok());
  }
  ASSERT_TRUE(std::any_of(accepted.begin(), accepted.end(), [](auto& a) { return a.seq == 0; }));

  // The next primary (a new IntentFanout that finds itself serving primary) reads the journal.
  ShardedDb next(*hosts_[0]);
  const std::map<std::string, Seq> seqs = WaitDelivered(next, members, "resumed");
  for (size_t i = 0; i < members.size(); ++i) {
    ASSERT_NE(seqs.at(members[i]), 0u) << members[i] << " lacks the message or has it twice";
    if (accepted[i].seq != 0) {
      EXPECT_EQ(seqs.at(members[i]), accepted[i].seq);
    }
  }
  std::map<std::string, Seq> marks;
  const std::string key = IntentKey("store", order, "m-2");
  for (const auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until;) {
    marks = Marks(next, key);
    if (marks.size() == members.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(marks, seqs);
  ASSERT_TRUE(next.Close().ok());
}

}  // namespace
}  // namespace tldb::cluster
