// Cross-partition fan-out by intent records (docs/cluster.md "Cross-partition fan-out") over real
// processes: one etcd and five tldb-servers (server ids 0..4) in a private network namespace, a
// slot map of four partitions of three replicas (`tldb cluster init`), and a ClusterClient.
// Covered: a fan-out over members of every partition sent whole to its home, answered with the
// home's members' SeqIds and the others pending, delivered by the home to the other partitions'
// primaries on other servers (WaitFanout), every member holding it once; a retry in another order
// answered with the original results; and the home's primary SIGKILLed after answering while a
// member partition's primary is stopped (SIGSTOP, so that its part cannot be delivered yet): the
// home's next primary resumes the intent from its journal and every member holds the message
// exactly once, the home's members at the SeqIds of the first answer.
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include "cluster/testing/etcd_cluster.h"
#include "common/server_process.h"
#include "common/temp_dir.h"
#include "protocol/intent_record.h"
#include "protocol/slot_map.h"
#include "tldb/cluster_client.h"
#include "util/private_netns.h"
#include "util/shard_processes.h"
#include "util/shell.h"

namespace tldb {
namespace {

using testing::EnterPrivateNetworkNamespace;

using Clock = std::chrono::steady_clock;
constexpr int kServers = 5;

std::vector<std::string_view> Views(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

class IntentProcessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { netns_error_ = EnterPrivateNetworkNamespace(); }
  void SetUp() override {
    if (!netns_error_.empty()) {
      std::printf("SKIPPED: no private network namespace: %s\n", netns_error_.c_str());
      GTEST_SKIP() << "no private network namespace: " << netns_error_;
    }
    ASSERT_TRUE(etcd_.Start().ok());
    auto init = Run("cluster init --partitions 4 --servers 0,1,2,3,4 --etcd " + etcd_.endpoint(0));
    ASSERT_EQ(init.first, 0) << init.second;
    for (int n = 0; n < kServers; ++n) {
      common::ServerProcessOptions o =
          testing::ShardServerOptions(TLDB_SERVER_PATH, dir_.path(), n, etcd_.endpoint(0));
      servers_[n] = std::make_unique<common::ServerProcess>(o);
      ASSERT_TRUE(servers_[n]->Start().ok()) << Logs();
      addresses_.push_back(servers_[n]->address());
    }
    ClusterClientOptions co;
    co.servers = addresses_;
    co.retry_ms_max = 60'000;  // a failover of the home while the test waits
    auto cc = ClusterClient::Connect(co);
    ASSERT_TRUE(cc.ok()) << cc.status().ToString();
    client_ = std::move(cc).value();
  }
  void TearDown() override {
    for (pid_t pid : stopped_) ::kill(pid, SIGCONT);
  }
  static std::pair<int, std::string> Run(const std::string& args) {
    return testing::Shell(std::string(TLDB_CLI_PATH) + " " + args);
  }
  std::string Logs() { return testing::LogTails(dir_.path(), "server", kServers, 2000); }
  // Waits (60 s at most) until the client's map names a live primary for every partition.
  std::shared_ptr<const proto::SlotMap> Primaries() {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      if (client_->RefreshMap().ok()) {
        auto map = client_->slot_map();
        bool all = !map->partitions().empty();
        for (const auto& p : map->partitions()) {
          all &= p.primary != proto::kNoServer && servers_[p.primary]->Alive();
        }
        if (all) return map;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return nullptr;
  }
  // `count` timelines of partition `p`.
  static std::vector<std::string> TimelinesOf(const proto::SlotMap& map, uint32_t p, int count,
                                              const std::string& prefix) {
    std::vector<std::string> out;
    for (int i = 0; static_cast<int>(out.size()) < count; ++i) {
      std::string t = prefix + std::to_string(i);
      if (map.Owner(proto::SlotOf(t)).id == p) out.push_back(t);
    }
    return out;
  }
  // Each member's SeqId of `payload`, or 0 where it is missing or there more than once.
  std::map<std::string, Seq> Held(const std::vector<std::string>& members,
                                  const std::string& payload) {
    std::map<std::string, Seq> out;
    for (const std::string& t : members) {
      auto msgs = client_->Scan("store", t, ScanOptions{});
      EXPECT_TRUE(msgs.ok()) << t << ": " << msgs.status().ToString();
      int n = 0;
      Seq at = 0;
      for (const Message& m : msgs.ok() ? *msgs : std::vector<Message>{}) {
        if (m.payload == payload) ++n, at = m.seq;
      }
      out[t] = n == 1 ? at : 0;
    }
    return out;
  }

  static inline std::string netns_error_;
  common::TempDir dir_{"tldb-intent"};
  cluster::testing::EtcdCluster etcd_{1};
  std::unique_ptr<common::ServerProcess> servers_[kServers];
  std::vector<std::string> addresses_;
  std::unique_ptr<ClusterClient> client_;
  std::vector<pid_t> stopped_;
};

TEST_F(IntentProcessTest, DeliversToEveryPartitionOnceAndAnswersARetry) {
  auto map = Primaries();
  ASSERT_TRUE(map) << Logs();
  std::vector<std::string> members;
  for (uint32_t p : {3u, 1u, 0u, 2u}) {
    for (std::string& t : TimelinesOf(*map, p, 2, "fan:")) members.push_back(std::move(t));
  }
  const auto order = Views(members);
  AppendOptions ao;
  ao.client_msg_id = "whole-1";
  auto r = client_->AppendFanout("store", order, "hello", ao);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << "\n" << Logs();
  const uint32_t home = map->Owner(proto::FanoutHomeSlot(order)).id;
  for (size_t i = 0; i < members.size(); ++i) {
    EXPECT_EQ((*r)[i].seq != 0, map->Owner(proto::SlotOf(members[i])).id == home) << members[i];
  }
  auto done = client_->WaitFanout("store", order, "whole-1", 60'000);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  ASSERT_TRUE(*done) << Logs();
  const auto held = Held(members, "hello");
  for (size_t i = 0; i < members.size(); ++i) {
    EXPECT_NE(held.at(members[i]), 0u) << members[i];
    if ((*r)[i].seq != 0) {
      EXPECT_EQ(held.at(members[i]), (*r)[i].seq);
    }
  }
  // A retry in another order: the home's original results, nothing written again.
  std::vector<std::string_view> reversed(order.rbegin(), order.rend());
  auto again = client_->AppendFanout("store", reversed, "hello", ao);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  for (size_t i = 0; i < reversed.size(); ++i) {
    EXPECT_EQ((*again)[i].seq, (*r)[members.size() - 1 - i].seq);
  }
  ASSERT_TRUE(*client_->WaitFanout("store", order, "whole-1", 60'000));
  EXPECT_EQ(Held(members, "hello"), held);
}

TEST_F(IntentProcessTest, TheHomesNextPrimaryResumesAfterItsPrimaryIsKilled) {
  auto map = Primaries();
  ASSERT_TRUE(map) << Logs();
  // A home partition H, and a member partition R whose primary is on a server that is not a
  // replica of H: stopping R's primary and killing H's leaves H two replicas, and every
  // partition a majority once R's primary runs again.
  const auto replicas = [&](uint32_t p) { return map->Partition(p)->replicas; };
  const auto has = [](const std::vector<uint32_t>& v, uint32_t s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  uint32_t h = 0, rp = 0;
  bool found = false;
  for (uint32_t a = 0; a < 4 && !found; ++a) {
    for (uint32_t b = 0; b < 4 && !found; ++b) {
      const uint32_t ha = map->Partition(a)->primary, rb = map->Partition(b)->primary;
      if (a == b || ha == rb || has(replicas(a), rb)) continue;
      h = a, rp = b, found = true;
    }
  }
  ASSERT_TRUE(found) << "no such pair of partitions in this map";
  const uint32_t home_server = map->Partition(h)->primary;
  const uint32_t member_server = map->Partition(rp)->primary;
  // Members: H's (the smallest key, so H is the home), R's, and one more partition's.
  std::vector<std::string> members = TimelinesOf(*map, h, 1, "a:");
  for (uint32_t p = 0; p < 4; ++p) {
    if (p == h) continue;
    for (std::string& t : TimelinesOf(*map, p, 1, "b:")) members.push_back(std::move(t));
  }
  const auto order = Views(members);
  ASSERT_EQ(map->Owner(proto::FanoutHomeSlot(order)).id, h);

  ASSERT_EQ(::kill(servers_[member_server]->pid(), SIGSTOP), 0);
  stopped_.push_back(servers_[member_server]->pid());
  AppendOptions ao;
  ao.client_msg_id = "resume-1";
  auto r = client_->AppendFanout("store", order, "resumed", ao);
  ASSERT_TRUE(r.ok()) << r.status().ToString() << "\n" << Logs();
  ASSERT_NE((*r)[0].seq, 0u);  // H's member, written before the answer
  // The home's primary dies with R's part undelivered (R's primary is stopped).
  ASSERT_TRUE(servers_[home_server]->Kill().ok());
  ASSERT_EQ(::kill(servers_[member_server]->pid(), SIGCONT), 0);
  stopped_.clear();

  auto done = client_->WaitFanout("store", order, "resume-1", 90'000);
  ASSERT_TRUE(done.ok()) << done.status().ToString() << "\n" << Logs();
  ASSERT_TRUE(*done) << Logs();
  const auto held = Held(members, "resumed");
  for (const std::string& t : members) EXPECT_NE(held.at(t), 0u) << t << "\n" << Logs();
  EXPECT_EQ(held.at(members[0]), (*r)[0].seq);
}

}  // namespace
}  // namespace tldb
