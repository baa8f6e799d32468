// The controller with real processes (docs/cluster.md "The controller"): one etcd and four
// tldb-servers (server ids 0..3) on loopback addresses inside a private network namespace, a
// slot map of two partitions of three replicas over servers 0, 1, 2 (server 3 holds nothing),
// every server with --controller-replace-after-ms 3000. While a ClusterClient appends with
// client_msg_ids to timelines of both partitions, a server holding replicas that is not the
// controller is killed (kill -9): the controller moves both its replicas to server 3, which
// holds them as voters; then the controller's own server is killed: another server becomes the
// controller, appends go on, and the new controller reports that the dead server's replicas
// have no target (every live server holds one). Every acknowledged message is read back once
// at its SeqId.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cluster/testing/etcd_cluster.h"
#include "common/server_process.h"
#include "common/temp_dir.h"
#include "protocol/slot_map.h"
#include "tldb/client.h"
#include "tldb/cluster_client.h"
#include "util/private_netns.h"
#include "util/shard_processes.h"
#include "util/shell.h"

namespace tldb {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kServers = 4;
constexpr int kTimelines = 40;

std::pair<int, std::string> Cli(const std::string& args) {
  return testing::Shell(std::string(TLDB_CLI_PATH) + " " + args);
}

struct Ack {
  std::string timeline, id;
  Seq seq = 0;
};

class ControllerProcessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { netns_error_ = testing::EnterPrivateNetworkNamespace(); }
  void SetUp() override {
    if (!netns_error_.empty()) {
      std::printf("SKIPPED: no private network namespace: %s\n", netns_error_.c_str());
      GTEST_SKIP() << "no private network namespace: " << netns_error_;
    }
    ASSERT_TRUE(etcd_.Start().ok());
    auto init = Cli("cluster init --partitions 2 --servers 0,1,2 --etcd " + etcd_.endpoint(0));
    ASSERT_EQ(init.first, 0) << init.second;
    for (int n = 0; n < kServers; ++n) {
      common::ServerProcessOptions o =
          testing::ShardServerOptions(TLDB_SERVER_PATH, dir_.path(), n, etcd_.endpoint(0),
                                      {"--controller-replace-after-ms", "3000"});
      servers_[n] = std::make_unique<common::ServerProcess>(o);
      ASSERT_TRUE(servers_[n]->Start().ok()) << Logs();
      addresses_.push_back(servers_[n]->address());
    }
  }
  std::string LogPath(int n) const { return dir_.path() + "/server" + std::to_string(n) + ".log"; }
  std::string Logs() { return testing::LogTails(dir_.path(), "server", kServers, 3000); }
  size_t LogCount(int n, const std::string& needle) {
    std::ifstream f(LogPath(n));
    std::string text((std::istreambuf_iterator<char>(f)), {});
    size_t count = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
      ++count;
    }
    return count;
  }
  std::map<std::string, uint64_t> Stats(int n) { return testing::StatsOf(addresses_[n]); }
  Result<proto::SlotMap> MapOf(int n) { return testing::MapOf(addresses_[n]); }
  // Waits up to `seconds` for `done`.
  template <typename F>
  static bool WaitFor(F&& done, int seconds) {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (!done()) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
  }
  // The server among `live` whose STATS say it is the controller (-1: none within 60 s).
  int Controller(const std::set<int>& live) {
    int found = -1;
    WaitFor(
        [&] {
          for (int n : live) {
            if (Stats(n)["shard_controller_active"] == 1) found = n;
          }
          return found >= 0;
        },
        60);
    return found;
  }
  std::unique_ptr<ClusterClient> NewClient() {
    ClusterClientOptions o;
    o.servers = addresses_;
    o.client.request_timeout_ms = 5'000;
    o.retry_ms_max = 60'000;  // failovers and moves fit well within this
    o.retry_pause_ms = 20;
    auto c = ClusterClient::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  static inline std::string netns_error_;
  common::TempDir dir_{"tldb-controller"};
  cluster::testing::EtcdCluster etcd_{1};
  std::unique_ptr<common::ServerProcess> servers_[kServers];
  std::vector<std::string> addresses_;
};

TEST_F(ControllerProcessTest, AGoneServersReplicasMoveAndAnotherServerTakesOverAsController) {
  ASSERT_TRUE(WaitFor(
      [&] {
        auto m = MapOf(0);
        return m.ok() && m->Partition(0)->primary != proto::kNoServer &&
               m->Partition(1)->primary != proto::kNoServer;
      },
      60))
      << "no primary for every partition\n"
      << Logs();
  const int controller = Controller({0, 1, 2, 3});
  ASSERT_GE(controller, 0) << "no server became the controller\n" << Logs();
  auto shown = Cli("cluster controller --etcd " + etcd_.endpoint(0));
  EXPECT_EQ(shown.first, 0) << shown.second;
  EXPECT_NE(shown.second.find("controller: server " + std::to_string(controller)),
            std::string::npos)
      << shown.second;
  // `tldb cluster status` marks the controller's server, and only it.
  std::string all;
  for (const std::string& a : addresses_) all += (all.empty() ? "" : ",") + a;
  auto status = Cli("cluster status --servers " + all);
  EXPECT_EQ(status.first, 0) << status.second;
  const size_t marked = status.second.find(", the controller");
  ASSERT_NE(marked, std::string::npos) << status.second;
  EXPECT_EQ(status.second.find(", the controller", marked + 1), std::string::npos) << status.second;
  const size_t line = status.second.rfind('\n', marked) + 1;  // npos + 1 == 0 for the first
  EXPECT_EQ(status.second.substr(line, addresses_[controller].size()), addresses_[controller])
      << status.second;
  int victim = 0;
  while (victim == controller) ++victim;  // holds replicas of both partitions, not controller

  std::vector<std::string> timelines;
  for (int i = 0; i < kTimelines; ++i) timelines.push_back("conv:" + std::to_string(i));
  std::mutex mu;
  std::vector<Ack> acks;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    auto c = NewClient();
    if (!c) return;
    for (int i = 0; !stop; ++i) {
      const std::string& t = timelines[i % timelines.size()];
      const std::string id = "m" + std::to_string(i);
      AppendOptions o;
      o.client_msg_id = id;
      auto r = c->Append("store", t, "payload " + std::to_string(i), o);
      if (!r.ok()) continue;
      std::lock_guard l(mu);
      acks.push_back(Ack{t, id, r->seq});
    }
  });
  auto acked = [&] {
    std::lock_guard l(mu);
    return acks.size();
  };
  auto more_acks = [&](size_t n) {
    const size_t from = acked();
    return WaitFor([&] { return acked() >= from + n; }, 60);
  };
  auto finish = [&] {
    stop = true;
    writer.join();
  };
  if (!more_acks(200)) {
    finish();
    FAIL() << "appends do not go on\n" << Logs();
  }

  // The victim dies; 3 s later the controller moves both its replicas to server 3. (Servers
  // that registered after the controller's first round were noticed absent once already.)
  const std::string noticed =
      "controller: server " + std::to_string(victim) + " holds replicas and is not registered";
  const size_t noticed_before = LogCount(controller, noticed);
  ASSERT_TRUE(servers_[victim]->Kill().ok());
  const bool moved = WaitFor(
      [&] {
        auto m = MapOf(controller);
        if (!m.ok()) return false;
        for (uint32_t p : {0u, 1u}) {
          const auto& r = m->Partition(p)->replicas;
          if (std::count(r.begin(), r.end(), 3u) != 1 ||
              std::count(r.begin(), r.end(), static_cast<uint32_t>(victim)) != 0) {
            return false;
          }
        }
        return true;
      },
      90);
  if (!moved) {
    finish();
    FAIL() << "the controller did not move server " << victim << "'s replicas\n" << Logs();
  }
  EXPECT_EQ(LogCount(controller, "controller: moving partition 0's replica"), 1u) << Logs();
  EXPECT_EQ(LogCount(controller, "controller: moving partition 1's replica"), 1u) << Logs();
  EXPECT_EQ(LogCount(controller, noticed), noticed_before + 1) << Logs();
  // Server 3's replicas catch up and vote.
  const bool voting = WaitFor(
      [&] {
        auto s = Stats(3);
        return s.count("cluster_p0_membership") && s["cluster_p0_membership"] == 0 &&
               s.count("cluster_p1_membership") && s["cluster_p1_membership"] == 0;
      },
      60);
  if (!voting) {
    finish();
    FAIL() << "server 3's new replicas do not vote\n" << Logs();
  }
  shown = Cli("cluster controller --etcd " + etcd_.endpoint(0));
  EXPECT_NE(shown.second.find("last action: moved partition"), std::string::npos) << shown.second;
  if (!more_acks(200)) {
    finish();
    FAIL() << "appends do not go on after the moves\n" << Logs();
  }

  // The controller's server dies: another takes over, and appends go on (each partition keeps
  // two voters of three).
  ASSERT_TRUE(servers_[controller]->Kill().ok());
  std::set<int> live = {0, 1, 2, 3};
  live.erase(victim);
  live.erase(controller);
  const int next = Controller(live);
  if (next < 0) {
    finish();
    FAIL() << "no server took over as the controller\n" << Logs();
  }
  if (!more_acks(200)) {
    finish();
    FAIL() << "appends do not go on after the controller died\n" << Logs();
  }
  // The dead controller's replicas have nowhere to go (both live servers hold a replica of each
  // partition): reported, not moved.
  EXPECT_TRUE(WaitFor(
      [&] { return LogCount(next, "every registered server holds a replica of partition") >= 1; },
      60))
      << Logs();
  finish();
  EXPECT_EQ(Stats(next)["shard_controller_moves"], 0u);
  EXPECT_GE(LogCount(next, "is the controller now"), 1u) << Logs();

  // Every acknowledged append is there once, at its SeqId.
  auto reader = NewClient();
  ASSERT_TRUE(reader);
  testing::ExpectEveryAckOnce(*reader, "store", timelines, acks, Logs());
  std::printf(
      "%zu acknowledged appends checked; server %d's replicas moved to server 3 by controller "
      "%d; controller %d killed, server %d took over\n",
      acks.size(), victim, controller, controller, next);
}

}  // namespace
}  // namespace tldb
