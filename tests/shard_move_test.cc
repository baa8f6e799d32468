// Moving a replica of a partition to another server (docs/cluster.md "Moving a replica"), with
// real processes: one etcd and four tldb-servers (server ids 0..3) on loopback addresses inside
// a private network namespace; a slot map of two partitions of three replicas over servers
// 0, 1, 2 (server 3 holds nothing). While a ClusterClient appends with client_msg_ids to
// timelines of both partitions, `tldb cluster move 0 --from S --to 3` moves the replica of
// partition 0 that is its primary (so the move hands the primary over first). Afterwards:
// the command reported its steps and ended with the new replica voting; the map version grew
// and lists server 3 instead of S; S answers MOVED for partition 0 and its data directory was
// renamed aside; server 3's replica reports partition 0's log end equal to the primary's, and,
// made primary itself (`tldb cluster promote`), serves every acknowledged message once at its
// SeqId. A second test moves the replica of a server that is dead (killed) at the time; back,
// that server sets its old directory aside, answers MOVED for the partition and still serves
// its replica of the other one.
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
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
constexpr int kTimelines = 40;

// `tldb ARGS`: exit code and output (stdout and stderr).
std::pair<int, std::string> Cli(const std::string& args) {
  return testing::Shell(std::string(TLDB_CLI_PATH) + " " + args);
}

struct Ack {
  std::string timeline, id;
  Seq seq = 0;
};

class ShardMoveTest : public ::testing::Test {
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
      // The moves and handovers here are made by hand: no controller acts.
      for (const char* a :
           {"--controller-replace-after-ms", "0", "--controller-balance-interval-ms", "0"}) {
        o.extra_args.push_back(a);
      }
      servers_[n] = std::make_unique<common::ServerProcess>(o);
      ASSERT_TRUE(servers_[n]->Start().ok()) << Logs();
      addresses_.push_back(servers_[n]->address());
    }
  }
  // The last of `p`'s replicas on a server not in `not_these`, or kNoServer.
  static uint32_t ReplicaOtherThan(const proto::PartitionEntry& p,
                                   std::initializer_list<uint32_t> not_these) {
    uint32_t out = proto::kNoServer;
    for (uint32_t s : p.replicas) {
      if (std::find(not_these.begin(), not_these.end(), s) == not_these.end()) out = s;
    }
    return out;
  }
  std::string DataDir(int n) const { return dir_.path() + "/server" + std::to_string(n); }
  std::string Logs() { return testing::LogTails(dir_.path(), "server", kServers, 3000); }
  std::map<std::string, uint64_t> Stats(int n) { return testing::StatsOf(addresses_[n]); }
  Result<proto::SlotMap> MapOf(int n) { return testing::MapOf(addresses_[n]); }
  // Waits (60 s at most) until server 0's CLUSTER_MAP has `version` and names a primary for
  // every partition (and, with `on`, partition `partition`'s primary is server `on`).
  std::optional<proto::SlotMap> Settled(uint64_t version, uint32_t partition = 0,
                                        uint32_t on = proto::kNoServer) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      auto m = MapOf(0);
      bool ok = m.ok() && m->version() == version;
      for (const auto& p : ok ? m->partitions() : std::vector<proto::PartitionEntry>{}) {
        ok &= p.primary != proto::kNoServer;
      }
      if (ok && on != proto::kNoServer) ok = m->Partition(partition)->primary == on;
      if (ok) return std::move(m).value();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::nullopt;
  }
  std::unique_ptr<ClusterClient> NewClient() {
    ClusterClientOptions o;
    o.servers = addresses_;
    o.client.request_timeout_ms = 5'000;
    o.retry_ms_max = 60'000;  // a handover and a primary change fit well within this
    o.retry_pause_ms = 20;
    auto c = ClusterClient::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // Server `n`'s replica of `partition` votes and its store log ends where the primary's does
  // (appends have stopped), within 30 s.
  void ExpectVoterWithThePrimarysLog(int n, uint32_t partition) {
    const std::string p = "cluster_p" + std::to_string(partition) + "_";
    const std::string end_key = p + "log_store_offset", seg_key = p + "log_store_segment";
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    std::map<std::string, uint64_t> mine, prim;
    while (Clock::now() < deadline) {
      auto m = MapOf(0);
      mine = Stats(n);
      prim = m.ok() && m->Partition(partition)->primary != proto::kNoServer
                 ? Stats(static_cast<int>(m->Partition(partition)->primary))
                 : std::map<std::string, uint64_t>{};
      if (mine.count(p + "membership") && mine[p + "membership"] == 0 && mine.count(end_key) &&
          prim.count(end_key) && mine[end_key] == prim[end_key] && mine[seg_key] == prim[seg_key] &&
          prim[end_key] > 0) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(mine.count(p + "membership"))
        << "server " << n << " has no replica of partition " << partition << "\n"
        << Logs();
    EXPECT_EQ(mine[p + "membership"], 0u);
    EXPECT_GT(prim[end_key], 0u);
    EXPECT_EQ(mine[seg_key], prim[seg_key]);
    EXPECT_EQ(mine[end_key], prim[end_key]) << Logs();
  }
  // Every acknowledged append is read back once, at its SeqId, through a ClusterClient; no
  // timeline holds a client_msg_id twice.
  void ExpectEveryAckOnce(const std::vector<std::string>& timelines, const std::vector<Ack>& acks) {
    auto reader = NewClient();
    ASSERT_TRUE(reader);
    testing::ExpectEveryAckOnce(*reader, "store", timelines, acks);
  }

  static inline std::string netns_error_;
  common::TempDir dir_{"tldb-shard-move"};
  cluster::testing::EtcdCluster etcd_{1};
  std::unique_ptr<common::ServerProcess> servers_[kServers];
  std::vector<std::string> addresses_;
};

TEST_F(ShardMoveTest, AReplicaMovesWhileAppendsGoOnAndTheNewOneHoldsTheLog) {
  auto before = Settled(1);
  ASSERT_TRUE(before) << "no primary for every partition\n" << Logs();
  const proto::PartitionEntry p0 = *before->Partition(0);
  const uint32_t from = p0.primary;  // the primary's replica moves: a handover comes first
  const uint32_t k = static_cast<uint32_t>(std::find(p0.replicas.begin(), p0.replicas.end(), from) -
                                           p0.replicas.begin());
  ASSERT_LT(k, p0.replicas.size());

  // Timelines of both partitions.
  std::vector<std::string> timelines, in_p0;
  for (int i = 0; static_cast<int>(timelines.size()) < kTimelines; ++i) {
    std::string t = "conv:" + std::to_string(i);
    if (before->Owner(proto::SlotOf(t)).id == 0) in_p0.push_back(t);
    timelines.push_back(std::move(t));
  }
  ASSERT_FALSE(in_p0.empty());

  // Appends with client_msg_ids until told to stop (the client retries through the move).
  std::mutex mu;
  std::vector<Ack> acks;
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0};
  std::thread writer([&] {
    auto c = NewClient();
    if (!c) return;
    for (int i = 0; !stop; ++i) {
      const std::string& t = timelines[i % timelines.size()];
      const std::string id = "m" + std::to_string(i);
      AppendOptions o;
      o.client_msg_id = id;
      auto r = c->Append("store", t, "payload " + std::to_string(i), o);
      if (!r.ok()) {
        failed++;
        continue;
      }
      std::lock_guard l(mu);
      acks.push_back(Ack{t, id, r->seq});
    }
  });
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
  ASSERT_GE(acked(), 300u) << Logs();

  auto move = Cli("cluster move 0 --from " + std::to_string(from) + " --to 3 --wait-s 60 --etcd " +
                  etcd_.endpoint(0));
  ASSERT_EQ(move.first, 0) << move.second << Logs();
  std::printf("%s", move.second.c_str());
  // Added before removed: the spare holds every committed frame before the primary is handed
  // over and before the map gives it S's position.
  const size_t spare_added =
      move.second.find("step 2/6: slot map version 2 written: server 3 runs");
  const size_t caught_up = move.second.find("step 3/6: the spare holds every committed frame");
  const size_t handed = move.second.find("step 4/6: replica " + std::to_string(k) +
                                         " is the primary: handing over first");
  const size_t swapped = move.second.find("step 5/6: slot map version 3 written");
  const size_t started =
      move.second.find("step 6/6: replica " + std::to_string(k) + " runs on server 3");
  for (size_t at : {spare_added, caught_up, handed, swapped, started}) {
    EXPECT_NE(at, std::string::npos) << move.second;
  }
  EXPECT_TRUE(spare_added < caught_up && caught_up < handed && handed < swapped &&
              swapped < started)
      << move.second;
  EXPECT_NE(move.second.find("done: partition 0's replica " + std::to_string(k) +
                             " runs on server 3 and votes"),
            std::string::npos)
      << move.second;
  // Run again, the command finds the move done (the map lists server 3 and not S) and
  // writes nothing; a move to a server that holds a replica of the partition is refused.
  auto again = Cli("cluster move 0 --from " + std::to_string(from) + " --to 3 --wait-s 0 --etcd " +
                   etcd_.endpoint(0));
  EXPECT_EQ(again.first, 0) << again.second;
  EXPECT_NE(again.second.find("already lists server 3"), std::string::npos) << again.second;
  const auto& r1 = before->Partition(1)->replicas;
  auto refused = Cli("cluster move 1 --from " + std::to_string(r1[0]) + " --to " +
                     std::to_string(r1[1]) + " --wait-s 0 --etcd " + etcd_.endpoint(0));
  EXPECT_NE(refused.first, 0) << refused.second;
  EXPECT_NE(refused.second.find("already has a replica on server"), std::string::npos)
      << refused.second;

  const size_t at_move = acked();
  wait_acks(at_move + 300);  // appends go on after the move
  stop = true;
  writer.join();
  ASSERT_GE(acked(), at_move + 300) << Logs();

  // The map: version 3 (the spare, then its position), server 3 in position k of partition 0.
  auto after = Settled(3);
  ASSERT_TRUE(after) << Logs();
  EXPECT_EQ(after->Partition(0)->replicas[k], 3u);
  EXPECT_EQ(after->Partition(1)->replicas, before->Partition(1)->replicas);
  for (int n = 0; n < kServers; ++n) {
    auto m = MapOf(n);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->version(), 3u) << "server " << n;
  }
  // S no longer serves partition 0: MOVED, and its directory is aside.
  {
    ClientOptions o;
    o.server = addresses_[from];
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok());
    auto r = (*c)->Append("store", in_p0[0], "x");
    EXPECT_EQ(r.status().code(), Status::Code::kMoved) << r.status().ToString();
    EXPECT_FALSE(std::filesystem::exists(DataDir(from) + "/partition-0"));
    EXPECT_TRUE(std::filesystem::exists(DataDir(from) + "/partition-0.moved-v3"));
  }
  // Server 3's replica votes and its log reaches the primary's end (appends have stopped).
  ExpectVoterWithThePrimarysLog(3, 0);
  // Made primary, server 3's replica serves every acknowledged message once at its SeqId.
  auto promote =
      Cli("cluster promote " + std::to_string(k) + " --partition 0 --etcd " + etcd_.endpoint(0));
  ASSERT_EQ(promote.first, 0) << promote.second;
  ASSERT_TRUE(Settled(3, 0, 3)) << "server 3 never became partition 0's primary\n" << Logs();
  ExpectEveryAckOnce(timelines, acks);
  std::printf(
      "%zu acknowledged appends checked (%d failed for good), moved replica %u of "
      "partition 0 from server %u to server 3\n",
      acks.size(), failed.load(), k, from);
}

// The moved-from server is dead during the move (its node key goes with its lease); when it
// comes back it does not take its replica of the partition back: its directory is set aside at
// start, it answers MOVED for the partition, and it still serves its other partition's replica.
TEST_F(ShardMoveTest, AReplicaOfADeadServerMovesAndTheServerDoesNotTakeItBack) {
  auto before = Settled(1);
  ASSERT_TRUE(before) << "no primary for every partition\n" << Logs();
  const proto::PartitionEntry p1 = *before->Partition(1);
  const uint32_t from = ReplicaOtherThan(p1, {p1.primary, before->Partition(0)->primary});
  ASSERT_NE(from, proto::kNoServer);
  const uint32_t k = static_cast<uint32_t>(std::find(p1.replicas.begin(), p1.replicas.end(), from) -
                                           p1.replicas.begin());
  std::vector<std::string> timelines, in_p1, in_p0;
  for (int i = 0; static_cast<int>(timelines.size()) < kTimelines; ++i) {
    std::string t = "chat:" + std::to_string(i);
    (before->Owner(proto::SlotOf(t)).id == 1 ? in_p1 : in_p0).push_back(t);
    timelines.push_back(std::move(t));
  }
  ASSERT_FALSE(in_p1.empty());
  ASSERT_FALSE(in_p0.empty());
  std::vector<Ack> acks;
  auto c = NewClient();
  ASSERT_TRUE(c);
  auto append = [&](int i) {
    const std::string id = "d" + std::to_string(i);
    AppendOptions o;
    o.client_msg_id = id;
    const std::string& t = timelines[i % timelines.size()];
    auto r = c->Append("store", t, "payload", o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    acks.push_back(Ack{t, id, r->seq});
  };
  for (int i = 0; i < 200; ++i) append(i);

  ASSERT_TRUE(servers_[from]->Kill().ok());
  for (int i = 200; i < 300; ++i) append(i);  // the partition goes on without it
  auto move = Cli("cluster move 1 --from " + std::to_string(from) + " --to 3 --wait-s 60 --etcd " +
                  etcd_.endpoint(0));
  ASSERT_EQ(move.first, 0) << move.second << Logs();
  std::printf("%s", move.second.c_str());
  EXPECT_NE(move.second.find("is not the primary: no handover"), std::string::npos) << move.second;
  for (int i = 300; i < 400; ++i) append(i);

  ASSERT_TRUE(servers_[from]->Start().ok()) << Logs();
  auto after = Settled(3);
  ASSERT_TRUE(after) << Logs();
  EXPECT_EQ(after->Partition(1)->replicas[k], 3u);
  // Back, the server set the old directory aside and holds partition 0 only.
  EXPECT_FALSE(std::filesystem::exists(DataDir(from) + "/partition-1"));
  EXPECT_TRUE(std::filesystem::exists(DataDir(from) + "/partition-1.moved-v3"));
  EXPECT_TRUE(std::filesystem::exists(DataDir(from) + "/partition-0"));
  auto st = Stats(static_cast<int>(from));
  EXPECT_EQ(st["shard_partitions_local"], 1u);
  EXPECT_EQ(st.count("cluster_p1_membership"), 0u);
  EXPECT_EQ(st.count("cluster_p0_membership"), 1u);
  {
    ClientOptions o;
    o.server = addresses_[from];
    auto raw = Client::Connect(o);
    ASSERT_TRUE(raw.ok());
    auto r = (*raw)->Append("store", in_p1[0], "x");
    EXPECT_EQ(r.status().code(), Status::Code::kMoved) << r.status().ToString();
  }
  for (int i = 400; i < 500; ++i) append(i);
  ExpectVoterWithThePrimarysLog(3, 1);
  ExpectVoterWithThePrimarysLog(static_cast<int>(from), 0);
  ExpectEveryAckOnce(timelines, acks);

  // Both primaries on one server, then `tldb cluster rebalance` spreads them again.
  auto now = Settled(3);
  ASSERT_TRUE(now);
  const uint32_t s0 = now->Partition(0)->primary;
  const auto& r1 = now->Partition(1)->replicas;
  const auto at = std::find(r1.begin(), r1.end(), s0);
  ASSERT_NE(at, r1.end());
  auto promote = Cli("cluster promote " + std::to_string(at - r1.begin()) +
                     " --partition 1 --etcd " + etcd_.endpoint(0));
  ASSERT_EQ(promote.first, 0) << promote.second;
  ASSERT_TRUE(Settled(3, 1, s0)) << Logs();
  auto rebalance = Cli("cluster rebalance --etcd " + etcd_.endpoint(0));
  ASSERT_EQ(rebalance.first, 0) << rebalance.second;
  EXPECT_NE(rebalance.second.find("1 of 2 partitions change primary"), std::string::npos)
      << rebalance.second;
  // The command returned once the leader keys changed; the servers' maps show it within a poll.
  bool spread = false;
  for (const auto deadline = Clock::now() + std::chrono::seconds(30);
       !spread && Clock::now() < deadline;) {
    auto m = MapOf(0);
    spread = m.ok() && m->Partition(0)->primary != proto::kNoServer &&
             m->Partition(1)->primary != proto::kNoServer &&
             m->Partition(0)->primary != m->Partition(1)->primary;
    if (!spread) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(spread) << rebalance.second;
}

// A move cancelled after its spare started: the spare's server stops it and sets its directory
// aside, the partition's replicas are as before, and a move to the same server afterwards starts
// a new spare from nothing and completes.
TEST_F(ShardMoveTest, ACancelledMoveLeavesTheReplicasAsTheyWereAndItsSpareStops) {
  auto before = Settled(1);
  ASSERT_TRUE(before) << "no primary for every partition\n" << Logs();
  const proto::PartitionEntry p0 = *before->Partition(0);
  const uint32_t from = ReplicaOtherThan(p0, {p0.primary});
  ASSERT_NE(from, proto::kNoServer);
  // --timeout-s 0 with --wait-s 0: the spare is added (version 2), the wait for it ends at once.
  auto started = Cli("cluster move 0 --from " + std::to_string(from) +
                     " --to 3 --wait-s 0 --timeout-s 0 --etcd " + etcd_.endpoint(0));
  EXPECT_NE(started.first, 0) << started.second;
  EXPECT_NE(started.second.find("step 2/6: slot map version 2 written"), std::string::npos)
      << started.second;
  // Server 3 runs the spare (replica 3 of partition 0).
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Stats(3).count("cluster_p0_membership") == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Stats(3)["cluster_p0_node"], 3u) << Logs();
  // Another move of the partition is refused while this one runs.
  auto other = Cli("cluster move 0 --from " + std::to_string(p0.primary) +
                   " --to 3 --wait-s 0 --etcd " + etcd_.endpoint(0));
  EXPECT_NE(other.first, 0);
  EXPECT_NE(other.second.find("has a move running"), std::string::npos) << other.second;

  auto cancel = Cli("cluster move 0 --cancel --etcd " + etcd_.endpoint(0));
  ASSERT_EQ(cancel.first, 0) << cancel.second;
  EXPECT_NE(cancel.second.find("slot map version 3 written"), std::string::npos) << cancel.second;
  auto after = Settled(3);
  ASSERT_TRUE(after) << Logs();
  EXPECT_EQ(after->Partition(0)->replicas, p0.replicas);
  EXPECT_EQ(after->Partition(0)->spare, proto::kNoServer);
  while (std::filesystem::exists(DataDir(3) + "/partition-0") && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(std::filesystem::exists(DataDir(3) + "/partition-0"));
  EXPECT_TRUE(std::filesystem::exists(DataDir(3) + "/partition-0.moved-v3"));
  EXPECT_EQ(Stats(3).count("cluster_p0_membership"), 0u);
  EXPECT_TRUE(std::filesystem::exists(DataDir(static_cast<int>(from)) + "/partition-0"))
      << "the replica that was to move stays";

  // The same move again, to its end.
  auto move = Cli("cluster move 0 --from " + std::to_string(from) + " --to 3 --wait-s 60 --etcd " +
                  etcd_.endpoint(0));
  ASSERT_EQ(move.first, 0) << move.second << Logs();
  EXPECT_NE(move.second.find("runs on server 3 and votes"), std::string::npos) << move.second;
  ExpectVoterWithThePrimarysLog(3, 0);
}

}  // namespace
}  // namespace tldb
