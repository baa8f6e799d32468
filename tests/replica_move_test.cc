// ReplicaMove (server/cluster/replica_move.h) against a real etcd, with the servers' part played
// by the test: the map computed for a move (and every move the map does not allow refused,
// nothing written), the handover asked of another replica when the moving one leads, the map
// written by compare-and-swap, the wait until the new server holds the position, and a re-run
// after the map was written going on from there. Without etcd installed these tests fail.
#include "cluster/replica_move.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "cluster/etcd_coordinator.h"
#include "cluster/testing/etcd_test.h"

namespace tldb::cluster {
namespace {

using proto::SlotMap;
using tldb::cluster::testing::EtcdTest;

class ReplicaMoveTest : public EtcdTest {
 protected:
  void SetUp() override {
    EtcdTest::SetUp();
    auto m = SlotMap::Even(1, 2, {0, 1, 2}, 3);  // partition 0: 0,1,2; partition 1: 1,2,0
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(SlotMapStore(*client_, "/t/").Create(*m).ok());
    for (uint32_t s = 0; s < 5; ++s) {
      ASSERT_TRUE(SlotMapStore(*client_, "/t/").RegisterServer(s, Address(s), 0).ok());
    }
  }
  static std::string Address(uint32_t server) {
    return "127.0.0." + std::to_string(server + 1) + ":7070";
  }
  std::string Key(uint32_t p, const std::string& name) {
    return EtcdCoordinator::PartitionKey("/t/", p, name);
  }
  // partitions/<p>/nodes/<k> naming `server`'s client address, as its replica registers it.
  void RegisterNode(uint32_t p, uint32_t k, uint32_t server) {
    ASSERT_TRUE(client_
                    ->Put(Key(p, "nodes/" + std::to_string(k)),
                          "{\"client\":\"" + Address(server) + "\",\"peer\":\"x:1\"}")
                    .ok());
  }
  std::vector<std::string> lines_;
  std::function<void(std::string_view)> progress_ = [this](std::string_view l) {
    lines_.emplace_back(l);
  };
};

TEST_F(ReplicaMoveTest, MovedPutsTheNewServerInTheOldOnesPosition) {
  auto m = SlotMap::Even(4, 2, {0, 1, 2}, 3);
  ASSERT_TRUE(m.ok());
  auto moved = ReplicaMove::Moved(*m, 1, 2, 3);  // partition 1: 1,2,0 -> 1,3,0
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->version(), 5u);
  EXPECT_EQ(moved->Partition(1)->replicas, (std::vector<uint32_t>{1, 3, 0}));
  EXPECT_EQ(moved->Partition(0)->replicas, m->Partition(0)->replicas);
  EXPECT_EQ(moved->Owner(9000).id, m->Owner(9000).id);
  // Refused: a partition that does not exist, a server without a replica of it, a server
  // that has one already, the same server.
  EXPECT_EQ(ReplicaMove::Moved(*m, 2, 0, 3).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ReplicaMove::Moved(*m, 0, 3, 4).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ReplicaMove::Moved(*m, 0, 0, 1).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ReplicaMove::Moved(*m, 0, 1, 1).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(ReplicaMoveTest, RefusesWhatTheMapDoesNotAllowAndWritesNothing) {
  ReplicaMove move(*client_, "/t/");
  ReplicaMoveRequest r;
  r.timeout_ms = 1'000;
  r.partition = 0, r.from = 0, r.to = 1;  // server 1 holds a replica of 0 already
  EXPECT_EQ(move.Run(r, progress_).status().code(), Status::Code::kInvalidArgument);
  r.from = 3, r.to = 4;  // server 3 holds none
  EXPECT_EQ(move.Run(r, progress_).status().code(), Status::Code::kInvalidArgument);
  r.from = 0, r.to = 7;  // server 7 is not registered
  EXPECT_EQ(move.Run(r, progress_).status().code(), Status::Code::kInvalidArgument);
  auto stored = SlotMapStore(*client_, "/t/").Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->map.version(), 1u);
}

TEST_F(ReplicaMoveTest, HandsThePrimaryOverWritesTheMapAndWaitsForTheNewReplica) {
  // Replica 0 of partition 0 (server 0) leads; replicas 1 and 2 are registered.
  ASSERT_TRUE(client_->Put(Key(0, "leader"), "0").ok());
  RegisterNode(0, 0, 0);
  RegisterNode(0, 1, 1);
  RegisterNode(0, 2, 2);
  // The servers' part: the primary hands over to the replica named in `promote`; once the map
  // lists server 3 in position 0, server 0's replica goes and server 3's registers.
  std::atomic<bool> stop{false};
  std::string promoted;
  std::thread servers([&] {
    SlotMapStore store(*client_, "/t/");
    while (!stop) {
      auto p = client_->Get(Key(0, "promote"));
      if (p.ok() && p->has_value() && promoted.empty()) {
        promoted = (*p)->value;
        (void)client_->Put(Key(0, "leader"), promoted);
        (void)client_->Delete(Key(0, "promote"));
      }
      auto m = store.Load();
      if (m.ok() && m->map.version() == 2) {
        RegisterNode(0, 0, 3);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  ReplicaMove move(*client_, "/t/");
  ReplicaMoveRequest r;
  r.partition = 0, r.from = 0, r.to = 3;
  r.timeout_ms = 20'000;
  auto done = move.Run(r, progress_);
  stop = true;
  servers.join();
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->handed_over);
  EXPECT_EQ(done->node, 0u);
  EXPECT_EQ(done->address, Address(3));
  EXPECT_EQ(promoted, "1");  // the first other registered replica
  EXPECT_EQ(done->version, 2u);
  EXPECT_EQ(done->replicas, (std::vector<uint32_t>{3, 1, 2}));
  auto stored = SlotMapStore(*client_, "/t/").Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->map.Partition(0)->replicas, (std::vector<uint32_t>{3, 1, 2}));
  EXPECT_EQ(stored->map.Partition(1)->replicas, (std::vector<uint32_t>{1, 2, 0}));
  ASSERT_GE(lines_.size(), 4u);
  EXPECT_NE(lines_.back().find("step 4/4"), std::string::npos) << lines_.back();

  // A re-run finds the move done and goes on from step 4 (which holds at once); nothing more
  // is written.
  lines_.clear();
  auto again = move.Run(r, progress_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->version, 2u);
  EXPECT_FALSE(again->handed_over);
  ASSERT_FALSE(lines_.empty());
  EXPECT_NE(lines_.front().find("already lists server 3"), std::string::npos) << lines_.front();
}

TEST_F(ReplicaMoveTest, TimesOutWhileTheOldReplicaKeepsItsPosition) {
  // Replica 1 (server 1) is not the primary: no handover. Its node key stays (its server never
  // stops it): the move writes the map and then times out waiting.
  ASSERT_TRUE(client_->Put(Key(0, "leader"), "0").ok());
  RegisterNode(0, 1, 1);
  ReplicaMove move(*client_, "/t/");
  ReplicaMoveRequest r;
  r.partition = 0, r.from = 1, r.to = 3;
  r.timeout_ms = 500;
  auto done = move.Run(r, progress_);
  EXPECT_EQ(done.status().code(), Status::Code::kTimedOut) << done.status().ToString();
  ASSERT_GE(lines_.size(), 3u);
  EXPECT_NE(lines_[1].find("not the primary: no handover"), std::string::npos) << lines_[1];
  auto stored = SlotMapStore(*client_, "/t/").Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->map.version(), 2u);
  EXPECT_EQ(stored->map.Partition(0)->replicas, (std::vector<uint32_t>{0, 3, 2}));
}

}  // namespace
}  // namespace tldb::cluster
