// PartitionSplit (server/cluster/partition_split.h) against a real etcd, with the servers' part
// played by the test: the map a split computes (and every split the map does not allow refused
// with a message naming the fault, nothing written), the steps in their order (freeze, frozen
// positions, every replica's clone, one transaction with the map and the child's keys, the key
// gone, the child's primary), a failed clone or a timeout abandoning the split (the key gone,
// the map unchanged), a map changed meanwhile not overwritten (the transaction writes nothing),
// and a re-run after a splitter died mid-way going on with its split, then finding it done,
// and one after a splitter died between the map and deleting its key. Without
// etcd installed these tests fail.
#include "cluster/partition_split.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster/etcd_coordinator.h"
#include "cluster/lease_keeper.h"
#include "cluster/testing/etcd_test.h"

namespace tldb::cluster {
namespace {

using proto::SlotMap;
using tldb::cluster::testing::EtcdTest;

constexpr const char* kPrefix = "/t/";

class PartitionSplitTest : public EtcdTest {
 protected:
  void SetUp() override {
    EtcdTest::SetUp();
    auto m = SlotMap::Even(1, 2, {0, 1, 2}, 3);  // partition 0: 0..8191 on 0,1,2; 1: 1,2,0
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(SlotMapStore(*client_, kPrefix).Create(*m).ok());
    for (uint32_t s = 0; s < 3; ++s) {
      ASSERT_TRUE(SlotMapStore(*client_, kPrefix).RegisterServer(s, "127.0.0.1:7070", 0).ok());
    }
  }
  void TearDown() override { StopServers(); }

  // The servers' part: the frozen positions once the key appears, then each server's clone
  // acknowledgement (`clone_error` for server 1 when set), and a primary for the child once
  // the map lists it.
  // `bump_map`: once frozen, another change of the map comes first (a move, say).
  void StartServers(std::string clone_error = "", bool clone = true, bool bump_map = false) {
    servers_ = std::thread([this, clone_error, clone, bump_map] {
      auto c = testing::MustConnect(etcd_.ClientOptions());
      bool bumped = false;
      while (!stop_) {
        auto s = PartitionSplit::Read(*c, kPrefix);
        if (s.ok() && *s) {
          const SplitState& st = **s;
          seen_ids_.insert(st.id);
          if (st.frozen && bump_map && !bumped) {
            SlotMapStore store(*c, kPrefix);
            auto from = store.Load();
            EXPECT_TRUE(from.ok());
            std::vector<proto::PartitionEntry> parts = from->map.partitions();
            std::swap(parts[1].replicas[0], parts[1].replicas[1]);
            auto next = SlotMap::Make(from->map.version() + 1, parts);
            EXPECT_TRUE(next.ok());
            EXPECT_TRUE(store.Update(*from, *next).ok());
            bumped = true;
          }
          if (!st.frozen) {
            (void)c->CompareAndSwap(PartitionSplit::FrozenKey(kPrefix), 0,
                                    PartitionSplit::EncodeFrozen(st.id, {{"chat", {3, 4096}}}),
                                    st.lease);
          } else if (clone) {
            for (uint32_t server : {0u, 1u, 2u}) {
              if (st.cloned.count(server) != 0) continue;
              (void)c->Put(PartitionSplit::ClonedKey(kPrefix, server),
                           PartitionSplit::EncodeCloned(st.id, server == 1 ? clone_error : ""),
                           st.lease);
            }
          }
        }
        auto stored = SlotMapStore(*c, kPrefix).Load();
        if (stored.ok() && stored->map.Partition(2) != nullptr) {
          (void)c->Put(EtcdCoordinator::PartitionKey(kPrefix, 2, "leader"), "1");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  void StopServers() {
    stop_ = true;
    if (servers_.joinable()) servers_.join();
    stop_ = false;
  }
  uint64_t MapVersion() {
    auto stored = SlotMapStore(*client_, kPrefix).Load();
    EXPECT_TRUE(stored.ok());
    return stored.ok() ? stored->map.version() : 0;
  }
  bool SplitKeyExists() {
    auto kv = client_->Get(PartitionSplit::Key(kPrefix));
    EXPECT_TRUE(kv.ok());
    return kv.ok() && kv->has_value();
  }
  // The index in lines_ of the first line containing `what` (lines_.size() when none).
  size_t Line(const std::string& what) const {
    for (size_t i = 0; i < lines_.size(); ++i) {
      if (lines_[i].find(what) != std::string::npos) return i;
    }
    return lines_.size();
  }

  std::thread servers_;
  std::atomic<bool> stop_{false};
  std::set<int64_t> seen_ids_;  // servers thread only, read after StopServers
  std::vector<std::string> lines_;
  std::function<void(std::string_view)> progress_ = [this](std::string_view l) {
    lines_.emplace_back(l);
  };
};

TEST_F(PartitionSplitTest, SplitGivesTheUpperSlotsToANewPartition) {
  auto m = SlotMap::Even(4, 2, {0, 1, 2}, 3);
  ASSERT_TRUE(m.ok());
  uint16_t at = 0;
  auto split = PartitionSplit::Split(*m, 0, std::nullopt, &at);  // the upper half of 0..8191
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(at, 4096);
  EXPECT_EQ(split->version(), 5u);
  ASSERT_NE(split->Partition(2), nullptr);
  EXPECT_EQ(split->Partition(2)->replicas, m->Partition(0)->replicas);
  EXPECT_EQ(split->Owner(4095).id, 0u);
  EXPECT_EQ(split->Owner(4096).id, 2u);
  EXPECT_EQ(split->Owner(8191).id, 2u);
  EXPECT_EQ(split->Owner(8192).id, 1u);
  // At a given slot, and a partition of several ranges: the child takes every slot from there.
  split = PartitionSplit::Split(*split, 2, 5000);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->Owner(4999).id, 2u);
  EXPECT_EQ(split->Owner(5000).id, 3u);
  std::vector<proto::PartitionEntry> parts = {{0, {0, 1, 2}, {{0, 99}, {200, 299}}, 0},
                                              {1, {1, 2, 0}, {{100, 199}, {300, 16383}}, 0}};
  auto two = SlotMap::Make(9, parts);
  ASSERT_TRUE(two.ok());
  split = PartitionSplit::Split(*two, 0, std::nullopt, &at);  // 200 slots: the 101st is 200
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(at, 200);
  ASSERT_EQ(split->Partition(2)->ranges.size(), 1u);
  EXPECT_EQ(split->Partition(2)->ranges[0].first, 200);
  EXPECT_EQ(split->Partition(0)->ranges.size(), 1u);
  split = PartitionSplit::Split(*two, 0, 50);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->Partition(0)->ranges.size(), 1u);  // 0..49
  EXPECT_EQ(split->Partition(2)->ranges.size(), 2u);  // 50..99, 200..299
  // Refused, naming the fault: no such partition, a slot of another, the first slot (P empty),
  // a partition of one slot.
  auto bad = PartitionSplit::Split(*m, 7, std::nullopt);
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("partition 7 is not in the map"), std::string::npos);
  bad = PartitionSplit::Split(*m, 0, 9000);
  EXPECT_NE(bad.status().message().find("slot 9000 is not partition 0's"), std::string::npos);
  bad = PartitionSplit::Split(*m, 0, 0);
  EXPECT_NE(bad.status().message().find("would leave it empty"), std::string::npos);
  std::vector<proto::PartitionEntry> tiny = {{0, {0}, {{0, 0}}, 0}, {1, {0}, {{1, 16383}}, 0}};
  auto one = SlotMap::Make(1, tiny);
  ASSERT_TRUE(one.ok());
  bad = PartitionSplit::Split(*one, 0, std::nullopt);
  EXPECT_NE(bad.status().message().find("cannot be split"), std::string::npos);
}

TEST_F(PartitionSplitTest, RefusesWhatTheMapDoesNotAllowAndWritesNothing) {
  PartitionSplit split(*client_, kPrefix);
  PartitionSplitRequest r;
  r.timeout_ms = 1'000;
  r.partition = 5;
  EXPECT_EQ(split.Run(r, progress_).status().code(), Status::Code::kInvalidArgument);
  r.partition = 0;
  r.at = 0;
  EXPECT_EQ(split.Run(r, progress_).status().code(), Status::Code::kInvalidArgument);
  r.at = 9000;  // partition 1's, not a child of 0
  EXPECT_EQ(split.Run(r, progress_).status().code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(client_->Delete(SlotMapStore(*client_, kPrefix).ServerKey(2)).ok());
  r.at.reset();
  auto s = split.Run(r, progress_);
  EXPECT_EQ(s.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.status().message().find("server 2"), std::string::npos) << s.status().ToString();
  EXPECT_EQ(MapVersion(), 1u);
  EXPECT_FALSE(SplitKeyExists());
}

TEST_F(PartitionSplitTest, StepsInOrderAndOneTransactionOnTheMap) {
  StartServers();
  PartitionSplit split(*client_, kPrefix);
  PartitionSplitRequest r;
  r.partition = 0;
  r.timeout_ms = 20'000;
  auto done = split.Run(r, progress_);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  StopServers();
  EXPECT_EQ(done->version, 2u);
  EXPECT_EQ(done->child, 2u);
  EXPECT_EQ(done->at, 4096);
  EXPECT_FALSE(done->done_before);
  const std::vector<size_t> order = {
      Line("check: partition 0"),   Line("freeze:"),        Line("frozen:"),
      Line("cloned: server 2"),     Line("map version 2:"), Line("unfrozen:"),
      Line("partition 2's primary")};
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_LT(order[i], lines_.size()) << "step " << i << " not reported";
    if (i > 0) {
      EXPECT_LT(order[i - 1], order[i]) << "step " << i << " out of order";
    }
  }
  EXPECT_LT(Line("chat@3:4096"), lines_.size());  // the frozen positions are shown
  auto stored = SlotMapStore(*client_, kPrefix).Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->map.version(), 2u);
  EXPECT_EQ(stored->map.Owner(4096).id, 2u);
  EXPECT_EQ(stored->map.Partition(2)->replicas, stored->map.Partition(0)->replicas);
  auto init = client_->Get(EtcdCoordinator::PartitionKey(kPrefix, 2, "initialized"));
  ASSERT_TRUE(init.ok());
  EXPECT_TRUE(init->has_value());
  auto child = client_->Get(PartitionSplit::ChildKey(kPrefix, 2));
  ASSERT_TRUE(child.ok() && child->has_value());
  ASSERT_EQ(seen_ids_.size(), 1u);
  EXPECT_EQ(PartitionSplit::ChildSplitId((*child)->value, 0), *seen_ids_.begin());
  EXPECT_FALSE(PartitionSplit::ChildSplitId((*child)->value, 1));  // names parent 0 only
  EXPECT_FALSE(SplitKeyExists());
  // Run again at the slot it used: found done, nothing written.
  r.at = 4096;
  lines_.clear();
  auto again = split.Run(r, progress_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->done_before);
  EXPECT_EQ(again->child, 2u);
  EXPECT_EQ(MapVersion(), 2u);
}

TEST_F(PartitionSplitTest, AFailedCloneOrATimeoutAbandonsTheSplit) {
  StartServers("no space left");
  PartitionSplit split(*client_, kPrefix);
  PartitionSplitRequest r;
  r.partition = 0;
  r.timeout_ms = 20'000;
  auto failed = split.Run(r, progress_);
  EXPECT_EQ(failed.status().code(), Status::Code::kIOError) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("no space left"), std::string::npos);
  EXPECT_NE(failed.status().message().find("abandoned"), std::string::npos);
  StopServers();
  EXPECT_FALSE(SplitKeyExists());
  EXPECT_EQ(MapVersion(), 1u);
  // Frozen, but the clones never come: a timeout, and the key is gone too.
  StartServers("", /*clone=*/false);
  r.timeout_ms = 1'000;
  auto timed_out = split.Run(r, progress_);
  EXPECT_EQ(timed_out.status().code(), Status::Code::kTimedOut) << timed_out.status().ToString();
  StopServers();
  EXPECT_FALSE(SplitKeyExists());
  EXPECT_EQ(MapVersion(), 1u);
}

TEST_F(PartitionSplitTest, AMapChangedMeanwhileIsNotOverwritten) {
  StartServers("", true, /*bump_map=*/true);
  PartitionSplit split(*client_, kPrefix);
  PartitionSplitRequest r;
  r.partition = 0;
  r.timeout_ms = 20'000;
  auto done = split.Run(r, progress_);
  StopServers();
  EXPECT_EQ(done.status().code(), Status::Code::kConflict) << done.status().ToString();
  EXPECT_NE(done.status().message().find("abandoned"), std::string::npos);
  auto stored = SlotMapStore(*client_, kPrefix).Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->map.version(), 2u);  // the other change's, not the split's
  EXPECT_EQ(stored->map.Partition(2), nullptr);
  EXPECT_EQ(stored->map.Partition(1)->replicas, (std::vector<uint32_t>{2, 1, 0}));
  auto child = client_->Get(PartitionSplit::ChildKey(kPrefix, 2));
  ASSERT_TRUE(child.ok());
  EXPECT_FALSE(child->has_value());  // the transaction wrote nothing
  EXPECT_FALSE(SplitKeyExists());
}

TEST_F(PartitionSplitTest, ARerunGoesOnWithTheSplitOfARunThatDied) {
  // A splitter that died after the freeze: its key, on its lease, which nobody keeps alive.
  auto g = client_->LeaseGrant(5);
  ASSERT_TRUE(g.ok());
  const nlohmann::json key{
      {"parent", 0}, {"child", 2}, {"at", 4096}, {"version", 2}, {"lease", std::to_string(g->id)}};
  auto created = client_->CreateIfAbsent(PartitionSplit::Key(kPrefix), key.dump(), g->id);
  ASSERT_TRUE(created.ok() && created->created);
  PartitionSplit split(*client_, kPrefix);
  PartitionSplitRequest r;
  r.partition = 0;
  r.at = 4000;  // another split of the same partition: refused while that one is keyed
  r.timeout_ms = 20'000;
  auto busy = split.Run(r, progress_);
  EXPECT_EQ(busy.status().code(), Status::Code::kBusy) << busy.status().ToString();
  EXPECT_NE(busy.status().message().find("at slot 4096"), std::string::npos);
  r.partition = 1;
  r.at.reset();
  EXPECT_EQ(split.Run(r, progress_).status().code(), Status::Code::kBusy);
  StartServers();
  r.partition = 0;
  auto done = split.Run(r, progress_);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  StopServers();
  EXPECT_LT(Line("an earlier run's split (id " + std::to_string(created->create_revision)),
            lines_.size());
  EXPECT_EQ(done->at, 4096);
  EXPECT_EQ(MapVersion(), 2u);
  auto child = client_->Get(PartitionSplit::ChildKey(kPrefix, 2));
  ASSERT_TRUE(child.ok() && child->has_value());
  EXPECT_EQ(PartitionSplit::ChildSplitId((*child)->value, 0), created->create_revision);
  EXPECT_FALSE(SplitKeyExists());

  // A run that died after the transaction, its key still there: a re-run deletes it and
  // reports the split done.
  auto g2 = client_->LeaseGrant(5);
  ASSERT_TRUE(g2.ok());
  auto stale = key;
  stale["lease"] = std::to_string(g2->id);
  created = client_->CreateIfAbsent(PartitionSplit::Key(kPrefix), stale.dump(), g2->id);
  ASSERT_TRUE(created.ok() && created->created);
  ASSERT_TRUE(
      client_
          ->Put(PartitionSplit::ChildKey(kPrefix, 2),
                nlohmann::json{{"parent", 0}, {"id", std::to_string(created->create_revision)}}
                    .dump())
          .ok());
  lines_.clear();
  auto after = split.Run(r, progress_);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_TRUE(after->done_before);
  EXPECT_LT(Line("in an earlier run"), lines_.size());
  EXPECT_EQ(MapVersion(), 2u);
  EXPECT_FALSE(SplitKeyExists());
}

}  // namespace
}  // namespace tldb::cluster
