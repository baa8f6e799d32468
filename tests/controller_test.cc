// Controller (server/cluster/controller.h) against a real etcd, with the servers' part played by
// the test (servers/<id> keys, and partitions/<P>/nodes/<k> naming whichever server the map
// lists): the election (two controllers, one acts; its lease revoked, the other takes over; a
// stopping controller resigns), the replacement of a gone server's replicas one move at a time
// to the least-loaded server, and a replacement that has no target being reported once and made
// once a server registers; primaries all on one server spread by handovers, then left alone.
// Without etcd installed these tests fail.
#include "cluster/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster/etcd_coordinator.h"
#include "cluster/replica_move.h"
#include "cluster/testing/etcd_test.h"

namespace tldb::cluster {
namespace {

using proto::SlotMap;
using tldb::cluster::testing::EtcdTest;
using Clock = std::chrono::steady_clock;

constexpr const char* kPrefix = "/t/";

class ControllerTest : public EtcdTest {
 protected:
  void TearDown() override {
    for (auto& c : controllers_) c->Stop();
    stop_ = true;
    if (servers_.joinable()) servers_.join();
  }
  static std::string Address(uint32_t server) {
    return "127.0.0." + std::to_string(server + 1) + ":7070";
  }
  Controller* Add(uint32_t server, int64_t replace_after_ms, int64_t balance_interval_ms = 0) {
    ControllerOptions o;
    o.etcd_endpoints = etcd_.ClientOptions().endpoints;
    o.etcd_prefix = kPrefix;
    o.server = server;
    o.client_address = Address(server);
    o.round_ms = 100;
    o.replace_after_ms = replace_after_ms;
    o.balance_interval_ms = balance_interval_ms;
    o.move_timeout_ms = 20'000;
    o.votes = [](uint32_t, uint32_t, const std::string&) { return true; };
    o.log = [this, server](std::string_view line) {
      std::lock_guard l(mu_);
      log_.push_back("[" + std::to_string(server) + "] " + std::string(line));
    };
    auto c = Controller::Start(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    controllers_.push_back(std::move(c).value());
    return controllers_.back().get();
  }
  template <typename F>
  bool WaitFor(F&& done, int seconds = 30) {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (!done()) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
  size_t LogCount(const std::string& needle) {
    std::lock_guard l(mu_);
    return std::count_if(log_.begin(), log_.end(),
                         [&](const std::string& s) { return s.find(needle) != s.npos; });
  }
  std::string Log() {
    std::lock_guard l(mu_);
    std::string out;
    for (const auto& s : log_) out += s + "\n";
    return out;
  }
  void Register(uint32_t server) {
    ASSERT_TRUE(SlotMapStore(*client_, kPrefix).RegisterServer(server, Address(server), 0).ok());
  }
  // Plays the servers' part in a move: a partition's spare reports caught up at once
  // (partitions/<P>/spare-ready), and partitions/<P>/nodes/<k> names the server the map lists
  // at position k (as that server's replica registers it once started).
  void RunServers() {
    servers_ = std::thread([this] {
      auto c = testing::MustConnect(etcd_.ClientOptions());
      SlotMapStore store(*c, kPrefix);
      while (!stop_) {
        if (auto m = store.Load(); m.ok()) {
          for (const auto& p : m->map.partitions()) {
            if (p.spare != proto::kNoServer) {
              (void)c->Put(EtcdCoordinator::PartitionKey(kPrefix, p.id, "spare-ready"),
                           "{\"server\":" + std::to_string(p.spare) + "}");
            }
            for (uint32_t k = 0; k < p.replicas.size(); ++k) {
              (void)c->Put(
                  EtcdCoordinator::PartitionKey(kPrefix, p.id, "nodes/" + std::to_string(k)),
                  "{\"client\":\"" + Address(p.replicas[k]) + "\",\"peer\":\"x:1\"}");
            }
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  std::vector<uint32_t> Replicas(uint32_t partition) {
    auto m = SlotMapStore(*client_, kPrefix).Load();
    return m.ok() ? m->map.Partition(partition)->replicas : std::vector<uint32_t>{};
  }

  std::vector<std::unique_ptr<Controller>> controllers_;
  std::mutex mu_;
  std::vector<std::string> log_;
  std::atomic<bool> stop_{false};
  std::thread servers_;
};

TEST_F(ControllerTest, OneOfTwoActsAndTheOtherTakesOverWhenItsLeaseGoes) {
  auto m = SlotMap::Even(1, 1, {0, 1, 2}, 3);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(SlotMapStore(*client_, kPrefix).Create(*m).ok());
  Controller* a = Add(10, 0);
  Controller* b = Add(11, 0);
  ASSERT_TRUE(WaitFor([&] { return a->active() || b->active(); })) << Log();
  Controller* first = a->active() ? a : b;
  Controller* second = first == a ? b : a;
  const uint32_t first_id = first == a ? 10 : 11;
  // The other has seen the holder and does not act.
  ASSERT_TRUE(WaitFor([&] { return LogCount("the controller is {\"client\"") >= 1; })) << Log();
  EXPECT_FALSE(second->active());
  EXPECT_EQ(second->takeovers(), 0u);
  auto key = client_->Get(Controller::Key(kPrefix));
  ASSERT_TRUE(key.ok() && *key);
  EXPECT_EQ(nlohmann::json::parse((*key)->value).at("server").get<uint32_t>(), first_id);
  EXPECT_EQ((*key)->lease, first->lease_id());
  // Its lease revoked (as when its server dies and the lease expires), the other takes over and
  // the first learns it is no longer the controller.
  ASSERT_TRUE(client_->LeaseRevoke(first->lease_id()).ok());
  ASSERT_TRUE(WaitFor([&] { return second->active() && !first->active(); })) << Log();
  EXPECT_EQ(second->takeovers(), 1u);
  EXPECT_GE(LogCount("is no longer the controller"), 1u) << Log();
  key = client_->Get(Controller::Key(kPrefix));
  ASSERT_TRUE(key.ok() && *key);
  EXPECT_EQ((*key)->lease, second->lease_id());
  // A stopping controller resigns: the first (campaigning again on a new lease) takes over.
  second->Stop();
  ASSERT_TRUE(WaitFor([&] { return first->active(); })) << Log();
  EXPECT_EQ(first->takeovers(), 2u);
  EXPECT_GE(LogCount("resigns as the controller"), 1u) << Log();
}

TEST_F(ControllerTest, AGoneServersReplicasMoveOneAtATimeToTheLeastLoadedServer) {
  // p0 {0,1,2}, p1 {1,2,3}, p2 {2,3,0}; servers 1..4 registered, 0 never.
  auto m = SlotMap::Even(1, 3, {0, 1, 2, 3}, 3);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(SlotMapStore(*client_, kPrefix).Create(*m).ok());
  for (uint32_t s : {1, 2, 3, 4}) Register(s);
  RunServers();
  Controller* c = Add(1, 500);
  ASSERT_TRUE(WaitFor([&] { return c->moves() >= 2; })) << Log();
  // p0's replica 0 went to server 4 (no replicas); then p2's replica 2 to server 4 again (one
  // replica) rather than server 1 (two).
  EXPECT_EQ(Replicas(0), (std::vector<uint32_t>{4, 1, 2})) << Log();
  EXPECT_EQ(Replicas(1), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(Replicas(2), (std::vector<uint32_t>{2, 3, 4})) << Log();
  auto stored = SlotMapStore(*client_, kPrefix).Load();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->map.version(), 5u);  // each move: the spare, then its position
  // The absence was noticed before the moves, each said once.
  EXPECT_EQ(LogCount("server 0 holds replicas and is not registered"), 1u) << Log();
  EXPECT_EQ(LogCount("moving partition 0's replica 0 from server 0"), 1u) << Log();
  EXPECT_EQ(LogCount("moving partition 2's replica 2 from server 0"), 1u) << Log();
  // The status key says what it did.
  ASSERT_TRUE(WaitFor([&] {
    auto st = client_->Get(Controller::StatusKey(kPrefix));
    return st.ok() && *st && (*st)->value.find("moved partition 2") != std::string::npos;
  })) << Log();
  EXPECT_EQ(c->moves(), 2u);
}

TEST_F(ControllerTest, NoTargetIsLoggedOnceAndTheMoveIsMadeWhenAServerRegisters) {
  auto m = SlotMap::Even(1, 1, {0, 1, 2}, 3);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(SlotMapStore(*client_, kPrefix).Create(*m).ok());
  for (uint32_t s : {1, 2}) Register(s);
  RunServers();
  Controller* c = Add(1, 300);
  const std::string blocked = "every registered server holds a replica of partition 0";
  ASSERT_TRUE(WaitFor([&] { return LogCount(blocked) >= 1; })) << Log();
  // Further rounds (the status key is rewritten each round while server 0 is gone) do not say
  // it again.
  for (int i = 0; i < 2; ++i) {
    auto before = client_->Get(Controller::StatusKey(kPrefix));
    ASSERT_TRUE(before.ok() && *before);
    ASSERT_TRUE(WaitFor([&] {
      auto now = client_->Get(Controller::StatusKey(kPrefix));
      return now.ok() && *now && (*now)->mod_revision > (*before)->mod_revision;
    })) << Log();
  }
  EXPECT_EQ(LogCount(blocked), 1u) << Log();
  EXPECT_EQ(c->moves(), 0u);
  EXPECT_EQ(Replicas(0), (std::vector<uint32_t>{0, 1, 2}));
  Register(3);
  ASSERT_TRUE(WaitFor([&] { return c->moves() == 1; })) << Log();
  EXPECT_EQ(Replicas(0), (std::vector<uint32_t>{3, 1, 2}));
}

TEST_F(ControllerTest, PrimariesAllOnOneServerAreSpreadAndThenLeftAlone) {
  // p0 {0,1,2}, p1 {1,2,0}, p2 {2,0,1}: each partition led by its replica on server 0.
  auto m = SlotMap::Even(1, 3, {0, 1, 2}, 3);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(SlotMapStore(*client_, kPrefix).Create(*m).ok());
  for (uint32_t s : {0, 1, 2}) Register(s);
  const std::vector<std::string> on_server0 = {"0", "2", "1"};
  for (uint32_t p = 0; p < 3; ++p) {
    ASSERT_TRUE(
        client_->Put(EtcdCoordinator::PartitionKey(kPrefix, p, "leader"), on_server0[p]).ok());
  }
  // The replicas' part: a promote key makes its replica the leader.
  servers_ = std::thread([this] {
    auto c = testing::MustConnect(etcd_.ClientOptions());
    while (!stop_) {
      for (uint32_t p = 0; p < 3; ++p) {
        auto kv = c->Get(EtcdCoordinator::PromoteKey(kPrefix, p));
        if (kv.ok() && *kv) {
          (void)c->Put(EtcdCoordinator::PartitionKey(kPrefix, p, "leader"), (*kv)->value);
          (void)c->Delete(EtcdCoordinator::PromoteKey(kPrefix, p));
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  Controller* c = Add(0, 0, /*balance_interval_ms=*/300);
  ASSERT_TRUE(WaitFor([&] { return c->handovers() >= 2; })) << Log();
  auto spread = [&] {
    auto stored = SlotMapStore(*client_, kPrefix).Load();
    auto serving = SlotMapStore(*client_, kPrefix).Serving(stored->map);
    std::map<uint32_t, int> n;
    for (const auto& p : serving->partitions()) n[p.primary]++;
    return n;
  };
  EXPECT_EQ(spread(), (std::map<uint32_t, int>{{0, 1}, {1, 1}, {2, 1}})) << Log();
  EXPECT_EQ(LogCount("evening out the primaries: server 0 has 3 primaries"), 1u) << Log();
  // Even now: further balance checks (status rewritten each round) ask for nothing more.
  const uint64_t handovers = c->handovers();
  ASSERT_TRUE(WaitFor([&] { return LogCount("evened out the primaries") >= 1; })) << Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(1'000));  // a few balance intervals
  EXPECT_EQ(c->handovers(), handovers);
  EXPECT_EQ(LogCount("evening out the primaries"), 1u) << Log();
}

// A move left in the map (its command died: the spare is there, its position not given yet) is
// finished when the spare's server runs, and cancelled when it does not, before anything else.
TEST_F(ControllerTest, AMoveLeftInTheMapIsFinishedWhenItsSpareRunsAndCancelledWhenNot) {
  auto m = SlotMap::Even(1, 2, {0, 1, 2}, 3);  // p0 {0,1,2}, p1 {1,2,0}
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(SlotMapStore(*client_, kPrefix).Create(*m).ok());
  // Version 2: p0's spare is server 3, for server 1 (3 runs); version 3: p1's is server 4,
  // for server 2 (4 never runs).
  SlotMapStore store(*client_, kPrefix);
  auto v1 = store.Load();
  ASSERT_TRUE(v1.ok());
  auto m2 = ReplicaMove::WithSpare(v1->map, 0, 1, 3);
  ASSERT_TRUE(m2.ok());
  auto v2 = store.Update(*v1, *m2);
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  auto m3 = ReplicaMove::WithSpare(v2->map, 1, 2, 4);
  ASSERT_TRUE(m3.ok());
  ASSERT_TRUE(store.Update(*v2, *m3).ok());
  for (uint32_t s : {0, 1, 2, 3}) Register(s);
  RunServers();
  Add(0, 300);  // nobody is gone: no replacement, only the moves left in the map
  ASSERT_TRUE(WaitFor([&] {
    auto now = SlotMapStore(*client_, kPrefix).Load();
    return now.ok() && now->map.Partition(0)->replicas == std::vector<uint32_t>{0, 3, 2} &&
           now->map.Partition(1)->spare == proto::kNoServer;
  })) << Log();
  auto now = SlotMapStore(*client_, kPrefix).Load();
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->map.Partition(0)->spare, proto::kNoServer);
  EXPECT_EQ(now->map.Partition(1)->replicas, (std::vector<uint32_t>{1, 2, 0}));
  EXPECT_GE(LogCount("finishing the move of partition 0's replica from server 1 to server 3"), 1u)
      << Log();
  EXPECT_GE(LogCount("cancelled the move of partition 1's replica to server 4"), 1u) << Log();
}

}  // namespace
}  // namespace tldb::cluster
