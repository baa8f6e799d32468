// PolledCoordinator (server/cluster/polled_coordinator.h): a replica's reads of etcd's state
// never wait for etcd. A fake coordinator whose Leader() can be held (a stalled etcd) stands
// for EtcdCoordinator; the clock is the test's.
#include "cluster/polled_coordinator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>

namespace tldb::cluster {
namespace {

using namespace std::chrono_literals;

// A coordinator over an in-memory leader key. With `gated`, each Leader() call takes its
// snapshot of the key, then waits for a permit (a read that etcd holds).
class FakeCoordinator : public repl::Coordinator {
 public:
  Result<repl::LeaderInfo> Campaign(uint32_t node) override {
    std::lock_guard l(mu_);
    if (!leader_.present) leader_ = {true, node, ++revision_};
    return leader_;
  }
  Result<repl::LeaderInfo> Leader(uint32_t) override {
    std::unique_lock l(mu_);
    const repl::LeaderInfo seen = leader_;
    ++leader_calls_;
    cv_.notify_all();
    cv_.wait(l, [&] { return !gated_ || permits_ > 0; });
    if (gated_) --permits_;
    return seen;
  }
  Status Resign(uint32_t, uint64_t epoch) override {
    std::lock_guard l(mu_);
    if (leader_.present && leader_.epoch == epoch) leader_ = {};
    return Status::Ok();
  }
  Status KeepAlive(uint32_t) override { return Status::Ok(); }
  Result<std::optional<uint32_t>> PromoteTarget(uint32_t) override {
    return std::optional<uint32_t>();
  }
  Status ClearPromote(uint32_t) override { return Status::Ok(); }
  Result<bool> Initialized(uint32_t) override { return true; }
  Status MarkInitialized(uint32_t) override { return Status::Ok(); }

  void Set(repl::LeaderInfo info) {
    std::lock_guard l(mu_);
    leader_ = info;
  }
  void Gate(bool on) {
    std::lock_guard l(mu_);
    gated_ = on;
    cv_.notify_all();
  }
  void Permit() {
    std::lock_guard l(mu_);
    ++permits_;
    cv_.notify_all();
  }
  // Waits until Leader() was entered `n` times in all (generous bound).
  bool WaitCalls(int n) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, 30s, [&] { return leader_calls_ >= n; });
  }
  int calls() {
    std::lock_guard l(mu_);
    return leader_calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  repl::LeaderInfo leader_;
  uint64_t revision_ = 10;
  int leader_calls_ = 0;
  bool gated_ = false;
  int permits_ = 0;
};

class PolledCoordinatorTest : public ::testing::Test {
 protected:
  PolledCoordinatorTest() {
    PolledCoordinatorOptions o;
    o.node = 0;
    o.poll_ms = 1;
    o.stale_ms = 1'000;
    o.now_ms = [this] { return now_.load(); };
    polled_ = std::make_unique<PolledCoordinator>(fake_, nullptr, o);
  }
  ~PolledCoordinatorTest() override {
    fake_.Gate(false);
    polled_->Stop();
  }
  // Leader() of the polled coordinator, which must answer without waiting for etcd.
  Result<repl::LeaderInfo> LeaderNow() {
    auto f = std::async(std::launch::async, [this] { return polled_->Leader(0); });
    EXPECT_EQ(f.wait_for(30s), std::future_status::ready) << "Leader() waited for etcd";
    return f.get();
  }

  std::atomic<int64_t> now_{1'000'000};
  FakeCoordinator fake_;
  std::unique_ptr<PolledCoordinator> polled_;
};

TEST_F(PolledCoordinatorTest, ReadsAnswerFromTheLastPollWhileEtcdStallsThenGoStale) {
  fake_.Set({true, 2, 7});
  polled_->Start();
  ASSERT_TRUE(fake_.WaitCalls(2));  // the first poll's answers are stored
  fake_.Gate(true);
  ASSERT_TRUE(fake_.WaitCalls(fake_.calls() + 1));  // a poll now hangs in etcd
  auto l = LeaderNow();
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_TRUE(l->present);
  EXPECT_EQ(l->node, 2u);
  EXPECT_EQ(l->epoch, 7u);
  EXPECT_TRUE(polled_->KeepAlive(0).ok());
  now_ += 1'001;  // the last answer is now older than stale_ms: etcd counts as unreachable
  EXPECT_EQ(LeaderNow().status().code(), Status::Code::kIOError);
  EXPECT_EQ(polled_->KeepAlive(0).code(), Status::Code::kIOError);
  EXPECT_EQ(polled_->PromoteTarget(0).status().code(), Status::Code::kIOError);
  fake_.Gate(false);  // etcd answers again
  ASSERT_TRUE(fake_.WaitCalls(fake_.calls() + 2));
  EXPECT_TRUE(LeaderNow().ok());
}

TEST_F(PolledCoordinatorTest, AWonCampaignIsNotUndoneByAPollThatStartedBeforeIt) {
  polled_->Start();
  ASSERT_TRUE(fake_.WaitCalls(2));
  auto l = LeaderNow();
  ASSERT_TRUE(l.ok());
  EXPECT_FALSE(l->present);
  fake_.Gate(true);
  const int in_flight = fake_.calls() + 1;
  ASSERT_TRUE(fake_.WaitCalls(in_flight));  // this poll saw no leader key
  auto won = polled_->Campaign(0);
  ASSERT_TRUE(won.ok());
  ASSERT_TRUE(won->present);
  l = LeaderNow();  // the campaign's answer, at once
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->present);
  EXPECT_EQ(l->epoch, won->epoch);
  fake_.Permit();                               // the stale poll completes...
  ASSERT_TRUE(fake_.WaitCalls(in_flight + 1));  // ...and the next one is held
  l = LeaderNow();
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->present) << "a poll that started before the campaign overwrote it";
  EXPECT_EQ(l->epoch, won->epoch);
  // Resign forgets the key until a poll that started after it answers.
  ASSERT_TRUE(polled_->Resign(0, won->epoch).ok());
  EXPECT_EQ(LeaderNow().status().code(), Status::Code::kIOError);
  fake_.Gate(false);
  ASSERT_TRUE(fake_.WaitCalls(fake_.calls() + 2));
  l = LeaderNow();
  ASSERT_TRUE(l.ok());
  EXPECT_FALSE(l->present);
}

// The node keys are read every nodes_poll_ms; PollNodesSoon (a peer's message named an
// incarnation the last read did not) brings the next read forward to nodes_soon_ms after the
// last one, never sooner, and a read answers only the calls made before it started.
TEST(PolledCoordinatorNodesTest, PollNodesSoonReadsTheNodesEarlyButNotTooOften) {
  FakeCoordinator fake;
  std::atomic<int64_t> now{1'000'000};
  std::atomic<int> reads{0};
  PolledCoordinatorOptions o;
  o.poll_ms = 1;
  o.nodes_poll_ms = 1'000'000;  // never, within this test
  o.nodes_soon_ms = 100;
  o.now_ms = [&] { return now.load(); };
  PolledCoordinator polled(
      fake,
      [&]() -> Result<std::map<uint32_t, NodeAddresses>> {
        std::map<uint32_t, NodeAddresses> m;
        m[1] = {"c:1", "p:1", static_cast<uint64_t>(++reads)};
        return m;
      },
      o);
  polled.Start();
  auto incarnation = [&] {
    auto n = polled.Nodes();
    return n.ok() ? n->at(1).incarnation : 0;
  };
  auto wait_polls = [&](int polls) {  // Leader() is called once per poll
    return fake.WaitCalls(fake.calls() + polls);
  };
  ASSERT_TRUE(wait_polls(2));
  EXPECT_EQ(reads.load(), 1) << "read once at start";
  EXPECT_EQ(incarnation(), 1u);
  polled.PollNodesSoon();
  ASSERT_TRUE(wait_polls(20));
  EXPECT_EQ(reads.load(), 1) << "not sooner than nodes_soon_ms after the last read";
  now += 100;
  ASSERT_TRUE(wait_polls(3));
  EXPECT_EQ(reads.load(), 2) << "read once nodes_soon_ms passed";
  EXPECT_EQ(incarnation(), 2u);
  now += 100;
  ASSERT_TRUE(wait_polls(20));
  EXPECT_EQ(reads.load(), 2) << "that read answered the call: nodes_poll_ms again";
  polled.Stop();
}

}  // namespace
}  // namespace tldb::cluster
