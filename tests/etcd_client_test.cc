// EtcdClient against real etcd processes (server/cluster/testing/etcd_cluster.h): key-values,
// leases, the create-if-absent race, epochs (create revisions), compare-and-swap, fencing-safe
// deletes, endpoint failover and error messages. Without etcd installed these tests fail.
#include "cluster/etcd_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/etcd_watch.h"
#include "cluster/testing/etcd_cluster.h"
#include "cluster/testing/etcd_test.h"
#include "common/server_process.h"

namespace tldb::cluster {
namespace {

using std::chrono::seconds;
using tldb::cluster::testing::EtcdCluster;
using tldb::cluster::testing::EtcdTest;
using tldb::cluster::testing::MustConnect;

class EtcdClientTest : public EtcdTest {};

TEST(EtcdClientOptionsTest, CreateRejectsBadOptions) {
  EtcdClientOptions o;
  auto c = EtcdClient::Create(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("no endpoints"), std::string::npos);

  o.endpoints = {"127.0.0.1:2379"};
  c = EtcdClient::Create(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("'127.0.0.1:2379' is not http://host:port"),
            std::string::npos);

  o.endpoints = {"http://127.0.0.1:2379/"};
  o.request_timeout_ms = 0;
  c = EtcdClient::Create(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);

  o.request_timeout_ms = 100;
  c = EtcdClient::Create(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->options().endpoints[0], "http://127.0.0.1:2379");
}

TEST(EtcdClientOptionsTest, ErrorNamesEveryEndpointWhenNothingListens) {
  EtcdClientOptions o;
  o.endpoints = {"http://127.0.0.1:" + std::to_string(common::FreeLoopbackPort()),
                 "http://127.0.0.1:" + std::to_string(common::FreeLoopbackPort())};
  o.connect_timeout_ms = 500;
  auto client = MustConnect(o);
  ASSERT_NE(client, nullptr);
  const auto put = client->Put("k", "v");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), Status::Code::kIOError);
  for (const auto& ep : o.endpoints) {
    EXPECT_NE(put.status().message().find(ep + " /v3/kv/put key 'k'"), std::string::npos)
        << put.status().ToString();
  }
  EXPECT_FALSE(client->Health().ok());
}

TEST_F(EtcdClientTest, PutGetDeleteWithBinaryKeys) {
  const std::string key("a\0\xff", 3);
  const std::string value("\x00\x01v\xfe", 4);
  auto rev1 = client_->Put(key, value);
  ASSERT_TRUE(rev1.ok()) << rev1.status().ToString();
  auto got = client_->Get(key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->key, key);
  EXPECT_EQ((*got)->value, value);
  EXPECT_EQ((*got)->create_revision, *rev1);
  EXPECT_EQ((*got)->mod_revision, *rev1);
  EXPECT_EQ((*got)->version, 1);
  EXPECT_EQ((*got)->lease, 0);

  auto rev2 = client_->Put(key, "");
  ASSERT_TRUE(rev2.ok()) << rev2.status().ToString();
  EXPECT_GT(*rev2, *rev1);
  got = client_->Get(key);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, "");
  EXPECT_EQ((*got)->create_revision, *rev1);
  EXPECT_EQ((*got)->mod_revision, *rev2);

  auto deleted = client_->Delete(key);
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_TRUE(*deleted);
  got = client_->Get(key);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  deleted = client_->Delete(key);
  ASSERT_TRUE(deleted.ok());
  EXPECT_FALSE(*deleted);

  const auto empty = client_->Put("", "v");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), Status::Code::kInvalidArgument);
}

TEST_F(EtcdClientTest, GetPrefixReturnsKeysInOrderWithTheirRevision) {
  ASSERT_TRUE(client_->Put("/p/b", "2").ok());
  ASSERT_TRUE(client_->Put("/p/a", "1").ok());
  ASSERT_TRUE(client_->Put("/q/x", "no").ok());
  auto last = client_->Put(std::string("/p\xff", 3), "no");
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  auto range = client_->GetPrefix("/p/");
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  ASSERT_EQ(range->kvs.size(), 2u);
  EXPECT_EQ(range->kvs[0].key, "/p/a");
  EXPECT_EQ(range->kvs[0].value, "1");
  EXPECT_EQ(range->kvs[1].key, "/p/b");
  EXPECT_EQ(range->revision, *last);
  auto all = client_->GetPrefix("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->kvs.size(), 4u);
}

TEST_F(EtcdClientTest, LeaseGrantKeepAliveAndExpiry) {
  auto lease = client_->LeaseGrant(2);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_GE(lease->ttl_s, 2);
  auto left = client_->LeaseKeepAliveOnce(lease->id);
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_GT(*left, 0);
  auto put = client_->Put("/node/1", "addr", lease->id);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  auto got = client_->Get("/node/1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->lease, lease->id);

  // Left alone, the lease expires and etcd deletes the key: wait for that delete event.
  std::mutex mu;
  std::condition_variable cv;
  bool deleted = false;
  WatchSpec spec;
  spec.key = "/node/1";
  spec.start_revision = *put + 1;
  spec.on_events = [&](const std::vector<WatchEvent>& events) {
    std::lock_guard lock(mu);
    for (const auto& e : events) deleted |= e.type == WatchEvent::Type::kDelete;
    cv.notify_all();
  };
  auto watch = client_->Watch(spec);
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, seconds(20), [&] { return deleted; }))
        << "the leased key was not deleted within 20 s";
  }
  left = client_->LeaseKeepAliveOnce(lease->id);
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_EQ(*left, 0);
  const Status revoke = client_->LeaseRevoke(lease->id);
  EXPECT_EQ(revoke.code(), Status::Code::kNotFound) << revoke.ToString();
  EXPECT_NE(revoke.message().find(etcd_.endpoint(0)), std::string::npos) << revoke.ToString();
}

TEST_F(EtcdClientTest, RevokeDeletesLeasedKeysAndUnknownLeasesAreNotFound) {
  auto lease = client_->LeaseGrant(30);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_TRUE(client_->Put("/leader", "n1", lease->id).ok());
  const Status revoked = client_->LeaseRevoke(lease->id);
  ASSERT_TRUE(revoked.ok()) << revoked.ToString();
  auto got = client_->Get("/leader");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  const auto put = client_->Put("/leader", "n1", lease->id);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), Status::Code::kNotFound) << put.status().ToString();
  EXPECT_FALSE(client_->LeaseGrant(0).ok());
}

TEST_F(EtcdClientTest, CreateIfAbsentRaceHasExactlyOneWinner) {
  auto other = MustConnect(etcd_.ClientOptions());
  ASSERT_NE(other, nullptr);
  for (int round = 0; round < 5; ++round) {
    const std::string key = "/p/" + std::to_string(round) + "/leader";
    std::atomic<int> ready{0};
    Result<CreateResult> a = Status::IOError("not run");
    Result<CreateResult> b = Status::IOError("not run");
    auto race = [&](EtcdClient* c, const char* me, Result<CreateResult>* out) {
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      *out = c->CreateIfAbsent(key, me, 0);
    };
    std::thread ta(race, client_.get(), "node-a", &a);
    std::thread tb(race, other.get(), "node-b", &b);
    ta.join();
    tb.join();
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    ASSERT_NE(a->created, b->created) << "exactly one must win, round " << round;
    const CreateResult& win = a->created ? *a : *b;
    const CreateResult& lose = a->created ? *b : *a;
    EXPECT_FALSE(win.holder.has_value());
    ASSERT_TRUE(lose.holder.has_value());
    EXPECT_EQ(lose.holder->value, a->created ? "node-a" : "node-b");
    EXPECT_EQ(lose.create_revision, win.create_revision);
    EXPECT_EQ(lose.holder->create_revision, win.create_revision);
  }
}

TEST_F(EtcdClientTest, EpochIsTheCreateRevisionAndGrowsOnRecreate) {
  auto lease = client_->LeaseGrant(30);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  auto first = client_->CreateIfAbsent("/p/0/leader", "n1", lease->id);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->created);
  auto got = client_->Get("/p/0/leader");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->create_revision, first->create_revision);
  EXPECT_EQ((*got)->lease, lease->id);

  // A stale epoch cannot resign the current leader.
  Status s = client_->DeleteIfCreateRevision("/p/0/leader", first->create_revision + 100);
  EXPECT_EQ(s.code(), Status::Code::kConflict) << s.ToString();
  s = client_->DeleteIfCreateRevision("/p/0/leader", first->create_revision);
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = client_->DeleteIfCreateRevision("/p/0/leader", first->create_revision);
  EXPECT_EQ(s.code(), Status::Code::kNotFound) << s.ToString();

  auto second = client_->CreateIfAbsent("/p/0/leader", "n2", lease->id);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_TRUE(second->created);
  EXPECT_GT(second->create_revision, first->create_revision);
  s = client_->DeleteIfCreateRevision("/p/0/leader", first->create_revision);
  EXPECT_EQ(s.code(), Status::Code::kConflict) << s.ToString();
  EXPECT_NE(s.message().find(std::to_string(second->create_revision)), std::string::npos)
      << s.ToString();
  got = client_->Get("/p/0/leader");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, "n2");
}

TEST_F(EtcdClientTest, CompareAndSwapWithAStaleRevisionFails) {
  auto created = client_->CompareAndSwap("/p/0/voters", 0, "a,b,c");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto again = client_->CompareAndSwap("/p/0/voters", 0, "x");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kConflict);

  auto swapped = client_->CompareAndSwap("/p/0/voters", *created, "a,b,d");
  ASSERT_TRUE(swapped.ok()) << swapped.status().ToString();
  EXPECT_GT(*swapped, *created);
  auto stale = client_->CompareAndSwap("/p/0/voters", *created, "a,b,e");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), Status::Code::kConflict);
  EXPECT_NE(stale.status().message().find("mod revision is " + std::to_string(*swapped)),
            std::string::npos)
      << stale.status().ToString();
  auto got = client_->Get("/p/0/voters");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, "a,b,d");
}

TEST(EtcdClientClusterTest, FailsOverToTheNextMemberWhenOneDies) {
  EtcdCluster etcd(3);
  const Status started = etcd.Start();
  ASSERT_TRUE(started.ok()) << started.ToString();
  auto client = MustConnect(etcd.ClientOptions());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Put("/k", "1").ok());
  const Status killed = etcd.Kill(0);
  ASSERT_TRUE(killed.ok()) << killed.ToString();
  // The two left keep quorum; the client leaves the dead member (a write that could not even
  // connect is safe to send elsewhere). A new leader may still be being elected: the first
  // few seconds can answer "unavailable".
  Result<int64_t> put = Status::IOError("not run");
  for (int attempt = 0; attempt < 20 && !put.ok(); ++attempt) {
    put = client->Put("/k", "2");
    if (!put.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  auto got = client->Get("/k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->value, "2");
  EXPECT_TRUE(client->Health().ok());
}

TEST(EtcdClientClusterTest, AWriteToAHungMemberIsOutcomeUnknownAndNotResent) {
  EtcdCluster etcd(3);
  const Status started = etcd.Start();
  ASSERT_TRUE(started.ok()) << started.ToString();
  EtcdClientOptions o = etcd.ClientOptions();
  o.endpoints = {etcd.endpoint(1), etcd.endpoint(2), etcd.endpoint(0)};
  o.request_timeout_ms = 500;
  auto client = MustConnect(o);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Put("/k", "1").ok());
  ASSERT_TRUE(etcd.Pause(1).ok());  // accepts connections, never answers

  // The write reached member 1 and may be applied some day: not sent elsewhere.
  const auto put = client->Put("/k", "2");
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), Status::Code::kTimedOut) << put.status().ToString();
  EXPECT_NE(put.status().message().find(etcd.endpoint(1) + " /v3/kv/put key '/k'"),
            std::string::npos)
      << put.status().ToString();
  EXPECT_NE(put.status().message().find("outcome unknown"), std::string::npos)
      << put.status().ToString();

  // The next call starts at member 2. Members 0 and 2 keep quorum, but if member 1 led the
  // cluster they first elect a new leader: retry briefly.
  Result<int64_t> again = Status::IOError("not run");
  for (int attempt = 0; attempt < 20 && !again.ok(); ++attempt) {
    again = client->Put("/k", "3");
    if (!again.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  // A read that times out on the hung member moves on to the next one.
  EtcdClientOptions reader_options = o;
  reader_options.endpoints = {etcd.endpoint(1), etcd.endpoint(2)};
  auto reader = MustConnect(reader_options);
  ASSERT_NE(reader, nullptr);
  auto got = reader->Get("/k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->value, "3");
  ASSERT_TRUE(etcd.Resume(1).ok());
}

}  // namespace
}  // namespace tldb::cluster
