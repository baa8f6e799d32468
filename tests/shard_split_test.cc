// Splitting a partition (docs/cluster.md "Splitting a partition"), with real processes: one
// etcd and four tldb-servers (server ids 0..3) on loopback addresses inside a private network
// namespace; a slot map of two partitions of three replicas over servers 0, 1, 2 (server 3
// holds nothing, so it answers MOVED for every slot). While a ClusterClient appends with
// client_msg_ids to timelines of both halves of partition 0 (and of partition 1),
// `tldb cluster split 0` gives the upper half of partition 0's slots to partition 2.
// Afterwards: the command reported its steps in order; every server's map has version 2 with
// partition 2 owning the moved slots on partition 0's servers; server 3 answers MOVED naming
// partition 2 for a moved timeline and partition 0 for a kept one; every replica of partition 2
// runs on its clone (no clone directory left) and votes; every acknowledged message is read
// back once at its SeqId through the client; an acknowledged client_msg_id appended again to a
// moved timeline answers its original SeqId; and with partition 2's primary's server killed,
// partition 2 fails over to another of its replicas and still serves every message. A second
// test pauses (SIGSTOP) one replica's server so that it never clones: the command times out and
// abandons the split, the map stays at version 1, the other servers remove their clones, and
// partition 0 takes writes again.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
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

using testing::EnterPrivateNetworkNamespace;

using Clock = std::chrono::steady_clock;
constexpr int kServers = 4;

std::pair<int, std::string> Cli(const std::string& args) {
  return testing::Shell(std::string(TLDB_CLI_PATH) + " " + args);
}

struct Ack {
  std::string timeline, id, payload;
  Seq seq = 0;
};

class ShardSplitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { netns_error_ = EnterPrivateNetworkNamespace(); }
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
          testing::ShardServerOptions(TLDB_SERVER_PATH, dir_.path(), n, etcd_.endpoint(0));
      servers_[n] = std::make_unique<common::ServerProcess>(o);
      ASSERT_TRUE(servers_[n]->Start().ok()) << Logs();
      addresses_.push_back(servers_[n]->address());
    }
  }
  std::string DataDir(int n) const { return dir_.path() + "/server" + std::to_string(n); }
  std::string Logs() { return testing::LogTails(dir_.path(), "server", kServers, 3000); }
  std::map<std::string, uint64_t> Stats(int n) { return testing::StatsOf(addresses_[n]); }
  Result<proto::SlotMap> MapOf(int n) { return testing::MapOf(addresses_[n]); }
  // Waits (60 s at most) until server `n`'s CLUSTER_MAP has `version` and names a primary for
  // every partition, none of them on server `not_on`.
  std::optional<proto::SlotMap> Settled(uint64_t version, int n = 3,
                                        uint32_t not_on = proto::kNoServer) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      auto m = MapOf(n);
      bool ok = m.ok() && m->version() == version;
      for (const auto& p : ok ? m->partitions() : std::vector<proto::PartitionEntry>{}) {
        ok &= p.primary != proto::kNoServer && p.primary != not_on;
      }
      if (ok) return std::move(m).value();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::nullopt;
  }
  std::unique_ptr<ClusterClient> NewClient() {
    ClusterClientOptions o;
    o.servers = addresses_;
    o.client.request_timeout_ms = 5'000;
    o.retry_ms_max = 60'000;  // the freeze, the child's election and a failover fit within
    o.retry_pause_ms = 20;
    auto c = ClusterClient::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  // Every acknowledged append is read back once, at its SeqId, through a ClusterClient; no
  // timeline holds a client_msg_id twice.
  void ExpectEveryAckOnce(const std::vector<std::string>& timelines, const std::vector<Ack>& acks) {
    auto reader = NewClient();
    ASSERT_TRUE(reader);
    testing::ExpectEveryAckOnce(*reader, "store", timelines, acks, Logs());
  }

  static inline std::string netns_error_;
  common::TempDir dir_{"tldb-shard-split"};
  cluster::testing::EtcdCluster etcd_{1};
  std::unique_ptr<common::ServerProcess> servers_[kServers];
  std::vector<std::string> addresses_;
};

TEST_F(ShardSplitTest, APartitionSplitsWhileAppendsGoOnAndTheChildServesAndFailsOver) {
  auto before = Settled(1);
  ASSERT_TRUE(before) << "no primary for every partition\n" << Logs();
  ASSERT_EQ(before->Partition(0)->ranges.size(), 1u);
  const uint16_t first = before->Partition(0)->ranges[0].first;
  const uint16_t last = before->Partition(0)->ranges[0].last;
  const uint16_t at = static_cast<uint16_t>(first + (last - first + 1) / 2);  // the default

  // Timelines of both halves of partition 0 and of partition 1.
  std::vector<std::string> timelines, kept, moved;
  for (int i = 0; kept.size() < 6 || moved.size() < 6 || timelines.size() < 18; ++i) {
    std::string t = "conv:" + std::to_string(i);
    const uint16_t slot = proto::SlotOf(t);
    if (slot >= first && slot < at) {
      if (kept.size() >= 6) continue;
      kept.push_back(t);
    } else if (slot >= at && slot <= last) {
      if (moved.size() >= 6) continue;
      moved.push_back(t);
    } else if (timelines.size() - kept.size() - moved.size() >= 6) {
      continue;
    }
    timelines.push_back(std::move(t));
  }

  std::mutex mu;
  std::vector<Ack> acks;
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::string last_error;
  std::thread writer([&] {
    auto c = NewClient();
    if (!c) return;
    for (int i = 0; !stop; ++i) {
      const std::string& t = timelines[i % timelines.size()];
      const std::string id = "m" + std::to_string(i);
      const std::string payload = "payload " + std::to_string(i);
      AppendOptions o;
      o.client_msg_id = id;
      auto r = c->Append("store", t, payload, o);
      std::lock_guard l(mu);
      if (!r.ok()) {
        failed++;
        last_error = r.status().ToString();
        continue;
      }
      acks.push_back(Ack{t, id, payload, r->seq});
    }
  });
  struct JoinAtExit {  // a failed ASSERT returns early: the writer stops first
    std::atomic<bool>& stop;
    std::thread& t;
    ~JoinAtExit() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } join_at_exit{stop, writer};
  auto acked = [&] {
    std::lock_guard l(mu);
    return acks.size();
  };
  const auto wait_acks = [&](size_t n) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (acked() < n && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  wait_acks(300);
  if (acked() < 300u) {
    stop = true;
    writer.join();
    FAIL() << "appends did not go through: " << last_error << "\n" << Logs();
  }

  auto split = Cli("cluster split 0 --etcd " + etcd_.endpoint(0));
  std::printf("%s", split.second.c_str());
  ASSERT_EQ(split.first, 0) << split.second << Logs();
  const std::vector<std::string> steps = {"check: partition 0",
                                          "splits at slot " + std::to_string(at),
                                          "freeze:",
                                          "frozen:",
                                          "cloned: server",
                                          "map version 2: partition 2 owns",
                                          "unfrozen:",
                                          "partition 2's primary"};
  size_t pos = 0;
  for (const std::string& s : steps) {
    const size_t found = split.second.find(s, pos);
    EXPECT_NE(found, std::string::npos) << "step '" << s << "' missing or out of order\n"
                                        << split.second;
    if (found != std::string::npos) pos = found;
  }

  const size_t at_split = acked();
  wait_acks(at_split + 300);  // appends go on, on both sides
  stop = true;
  writer.join();
  ASSERT_GE(acked(), at_split + 300) << Logs();
  EXPECT_EQ(failed.load(), 0) << last_error;

  // Every server's map: version 2, partition 2 on partition 0's servers with the moved slots.
  auto after = Settled(2);
  ASSERT_TRUE(after) << Logs();
  ASSERT_NE(after->Partition(2), nullptr);
  EXPECT_EQ(after->Partition(2)->replicas, before->Partition(0)->replicas);
  EXPECT_EQ(after->Owner(at).id, 2u);
  EXPECT_EQ(after->Owner(last).id, 2u);
  EXPECT_EQ(after->Owner(static_cast<uint16_t>(at - 1)).id, 0u);
  for (int n = 0; n < kServers; ++n) {
    auto m = MapOf(n);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->version(), 2u) << "server " << n;
  }
  // A server without the partitions redirects by the new map.
  {
    ClientOptions o;
    o.server = addresses_[3];
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok());
    auto r = (*c)->Append("store", moved[0], "x");
    ASSERT_EQ(r.status().code(), Status::Code::kMoved) << r.status().ToString();
    EXPECT_NE(r.status().message().find("version=2 partition=2"), std::string::npos)
        << r.status().ToString();
    r = (*c)->Append("store", kept[0], "x");
    ASSERT_EQ(r.status().code(), Status::Code::kMoved) << r.status().ToString();
    EXPECT_NE(r.status().message().find("version=2 partition=0"), std::string::npos)
        << r.status().ToString();
  }
  // Every replica of partition 2 runs on its clone and votes.
  for (int n = 0; n < 3; ++n) {
    EXPECT_TRUE(std::filesystem::exists(DataDir(n) + "/partition-2/REPLICA")) << "server " << n;
    for (const auto& e : std::filesystem::directory_iterator(DataDir(n))) {
      EXPECT_EQ(e.path().filename().string().find(".split-"), std::string::npos)
          << e.path() << " left behind";
    }
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    std::map<std::string, uint64_t> s;
    while (Clock::now() < deadline) {
      s = Stats(n);
      if (s.count("cluster_p2_membership") && s["cluster_p2_membership"] == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(s.count("cluster_p2_membership")) << "server " << n << "\n" << Logs();
    EXPECT_EQ(s["cluster_p2_membership"], 0u) << "server " << n << " (0: a voter)";
  }
  ExpectEveryAckOnce(timelines, acks);
  // An acknowledged append made before the split, to a moved timeline, sent again: its SeqId.
  {
    const Ack* old = nullptr;
    for (const Ack& a : acks) {
      if (std::find(moved.begin(), moved.end(), a.timeline) != moved.end()) {
        old = &a;
        break;
      }
    }
    ASSERT_NE(old, nullptr);
    auto c = NewClient();
    ASSERT_TRUE(c);
    AppendOptions o;
    o.client_msg_id = old->id;
    auto r = c->Append("store", old->timeline, old->payload, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->seq, old->seq) << old->timeline << " " << old->id;
  }
  // Each side's compaction drops the other side's timelines (PartitionOwns, given to every
  // replica's store): a full compaction leaves partition 0's replicas without the six moved
  // timelines and partition 2's without the six kept ones (all were appended to before the
  // split, so both stores held all twelve). Checked on the followers. A primary does not
  // rewrite the segment its followers still read from (RetainLogFrom), here the one segment
  // holding everything, and only a primary seals its active segment (a follower's segments
  // end where its primary's do): so each server is compacted once (its primaries seal), and
  // then each follower again until its timelines drop, as it receives the seal (bounded).
  std::map<int, std::pair<uint64_t, uint64_t>> before_compaction;  // server -> p0, p2 timelines
  auto compact = [&](int n) {
    ClientOptions o;
    o.server = addresses_[n];
    auto c = Client::Connect(o);
    if (!c.ok()) return c.status();
    return (*c)->Compact("store", /*full=*/true, nullptr).status();
  };
  for (int n = 0; n < 3; ++n) {
    auto s = Stats(n);
    ASSERT_TRUE(s.count("cluster_p0_timelines") && s.count("cluster_p2_timelines")) << n;
    before_compaction[n] = {s["cluster_p0_timelines"], s["cluster_p2_timelines"]};
  }
  for (int n = 0; n < 3; ++n) ASSERT_TRUE(compact(n).ok()) << "server " << n;
  int checked = 0;
  for (int n = 0; n < 3; ++n) {
    const auto [p0, p2] = before_compaction[n];
    auto s = Stats(n);
    const bool p0_follows = s["cluster_p0_role"] == 0, p2_follows = s["cluster_p2_role"] == 0;
    const auto dropped = [&] {
      return (!p0_follows || s["cluster_p0_timelines"] == p0 - moved.size()) &&
             (!p2_follows || s["cluster_p2_timelines"] == p2 - kept.size());
    };
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!dropped() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      ASSERT_TRUE(compact(n).ok()) << "server " << n;
      s = Stats(n);
    }
    if (p0_follows) {
      EXPECT_EQ(s["cluster_p0_timelines"], p0 - moved.size()) << "server " << n;
      ++checked;
    }
    if (p2_follows) {
      EXPECT_EQ(s["cluster_p2_timelines"], p2 - kept.size()) << "server " << n;
      ++checked;
    }
  }
  EXPECT_GE(checked, 4) << "two followers of each partition";
  ExpectEveryAckOnce(timelines, acks);
  // Partition 2's primary dies: another of its replicas (voters, on their clones) takes over.
  const uint32_t q_primary = after->Partition(2)->primary;
  ASSERT_LT(q_primary, 3u);
  ASSERT_TRUE(servers_[q_primary]->Kill().ok());
  auto failed_over = Settled(2, 3, q_primary);
  ASSERT_TRUE(failed_over) << "no new primary for every partition after server " << q_primary
                           << " died\n"
                           << Logs();
  EXPECT_NE(failed_over->Partition(2)->primary, q_primary);
  ExpectEveryAckOnce(timelines, acks);
  std::printf(
      "%zu acknowledged appends checked; partition 2 took slots %u..%u, its primary moved from "
      "server %u to %u\n",
      acks.size(), at, last, q_primary, failed_over->Partition(2)->primary);
}

TEST_F(ShardSplitTest, ASplitThatCannotFinishIsAbandonedAndThePartitionTakesWritesAgain) {
  auto before = Settled(1);
  ASSERT_TRUE(before) << "no primary for every partition\n" << Logs();
  // A replica of partition 0 that does not lead it stops answering (its server is paused) and
  // never clones.
  uint32_t paused = 0;
  while (paused == before->Partition(0)->primary) ++paused;
  // Every replica of partition 0 votes first (a replica still undecided refuses to clone, an
  // error of another kind than the one this test is about).
  for (int n = 0; n < 3; ++n) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    auto s = Stats(n);
    while (!(s.count("cluster_p0_membership") && s["cluster_p0_membership"] == 0) &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      s = Stats(n);
    }
    ASSERT_TRUE(s.count("cluster_p0_membership")) << "server " << n << "\n" << Logs();
    ASSERT_EQ(s["cluster_p0_membership"], 0u) << "server " << n << " (0: a voter)\n" << Logs();
  }
  ASSERT_EQ(::kill(servers_[paused]->pid(), SIGSTOP), 0);
  auto split = Cli("cluster split 0 --timeout-s 3 --etcd " + etcd_.endpoint(0));
  ASSERT_EQ(::kill(servers_[paused]->pid(), SIGCONT), 0);
  std::printf("%s", split.second.c_str());
  EXPECT_NE(split.first, 0) << split.second;
  EXPECT_NE(split.second.find("frozen:"), std::string::npos) << split.second;
  EXPECT_NE(split.second.find("to clone"), std::string::npos) << split.second;
  EXPECT_NE(split.second.find("the split was abandoned"), std::string::npos) << split.second;
  EXPECT_EQ(split.second.find("map version 2:"), std::string::npos) << split.second;
  auto m = MapOf(3);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->version(), 1u);
  EXPECT_EQ(m->Partition(2), nullptr);
  // The servers that cloned remove their clones once they read the split gone.
  for (int n = 0; n < 3; ++n) {
    if (n == static_cast<int>(paused)) continue;
    bool left = true;
    for (const auto deadline = Clock::now() + std::chrono::seconds(15);
         left && Clock::now() < deadline;) {
      left = false;
      for (const auto& e : std::filesystem::directory_iterator(DataDir(n))) {
        left |= e.path().filename().string().find(".split-") != std::string::npos;
      }
      if (left) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_FALSE(left) << "server " << n << " kept its clone\n" << Logs();
  }
  // Partition 0 is no longer frozen: appends to both halves succeed (a client that gives up
  // after 10 s, well within what a freeze that never ended would take).
  ClusterClientOptions o;
  o.servers = addresses_;
  o.retry_ms_max = 10'000;
  o.retry_pause_ms = 20;
  auto c = ClusterClient::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const uint16_t first = before->Partition(0)->ranges[0].first;
  const uint16_t last = before->Partition(0)->ranges[0].last;
  int appended = 0;
  for (int i = 0; appended < 4; ++i) {
    const std::string t = "after:" + std::to_string(i);
    const uint16_t slot = proto::SlotOf(t);
    if (slot < first || slot > last) continue;
    auto r = (*c)->Append("store", t, "x");
    ASSERT_TRUE(r.ok()) << t << ": " << r.status().ToString() << "\n" << Logs();
    ++appended;
  }
}

}  // namespace
}  // namespace tldb
