// ReplicaMove (server/cluster/replica_move.h) against a real etcd, with the servers' part played
// by the test: the maps computed for a move (the spare added, then given the position; every
// move the map does not allow refused, nothing written), the wait for the spare's catch-up, the
// handover asked of another replica when the moving one leads, the maps written by
// compare-and-swap, the wait until the new server holds the position, a re-run going on from
// where the map is, and a cancel. Without etcd installed these tests fail.
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

TEST_F(ReplicaMoveTest, TheSpareComesFirstThenTakesTheOldServersPosition) {
  auto m = SlotMap::Even(4, 2, {0, 1, 2}, 3);
  ASSERT_TRUE(m.ok());
  auto spared = ReplicaMove::WithSpare(*m, 1, 2, 3);  // partition 1: 1,2,0 + spare 3 for 2
  ASSERT_TRUE(spared.ok()) << spared.status().ToString();
  EXPECT_EQ(spared->version(), 5u);
  EXPECT_EQ(spared->Partition(1)->replicas, (std::vector<uint32_t>{1, 2, 0}));
  EXPECT_EQ(spared->Partition(1)->spare, 3u);
  EXPECT_EQ(spared->Partition(1)->spare_for, 2u);
  EXPECT_EQ(spared->Partition(0)->spare, proto::kNoServer);
  // The position changes hands only from a map where the server is the spare.
  EXPECT_EQ(ReplicaMove::Moved(*m, 1, 2, 3).status().code(), Status::Code::kInvalidArgument);
  auto moved = ReplicaMove::Moved(*spared, 1, 2, 3);  // 1,3,0, no spare
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->version(), 6u);
  EXPECT_EQ(moved->Partition(1)->replicas, (std::vector<uint32_t>{1, 3, 0}));
  EXPECT_EQ(moved->Partition(1)->spare, proto::kNoServer);
  EXPECT_EQ(moved->Partition(0)->replicas, m->Partition(0)->replicas);
  EXPECT_EQ(moved->Owner(9000).id, m->Owner(9000).id);
  // Refused: a partition that does not exist, a server without a replica of it, a server
  // that has one already, the same server, a second move while one runs (another target or
  // another replica), a spare added twice.
  EXPECT_EQ(ReplicaMove::WithSpare(*m, 2, 0, 3).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ReplicaMove::WithSpare(*m, 0, 3, 4).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ReplicaMove::WithSpare(*m, 0, 0, 1).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ReplicaMove::WithSpare(*m, 0, 1, 1).status().code(), Status::Code::kInvalidArgument);
  auto busy = ReplicaMove::WithSpare(*spared, 1, 2, 4);
  EXPECT_EQ(busy.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(busy.status().message().find("--cancel"), std::string::npos)
      << busy.status().ToString();
  EXPECT_EQ(ReplicaMove::WithSpare(*spared, 1, 1, 3).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ReplicaMove::WithSpare(*spared, 1, 2, 3).status().code(),
            Status::Code::kInvalidArgument);
  // Cancelled: the spare goes, nothing else changes.
  auto cancelled = ReplicaMove::WithoutSpare(*spared, 1);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->Partition(1)->spare, proto::kNoServer);
  EXPECT_EQ(cancelled->Partition(1)->replicas, (std::vector<uint32_t>{1, 2, 0}));
  EXPECT_TRUE(ReplicaMove::WithoutSpare(*m, 1).status().IsNotFound());
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

TEST_F(ReplicaMoveTest, AddsTheSpareWaitsForItHandsOverAndGivesItThePosition) {
  // Replica 0 of partition 0 (server 0) leads; replicas 1 and 2 are registered.
  ASSERT_TRUE(client_->Put(Key(0, "leader"), "0").ok());
  RegisterNode(0, 0, 0);
  RegisterNode(0, 1, 1);
  RegisterNode(0, 2, 2);
  // The servers' part: once the map has server 3 as the spare, its server reports it caught
  // up; the primary hands over to the replica named in `promote`; once the map lists server 3
  // in position 0, server 0's replica goes and server 3's registers.
  std::atomic<bool> stop{false};
  std::string promoted;
  std::atomic<bool> handed_over_before_ready{false}, ready{false};
  std::thread servers([&] {
    SlotMapStore store(*client_, "/t/");
    while (!stop) {
      auto p = client_->Get(Key(0, "promote"));
      if (p.ok() && p->has_value() && promoted.empty()) {
        if (!ready) handed_over_before_ready = true;
        promoted = (*p)->value;
        (void)client_->Put(Key(0, "leader"), promoted);
        (void)client_->Delete(Key(0, "promote"));
      }
      auto m = store.Load();
      if (m.ok() && m->map.version() == 2 && !ready) {
        EXPECT_EQ(m->map.Partition(0)->spare, 3u);
        EXPECT_EQ(m->map.Partition(0)->replicas, (std::vector<uint32_t>{0, 1, 2}));
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        (void)client_->Put(Key(0, "spare-ready"), R"({"server":3,"version":2})");
        ready = true;
      }
      if (m.ok() && m->map.version() == 3) {
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
  EXPECT_FALSE(handed_over_before_ready) << "the primary left before the spare caught up";
  EXPECT_TRUE(done->handed_over);
  EXPECT_EQ(done->node, 0u);
  EXPECT_EQ(done->address, Address(3));
  EXPECT_EQ(promoted, "1");  // the first other registered replica
  EXPECT_EQ(done->version, 3u);
  EXPECT_EQ(done->replicas, (std::vector<uint32_t>{3, 1, 2}));
  auto stored = SlotMapStore(*client_, "/t/").Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->map.Partition(0)->replicas, (std::vector<uint32_t>{3, 1, 2}));
  EXPECT_EQ(stored->map.Partition(0)->spare, proto::kNoServer);
  EXPECT_EQ(stored->map.Partition(1)->replicas, (std::vector<uint32_t>{1, 2, 0}));
  ASSERT_GE(lines_.size(), 6u);
  EXPECT_NE(lines_.back().find("step 6/6"), std::string::npos) << lines_.back();

  // A re-run finds the move done and goes on from step 6 (which holds at once); nothing more
  // is written.
  lines_.clear();
  auto again = move.Run(r, progress_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->version, 3u);
  EXPECT_FALSE(again->handed_over);
  ASSERT_FALSE(lines_.empty());
  EXPECT_NE(lines_.front().find("already lists server 3"), std::string::npos) << lines_.front();
}

TEST_F(ReplicaMoveTest, ASpareThatDoesNotCatchUpTimesOutKeepsTheOldReplicaAndCanBeCancelled) {
  // Replica 1 (server 1) is not the primary. Server 3's spare never reports caught up: the
  // move adds it, then times out waiting; server 1 keeps its position throughout.
  ASSERT_TRUE(client_->Put(Key(0, "leader"), "0").ok());
  RegisterNode(0, 1, 1);
  ReplicaMove move(*client_, "/t/");
  ReplicaMoveRequest r;
  r.partition = 0, r.from = 1, r.to = 3;
  r.timeout_ms = 500;
  r.catch_up_timeout_ms = 500;
  int shown = 0;
  r.while_catching_up = [&] { shown++; };
  auto done = move.Run(r, progress_);
  EXPECT_EQ(done.status().code(), Status::Code::kTimedOut) << done.status().ToString();
  EXPECT_GE(shown, 1);
  SlotMapStore store(*client_, "/t/");
  auto stored = store.Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->map.version(), 2u);
  EXPECT_EQ(stored->map.Partition(0)->replicas, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(stored->map.Partition(0)->spare, 3u);
  // Another move of the partition is refused while this one is in the map.
  ReplicaMoveRequest other = r;
  other.to = 4;
  EXPECT_EQ(move.Run(other, progress_).status().code(), Status::Code::kInvalidArgument);
  // A re-run goes on from the wait (nothing written again); then the move is cancelled.
  lines_.clear();
  EXPECT_EQ(move.Run(r, progress_).status().code(), Status::Code::kTimedOut);
  ASSERT_GE(lines_.size(), 2u);
  EXPECT_NE(lines_[1].find("going on from step 3"), std::string::npos) << lines_[1];
  auto cancelled = move.Cancel(0);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(*cancelled, 3u);
  stored = store.Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->map.Partition(0)->spare, proto::kNoServer);
  EXPECT_EQ(stored->map.Partition(0)->replicas, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_TRUE(move.Cancel(0).status().IsNotFound());
}

}  // namespace
}  // namespace tldb::cluster
