// A replicated partition of real processes (docs/replication.md "Testing"): one etcd and three
// tldb-servers in cluster mode on loopback. A client appends with client_msg_ids through the
// ClusterClient while the primary is killed with SIGKILL three times (and restarted) and
// stopped with SIGSTOP once for longer than its lease (a zombie primary that wakes up). Then
// every acknowledged message is at its acknowledged SeqId once, no SeqId holds two messages,
// and no client_msg_id is stored twice.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cluster/cluster_node.h"
#include "cluster/testing/etcd_cluster.h"
#include "common/server_process.h"
#include "common/temp_dir.h"
#include "tldb/cluster_client.h"

namespace tldb {
namespace {

using Clock = std::chrono::steady_clock;

struct Acked {
  std::string ns, timeline, payload;
  Seq seq = 0;
};

class ClusterProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.Start().ok());
    for (int n = 0; n < 3; ++n) {
      client_ports_[n] = common::FreeLoopbackPort();
      peer_ports_[n] = common::FreeLoopbackPort();
    }
    for (int n = 0; n < 3; ++n) {
      common::ServerProcessOptions o;
      o.binary = TLDB_SERVER_PATH;
      o.data_dir = dir_.path() + "/node" + std::to_string(n);
      o.port = client_ports_[n];
      o.log_path = dir_.path() + "/node" + std::to_string(n) + ".log";
      o.die_with_parent = true;
      metrics_ports_[n] = common::FreeLoopbackPort();
      o.extra_args = {"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_ports_[n]),
                      "--cluster",        "etcd=" + etcd_.endpoint(0),
                      "--node-id",        std::to_string(n),
                      "--peer-listen",    "127.0.0.1:" + std::to_string(peer_ports_[n]),
                      "--advertise",      "127.0.0.1:" + std::to_string(client_ports_[n]),
                      "--io-backend",     "posix"};
      servers_[n] = std::make_unique<common::ServerProcess>(o);
      ASSERT_TRUE(servers_[n]->Start().ok());
    }
  }
  ClusterClientOptions ClientOpts() {
    ClusterClientOptions o;
    for (int n = 0; n < 3; ++n) o.servers.push_back(servers_[n]->address());
    o.client.request_timeout_ms = 3000;
    o.retry_ms_max = 20'000;
    return o;
  }
  int NodeAt(const std::string& address) {
    for (int n = 0; n < 3; ++n) {
      if (servers_[n]->address() == address) return n;
    }
    return -1;
  }
  std::string Logs() {
    std::string out;
    for (int n = 0; n < 3; ++n) {
      auto f = std::ifstream(dir_.path() + "/node" + std::to_string(n) + ".log");
      std::string text((std::istreambuf_iterator<char>(f)), {});
      out += "---- node " + std::to_string(n) + "\n" +
             text.substr(text.size() > 3000 ? text.size() - 3000 : 0);
    }
    return out;
  }

  common::TempDir dir_{"tldb-cluster"};
  cluster::testing::EtcdCluster etcd_{1};
  uint16_t client_ports_[3] = {}, peer_ports_[3] = {}, metrics_ports_[3] = {};
  std::unique_ptr<common::ServerProcess> servers_[3];
};

TEST_F(ClusterProcessTest, KilledAndStoppedPrimariesLoseNoAcknowledgedAppend) {
  auto client = ClusterClient::Connect(ClientOpts());
  ASSERT_TRUE(client.ok());
  std::mutex mu;
  std::map<std::string, Acked> acked;  // by client_msg_id
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> attempts{0}, failed{0};
  std::thread writer([&] {
    for (uint64_t i = 0; !stop; ++i) {
      const std::string ns = i % 3 == 0 ? "sync" : "store";
      const std::string timeline = "conv:" + std::to_string(i % 7);
      const std::string cmid = "w-" + std::to_string(i);
      const std::string payload = "message " + std::to_string(i);
      AppendOptions ao;
      ao.client_msg_id = cmid;
      attempts++;
      auto r = (*client)->Append(ns, timeline, payload, ao);
      if (!r.ok()) {
        failed++;
        continue;  // its outcome is unknown: it may be stored (once), or not
      }
      std::lock_guard l(mu);
      acked[cmid] = {ns, timeline, payload, r->seq};
    }
  });
  auto acked_count = [&] {
    std::lock_guard l(mu);
    return acked.size();
  };
  // Waits for `more` acknowledgements beyond now; returns the time it took.
  auto progress = [&](size_t more) {
    const auto start = Clock::now();
    const size_t target = acked_count() + more;
    while (acked_count() < target && Clock::now() - start < std::chrono::seconds(30)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_GE(acked_count(), target) << Logs();
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  };
  progress(50);
  std::vector<int64_t> failover_ms;
  for (int kill = 0; kill < 3; ++kill) {
    const int p = NodeAt((*client)->current());
    ASSERT_GE(p, 0);
    ASSERT_TRUE(servers_[p]->Kill().ok());
    failover_ms.push_back(progress(20));
    ASSERT_TRUE(servers_[p]->Start().ok());  // rejoins as a follower
    progress(50);
  }
  // A zombie: stopped past its lease, then woken while another replica leads.
  const int z = NodeAt((*client)->current());
  ASSERT_GE(z, 0);
  ASSERT_EQ(::kill(servers_[z]->pid(), SIGSTOP), 0);
  failover_ms.push_back(progress(20));
  ASSERT_EQ(::kill(servers_[z]->pid(), SIGCONT), 0);
  progress(100);
  stop = true;
  writer.join();

  // Every acknowledged append is where it was acknowledged, once.
  auto check = ClusterClient::Connect(ClientOpts());
  ASSERT_TRUE(check.ok());
  std::set<std::pair<std::string, std::string>> timelines;
  for (const auto& [cmid, a] : acked) {
    auto m = (*check)->Get(a.ns, a.timeline, a.seq);
    ASSERT_TRUE(m.ok()) << cmid << " at " << a.ns << "/" << a.timeline << " seq " << a.seq << ": "
                        << m.status().ToString() << "\n"
                        << Logs();
    EXPECT_EQ(m->client_msg_id, cmid);
    EXPECT_EQ(m->payload, a.payload);
    timelines.insert({a.ns, a.timeline});
  }
  for (const auto& [ns, timeline] : timelines) {
    ScanOptions so;
    so.limit = 100'000;
    auto all = (*check)->Scan(ns, timeline, so);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    std::set<std::string> ids;
    Seq prev = 0;
    for (const Message& m : *all) {
      EXPECT_TRUE(ids.insert(m.client_msg_id).second) << m.client_msg_id << " stored twice";
      EXPECT_EQ(m.seq, prev + 1) << ns << "/" << timeline;
      prev = m.seq;
    }
  }
  std::printf(
      "%zu appends acknowledged of %llu attempts (%llu failed), %llu redirects; "
      "appends resumed after a failover in",
      acked.size(), static_cast<unsigned long long>(attempts.load()),
      static_cast<unsigned long long>(failed.load()),
      static_cast<unsigned long long>((*client)->redirects()));
  for (int64_t ms : failover_ms) std::printf(" %lld ms", static_cast<long long>(ms));
  std::printf("\n");
  for (int64_t ms : failover_ms) EXPECT_LT(ms, 15'000) << "failover far beyond the 5 s target";

  // STATS: one serving primary, which sees both followers joined; the others follow it.
  int serving = 0;
  for (int n = 0; n < 3; ++n) {
    ClientOptions o;
    o.server = servers_[n]->address();
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok());
    auto st = (*c)->Stats();
    ASSERT_TRUE(st.ok());
    std::map<std::string, uint64_t> s(st->counters.begin(), st->counters.end());
    EXPECT_EQ(s["cluster_node"], static_cast<uint64_t>(n));
    EXPECT_EQ(s["cluster_etcd_ok"], 1u);
    EXPECT_GE(s["cluster_log_store_segment"], 1u);
    EXPECT_GT(s["cluster_log_store_offset"], 64u) << "the store namespace took appends";
    if (s["cluster_serving"] == 1) {
      serving++;
      EXPECT_EQ(s["cluster_role"], 2u);
      for (int f = 0; f < 3; ++f) {
        if (f == n) continue;
        EXPECT_EQ(s["cluster_follower" + std::to_string(f) + "_joined"], 1u);
      }
    } else {
      EXPECT_EQ(s["cluster_role"], 0u);
    }
  }
  EXPECT_EQ(serving, 1);

  // The same figures reach Prometheus (docs/operations.md): the primary's role and its
  // followers' lag, labelled.
  const int p = NodeAt((*check)->current());
  ASSERT_GE(p, 0);
  const std::string cmd =
      "curl -fsS http://127.0.0.1:" + std::to_string(metrics_ports_[p]) + "/metrics";
  std::string body;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) body.append(buf, n);
    ::pclose(f);
  }
  EXPECT_NE(body.find("tldb_cluster_role 2"), std::string::npos) << body.substr(0, 2000);
  // Every cluster metric docs/operations.md names is served.
  std::ifstream doc(std::string(TLDB_SOURCE_DIR) + "/docs/operations.md");
  const std::string text((std::istreambuf_iterator<char>(doc)), {});
  int named = 0;
  for (size_t i = text.find("tldb_cluster_"); i != std::string::npos;
       i = text.find("tldb_cluster_", i + 1)) {
    size_t end = i;
    while (end < text.size() &&
           (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) {
      ++end;
    }
    const std::string name = text.substr(i, end - i);
    named++;
    EXPECT_NE(body.find("\n" + name), std::string::npos) << "operations.md names " << name;
  }
  EXPECT_GT(named, 10);
  EXPECT_NE(body.find("tldb_cluster_follower_lag_ms{follower="), std::string::npos);
  EXPECT_NE(body.find("tldb_cluster_log_offset{namespace=\"store\"}"), std::string::npos);
}

TEST(ClusterSpecTest, ParsesEtcdUrls) {
  auto one = cluster::ClusterNode::ParseClusterSpec("etcd=http://127.0.0.1:2379");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, std::vector<std::string>{"http://127.0.0.1:2379"});
  auto two = cluster::ClusterNode::ParseClusterSpec("etcd=http://a:1,http://b:2,");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2u);
  EXPECT_EQ(cluster::ClusterNode::ParseClusterSpec("zk=x").status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(cluster::ClusterNode::ParseClusterSpec("etcd=").status().code(),
            Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace tldb
