// LeaseKeeper against real etcd processes: it keeps a lease (and the keys on it) alive past
// several TTLs, reports loss when etcd answers that the lease expired (revoked) and when etcd
// stops answering (SIGSTOP) for longer than the TTL, and stops cleanly.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cluster/etcd_client.h"
#include "cluster/lease_keeper.h"
#include "cluster/testing/etcd_test.h"

namespace tldb::cluster {
namespace {

using std::chrono::seconds;
using tldb::cluster::testing::EtcdTest;

// The loss report, for the test's thread to wait on.
class LossRecorder {
 public:
  LeaseKeeper::LostCallback Callback() {
    return [this](const Status& s) {
      std::lock_guard lock(mu_);
      lost_ = s;
      ++calls_;
      cv_.notify_all();
    };
  }
  std::optional<Status> Wait(seconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return lost_.has_value(); });
    return lost_;
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Status> lost_;
  int calls_ = 0;
};

class LeaseKeeperTest : public EtcdTest {
 protected:
  void SetUp() override {
    EtcdTest::SetUp();
    if (HasFatalFailure()) return;
    auto lease = client_->LeaseGrant(2);
    ASSERT_TRUE(lease.ok()) << lease.status().ToString();
    lease_ = *lease;
  }
  std::unique_ptr<LeaseKeeper> StartKeeper(LossRecorder* rec) {
    auto k = LeaseKeeper::Start(etcd_.ClientOptions(), lease_.id, lease_.ttl_s, rec->Callback());
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    return k.ok() ? std::move(k).value() : nullptr;
  }
  // Waits (bounded) until the keeper refreshed `n` times.
  static bool WaitRefreshes(const LeaseKeeper& k, uint64_t n) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(20);
    while (k.refreshes() < n && !k.lost() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return k.refreshes() >= n;
  }

  LeaseGrantResult lease_;
};

TEST_F(LeaseKeeperTest, KeepsTheLeaseAndItsKeysAlivePastSeveralTtls) {
  ASSERT_TRUE(client_->Put("/node/1", "addr", lease_.id).ok());
  LossRecorder rec;
  auto keeper = StartKeeper(&rec);
  ASSERT_NE(keeper, nullptr);
  // Refreshes come every TTL/3: seven of them span more than two TTLs.
  ASSERT_TRUE(WaitRefreshes(*keeper, 7)) << "refreshes: " << keeper->refreshes();
  EXPECT_FALSE(keeper->lost());
  auto got = client_->Get("/node/1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->has_value()) << "the leased key expired while kept alive";
  keeper->Stop();
  EXPECT_EQ(rec.calls(), 0);
  // Stop does not revoke: the lease is still there to revoke.
  const Status revoked = client_->LeaseRevoke(lease_.id);
  EXPECT_TRUE(revoked.ok()) << revoked.ToString();
}

TEST_F(LeaseKeeperTest, ReportsLossWhenTheLeaseIsRevoked) {
  LossRecorder rec;
  auto keeper = StartKeeper(&rec);
  ASSERT_NE(keeper, nullptr);
  ASSERT_TRUE(WaitRefreshes(*keeper, 1));
  ASSERT_TRUE(client_->LeaseRevoke(lease_.id).ok());
  const auto lost = rec.Wait(seconds(20));
  ASSERT_TRUE(lost.has_value()) << "no loss reported after the lease was revoked";
  EXPECT_EQ(lost->code(), Status::Code::kNotFound) << lost->ToString();
  EXPECT_NE(lost->message().find(std::to_string(lease_.id)), std::string::npos) << lost->ToString();
  EXPECT_TRUE(keeper->lost());
  keeper->Stop();
  EXPECT_EQ(rec.calls(), 1);
}

TEST_F(LeaseKeeperTest, ReportsLossWhenEtcdStopsAnsweringPastTheTtl) {
  LossRecorder rec;
  auto keeper = StartKeeper(&rec);
  ASSERT_NE(keeper, nullptr);
  ASSERT_TRUE(WaitRefreshes(*keeper, 1));
  ASSERT_TRUE(etcd_.Pause(0).ok());
  const auto lost = rec.Wait(seconds(20));
  ASSERT_TRUE(etcd_.Resume(0).ok());
  ASSERT_TRUE(lost.has_value()) << "no loss reported while etcd was stopped";
  EXPECT_EQ(lost->code(), Status::Code::kTimedOut) << lost->ToString();
  EXPECT_NE(lost->message().find(etcd_.endpoint(0)), std::string::npos) << lost->ToString();
  keeper->Stop();
  EXPECT_EQ(rec.calls(), 1);
}

TEST_F(LeaseKeeperTest, StartRejectsBadArguments) {
  LossRecorder rec;
  auto k = LeaseKeeper::Start(etcd_.ClientOptions(), 0, 2, rec.Callback());
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), Status::Code::kInvalidArgument);
  k = LeaseKeeper::Start(etcd_.ClientOptions(), lease_.id, 0, rec.Callback());
  ASSERT_FALSE(k.ok());
  k = LeaseKeeper::Start(etcd_.ClientOptions(), lease_.id, 2, nullptr);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("no on_lost"), std::string::npos);
  k = LeaseKeeper::Start(EtcdClientOptions{}, lease_.id, 2, rec.Callback());
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace tldb::cluster
