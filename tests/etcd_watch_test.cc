// EtcdWatch against real etcd processes: puts and deletes arrive in revision order, history is
// replayed from a start revision, the watch resumes on another member after the one it used is
// killed, it ends on compaction or when no endpoint serves it, and Stop() is final.
#include "cluster/etcd_watch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/etcd_client.h"
#include "cluster/testing/etcd_cluster.h"
#include "cluster/testing/etcd_test.h"
#include "common/server_process.h"

namespace tldb::cluster {
namespace {

using std::chrono::seconds;
using tldb::cluster::testing::EtcdCluster;
using tldb::cluster::testing::EtcdTest;
using tldb::cluster::testing::MustConnect;

// What a watch delivered, for the test's thread to wait on.
class Recorder {
 public:
  WatchSpec Spec(std::string key, bool prefix, int64_t start_revision) {
    WatchSpec spec;
    spec.key = std::move(key);
    spec.prefix = prefix;
    spec.start_revision = start_revision;
    spec.on_events = [this](const std::vector<WatchEvent>& batch) {
      std::lock_guard lock(mu_);
      events_.insert(events_.end(), batch.begin(), batch.end());
      cv_.notify_all();
    };
    spec.on_end = [this](const Status& s) {
      std::lock_guard lock(mu_);
      end_ = s;
      cv_.notify_all();
    };
    return spec;
  }
  // Waits (up to 20 s) until `n` events arrived; returns them all.
  std::vector<WatchEvent> WaitEvents(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, seconds(20), [&] { return events_.size() >= n; });
    return events_;
  }
  std::optional<Status> WaitEnd() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, seconds(20), [&] { return end_.has_value(); });
    return end_;
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return events_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchEvent> events_;
  std::optional<Status> end_;
};

class EtcdWatchTest : public EtcdTest {
 protected:
  int64_t Revision() {
    auto r = client_->GetPrefix("/");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->revision : 0;
  }
};

TEST_F(EtcdWatchTest, DeliversPutsAndDeletesInRevisionOrder) {
  Recorder rec;
  auto watch = client_->Watch(rec.Spec("/w/", /*prefix=*/true, Revision() + 1));
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  std::vector<int64_t> revs;
  for (const char* key : {"/w/a", "/w/b"}) {
    auto r = client_->Put(key, std::string("v") + key);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    revs.push_back(*r);
  }
  ASSERT_TRUE(client_->Put("/x/outside", "no").ok());
  auto deleted = client_->Delete("/w/a");
  ASSERT_TRUE(deleted.ok() && *deleted);
  auto r = client_->Put("/w/a", "again");
  ASSERT_TRUE(r.ok());

  const auto events = rec.WaitEvents(4);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(events[0].kv.key, "/w/a");
  EXPECT_EQ(events[0].kv.value, "v/w/a");
  EXPECT_EQ(events[0].kv.mod_revision, revs[0]);
  EXPECT_EQ(events[1].kv.key, "/w/b");
  EXPECT_EQ(events[1].kv.mod_revision, revs[1]);
  EXPECT_EQ(events[2].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(events[2].kv.key, "/w/a");
  EXPECT_EQ(events[3].type, WatchEvent::Type::kPut);
  EXPECT_EQ(events[3].kv.value, "again");
  EXPECT_EQ(events[3].kv.mod_revision, *r);
  EXPECT_EQ(events[3].kv.version, 1);  // re-created after the delete
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(events[i].kv.mod_revision, events[i - 1].kv.mod_revision);
  }
  EXPECT_EQ((*watch)->last_revision(), *r);
}

TEST_F(EtcdWatchTest, ReplaysHistoryFromTheStartRevision) {
  auto first = client_->Put("/h", "1");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(client_->Put("/h", "2").ok());
  ASSERT_TRUE(client_->Put("/h", "3").ok());
  Recorder rec;
  auto watch = client_->Watch(rec.Spec("/h", /*prefix=*/false, *first));
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  const auto events = rec.WaitEvents(3);
  ASSERT_EQ(events.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(events[i].kv.value, std::to_string(i + 1));
}

TEST_F(EtcdWatchTest, StopIsFinal) {
  Recorder rec;
  auto watch = client_->Watch(rec.Spec("/s", /*prefix=*/false, Revision() + 1));
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  ASSERT_TRUE(client_->Put("/s", "1").ok());
  ASSERT_EQ(rec.WaitEvents(1).size(), 1u);
  (*watch)->Stop();
  ASSERT_TRUE(client_->Put("/s", "2").ok());
  // A live watch delivers within milliseconds; a stopped one never does.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(rec.count(), 1u);
  EXPECT_FALSE((*watch)->ended());
}

TEST_F(EtcdWatchTest, EndsWithNotFoundWhenItsHistoryIsCompacted) {
  auto first = client_->Put("/c", "1");
  ASSERT_TRUE(first.ok());
  auto second = client_->Put("/c", "2");
  ASSERT_TRUE(second.ok());
  const std::string compact = "etcdctl --endpoints=" + etcd_.endpoint(0) + " compact " +
                              std::to_string(*second) + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(compact.c_str()), 0) << compact;
  Recorder rec;
  auto watch = client_->Watch(rec.Spec("/c", /*prefix=*/false, *first));
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  const auto end = rec.WaitEnd();
  ASSERT_TRUE(end.has_value()) << "the watch did not end";
  EXPECT_EQ(end->code(), Status::Code::kNotFound) << end->ToString();
  EXPECT_NE(end->message().find("compacted"), std::string::npos) << end->ToString();
  EXPECT_TRUE((*watch)->ended());
  EXPECT_EQ(rec.count(), 0u);
}

TEST(EtcdWatchNoServerTest, GivesUpWhenNoEndpointServesIt) {
  EtcdClientOptions o;
  o.endpoints = {"http://127.0.0.1:" + std::to_string(common::FreeLoopbackPort())};
  o.connect_timeout_ms = 200;
  auto client = MustConnect(o);
  ASSERT_NE(client, nullptr);
  Recorder rec;
  WatchSpec spec = rec.Spec("/k", false, 0);
  spec.reconnect_give_up_ms = 500;
  auto watch = client->Watch(spec);
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  const auto end = rec.WaitEnd();
  ASSERT_TRUE(end.has_value()) << "the watch did not give up";
  EXPECT_EQ(end->code(), Status::Code::kIOError);
  EXPECT_NE(end->message().find(o.endpoints[0]), std::string::npos) << end->ToString();
  EXPECT_GE((*watch)->reconnects(), 1u);

  WatchSpec bad;
  bad.key = "/k";
  auto rejected = client->Watch(bad);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), Status::Code::kInvalidArgument);
}

TEST(EtcdWatchClusterTest, ResumesOnAnotherMemberAfterItsMemberIsKilled) {
  EtcdCluster etcd(3);
  const Status started = etcd.Start();
  ASSERT_TRUE(started.ok()) << started.ToString();
  // The watch starts on member 0 (its client's first endpoint); writes go to members 1 and 2.
  auto watcher = MustConnect(etcd.ClientOptions());
  EtcdClientOptions writer_options = etcd.ClientOptions();
  writer_options.endpoints = {etcd.endpoint(1), etcd.endpoint(2)};
  auto writer = MustConnect(writer_options);
  ASSERT_TRUE(watcher && writer);
  auto start = writer->GetPrefix("/");
  ASSERT_TRUE(start.ok()) << start.status().ToString();

  Recorder rec;
  auto watch = watcher->Watch(rec.Spec("/r/", /*prefix=*/true, start->revision + 1));
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  std::vector<int64_t> revs;
  auto put = [&](const std::string& key) {
    // Right after the kill a new etcd leader may still be being elected: retry briefly.
    Result<int64_t> r = Status::IOError("not run");
    for (int attempt = 0; attempt < 20 && !r.ok(); ++attempt) {
      r = writer->Put(key, key);
      if (!r.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    revs.push_back(*r);
  };
  put("/r/1");
  put("/r/2");
  ASSERT_EQ(rec.WaitEvents(2).size(), 2u);
  const Status killed = etcd.Kill(0);
  ASSERT_TRUE(killed.ok()) << killed.ToString();
  put("/r/3");
  put("/r/4");
  const auto events = rec.WaitEvents(4);
  ASSERT_EQ(events.size(), 4u) << "the watch did not resume on another member";
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(events[i].kv.key, "/r/" + std::to_string(i + 1));
    EXPECT_EQ(events[i].kv.mod_revision, revs[i]);
  }
  EXPECT_GE((*watch)->reconnects(), 1u);
  EXPECT_FALSE((*watch)->ended());
}

}  // namespace
}  // namespace tldb::cluster
