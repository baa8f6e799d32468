// A replicated partition of real processes (docs/replication.md "Testing"): one etcd and three
// tldb-servers in cluster mode on loopback addresses inside a private network namespace (the
// test process unshares its own at start, so nothing else on the machine shares its ports).
// The ledger workload of tools/faults (ClusterWorkload: appends with client_msg_ids, fan-outs,
// recalls, a reader and a subscriber) runs through ClusterClient while the primary is killed
// with SIGKILL three times (and restarted) and stopped with SIGSTOP once for longer than its
// lease (a zombie primary that wakes up), and while etcd is stopped (appends go on). Then the
// shared checker (Ledger::Check): every acknowledged message is at its acknowledged SeqId once, no
// SeqId holds two messages, and nothing the reader or the subscriber saw vanished or changed (but
// for the workload's own recalls). And the replicated catalog end to end.
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cluster/cluster_node.h"
#include "cluster/testing/etcd_cluster.h"
#include "cluster_workload.h"
#include "common/server_process.h"
#include "common/temp_dir.h"
#include "tldb/cluster_client.h"
#include "util/private_netns.h"
#include "util/shell.h"
#include "util/test_pki.h"

namespace tldb {
namespace {

using testing::EnterPrivateNetworkNamespace;

using Clock = std::chrono::steady_clock;

// Moves this thread (the test's main thread, which starts every process and thread of the
// test) into a new network namespace and brings its loopback up. "" on success, else why not.
// The network namespace of the process or task at `proc` (its ns/net), 0 if unreadable.
ino_t NetNamespace(const std::string& proc) {
  struct stat st {};
  return ::stat((proc + "/ns/net").c_str(), &st) == 0 ? st.st_ino : 0;
}

class ClusterProcessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string self = "/proc/self/task/" + std::to_string(::gettid());
    const ino_t before = NetNamespace(self);
    netns_error_ = EnterPrivateNetworkNamespace();
    if (netns_error_.empty() && NetNamespace(self) == before) {
      netns_error_ = "unshare(CLONE_NEWNET) succeeded but the namespace did not change";
    }
  }
  void SetUp() override {
    if (!netns_error_.empty()) {
      std::printf("SKIPPED: no private network namespace: %s\n", netns_error_.c_str());
      GTEST_SKIP() << "no private network namespace: " << netns_error_;
    }
    ASSERT_TRUE(etcd_.Start().ok());
    for (int n = 0; n < 3; ++n) {
      client_ports_[n] = common::FreeLoopbackPort();
      peer_ports_[n] = common::FreeLoopbackPort();
    }
    if (peer_tls_) {
      pki_ = std::make_unique<testing::TestPki>();
      pki_->MakeCa("ca");
      for (int n = 0; n < 3; ++n) {
        pki_->MakeCert("node" + std::to_string(n), "ca", "node" + std::to_string(n), "1",
                       testing::kPeerCertExt);
      }
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
      if (peer_tls_) {
        const std::string cert = "node" + std::to_string(n);
        o.extra_args.insert(o.extra_args.end(),
                            {"--peer-tls-cert", pki_->pem(cert), "--peer-tls-key", pki_->key(cert),
                             "--peer-tls-ca", pki_->pem("ca")});
      }
      servers_[n] = std::make_unique<common::ServerProcess>(o);
      ASSERT_TRUE(servers_[n]->Start().ok());
    }
  }
  std::map<std::string, uint64_t> Stats(int n) {
    ClientOptions o;
    o.server = servers_[n]->address();
    o.connect_timeout_ms = 1'000;
    o.request_timeout_ms = 2'000;
    std::map<std::string, uint64_t> out;
    auto c = Client::Connect(o);
    if (!c.ok()) return out;
    auto st = (*c)->Stats();
    if (st.ok()) out.insert(st->counters.begin(), st->counters.end());
    return out;
  }
  // The replica that serves as primary (STATS cluster_serving), waiting up to 60 s for one;
  // `other_than` excluded. -1 if none did.
  int Primary(int other_than = -1) {
    const auto start = Clock::now();
    while (Clock::now() - start < std::chrono::seconds(60)) {
      for (int n = 0; n < 3; ++n) {
        if (n != other_than && servers_[n]->Alive() && Stats(n)["cluster_serving"] == 1) return n;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  std::string Logs() { return testing::LogTails(dir_.path(), "node", 3, 3000); }

  static inline std::string netns_error_;
  bool peer_tls_ = false;  // replicas talk mutual TLS (ClusterPeerTlsTest)
  std::unique_ptr<testing::TestPki> pki_;
  common::TempDir dir_{"tldb-cluster"};
  cluster::testing::EtcdCluster etcd_{1};
  uint16_t client_ports_[3] = {}, peer_ports_[3] = {}, metrics_ports_[3] = {};
  std::unique_ptr<common::ServerProcess> servers_[3];
};

TEST_F(ClusterProcessTest, KilledAndStoppedPrimariesLoseNothingAcknowledgedOrSeen) {
  faults::ClusterWorkloadOptions wo;
  for (int n = 0; n < 3; ++n) wo.servers.push_back(servers_[n]->address());
  faults::ClusterWorkload work(wo);
  ASSERT_TRUE(work.Start().ok());
  // Waits for `more` acknowledgements beyond now (generous bound: a loaded machine); returns
  // the time it took.
  auto progress = [&](uint64_t more) -> double {
    auto ms = work.WaitForAcks(more, 60'000);
    EXPECT_TRUE(ms.ok()) << ms.status().ToString() << "\n" << Logs();
    return ms.ok() ? *ms : 60'000;
  };
  progress(50);
  std::vector<double> failover_ms;
  for (int kill = 0; kill < 3; ++kill) {
    const int p = Primary();
    ASSERT_GE(p, 0) << Logs();
    ASSERT_TRUE(servers_[p]->Kill().ok());
    failover_ms.push_back(progress(20));
    ASSERT_TRUE(servers_[p]->Start().ok());  // rejoins as a follower
    progress(50);
  }
  // A zombie: stopped past its lease (no other replica can lead before the lease expires),
  // then woken while another replica leads.
  const int z = Primary();
  ASSERT_GE(z, 0);
  ASSERT_EQ(::kill(servers_[z]->pid(), SIGSTOP), 0);
  failover_ms.push_back(progress(20));
  ASSERT_GE(Primary(z), 0) << "another replica leads while the zombie sleeps\n" << Logs();
  ASSERT_EQ(::kill(servers_[z]->pid(), SIGCONT), 0);
  progress(100);
  // etcd stalled (SIGSTOP): the primary goes on acknowledging (its reads of etcd's state come
  // from PolledCoordinator's last answers), and no election starts. Once etcd wakes, the
  // expired leases may make the partition fail over: the workload rides through it.
  ASSERT_TRUE(etcd_.Pause(0).ok());
  auto during_stall = work.WaitForAcks(100, 60'000);
  ASSERT_TRUE(etcd_.Resume(0).ok());
  EXPECT_TRUE(during_stall.ok()) << "appends stopped while etcd was stalled: "
                                 << during_stall.status().ToString() << "\n"
                                 << Logs();
  progress(50);

  auto report = work.Check();
  ASSERT_TRUE(report.ok()) << report.status().ToString() << "\n" << Logs();
  std::printf("%s; appends resumed after a failover in", report->ToString().c_str());
  for (double ms : failover_ms) std::printf(" %.0f ms", ms);
  std::printf("\n");
  for (const auto& v : report->violations) ADD_FAILURE() << v;
  EXPECT_TRUE(report->violations.empty()) << Logs();
  // The workload did what it is there for (else the checks above prove little).
  EXPECT_GE(report->acked, 300u);
  EXPECT_GT(report->fanouts, 0u);
  EXPECT_GT(report->recalls, 0u);
  EXPECT_GT(report->pushed, 0u);
  EXPECT_GT(report->seen, report->pushed);
  EXPECT_GT(report->failed_calls + report->resubscribes, 0u) << "the faults went unnoticed";
  for (double ms : failover_ms) EXPECT_LT(ms, 15'000) << "failover far beyond the 5 s target";

  // STATS: one serving primary, which sees both followers joined (the woken zombie too, once
  // it rejoined); the others follow it.
  const int p = Primary();
  ASSERT_GE(p, 0);
  for (const auto start = Clock::now(); Clock::now() - start < std::chrono::seconds(60);) {
    auto s = Stats(p);
    if (s["cluster_follower" + std::to_string((p + 1) % 3) + "_joined"] == 1 &&
        s["cluster_follower" + std::to_string((p + 2) % 3) + "_joined"] == 1) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
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

// The same cluster with mutual TLS between the replicas (--peer-tls-*).
class ClusterPeerTlsTest : public ClusterProcessTest {
 protected:
  ClusterPeerTlsTest() { peer_tls_ = true; }
};

// The replicated catalog end to end (docs/replication.md "Catalog"), over peer TLS: a namespace
// created through the cluster client is listed by every replica, takes appends, and keeps them
// across a kill -9 of the primary; its options change everywhere.
TEST_F(ClusterPeerTlsTest, NamespaceCreatedOnThePrimaryReachesEveryReplica) {
  EXPECT_NE(Logs().find("(mutual TLS)"), std::string::npos) << Logs();
  ClusterClientOptions co;
  for (int n = 0; n < 3; ++n) co.servers.push_back(servers_[n]->address());
  co.retry_ms_max = 60'000;  // a loaded machine
  auto cc = ClusterClient::Connect(co);
  ASSERT_TRUE(cc.ok()) << cc.status().ToString();
  NamespaceOptions o;
  o.ttl_ms = 86'400'000;
  auto created = (*cc)->Call<bool>([&](Client& c) -> Result<bool> {
    TLDB_RETURN_IF_ERROR(c.CreateNamespace("rooms", o));
    return true;
  });
  ASSERT_TRUE(created.ok()) << created.status().ToString() << "\n" << Logs();
  std::vector<Seq> seqs;
  for (int i = 0; i < 20; ++i) {
    auto r = (*cc)->Append("rooms", "room-1", "hello " + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    seqs.push_back(r->seq);
  }
  // Every replica lists it with the same options (listings are answered anywhere), once it
  // applied the committed catalog record.
  const auto listed_everywhere = [&](uint64_t ttl_ms) {
    for (int n = 0; n < 3; ++n) {
      ClientOptions one;
      one.server = servers_[n]->address();
      auto c = Client::Connect(one);
      if (!c.ok()) return false;
      auto list = (*c)->ListNamespaces();
      if (!list.ok()) return false;
      bool found = false;
      for (const NamespaceInfo& i : *list) found |= i.name == "rooms" && i.options.ttl_ms == ttl_ms;
      if (!found) return false;
    }
    return true;
  };
  bool everywhere = false;
  for (const auto start = Clock::now();
       !everywhere && Clock::now() - start < std::chrono::seconds(60);) {
    everywhere = listed_everywhere(o.ttl_ms);
    if (!everywhere) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(everywhere) << Logs();

  const int p = Primary();
  ASSERT_GE(p, 0);
  ASSERT_TRUE(servers_[p]->Kill().ok());
  ScanOptions all;
  all.limit = 100;
  auto msgs = (*cc)->Scan("rooms", "room-1", all);
  ASSERT_TRUE(msgs.ok()) << msgs.status().ToString() << "\n" << Logs();
  ASSERT_EQ(msgs->size(), seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    EXPECT_EQ((*msgs)[i].seq, seqs[i]);
    EXPECT_EQ((*msgs)[i].payload, "hello " + std::to_string(i));
  }
  ASSERT_TRUE(servers_[p]->Start().ok());
  // Options change through the new primary and reach every replica, the restarted one too.
  auto set = (*cc)->Call<NamespaceInfo>([&](Client& c) {
    NamespaceOptionsUpdate shorter;
    shorter.ttl_ms = 3'600'000;
    return c.SetNamespaceOptions("rooms", shorter);
  });
  ASSERT_TRUE(set.ok()) << set.status().ToString() << "\n" << Logs();
  everywhere = false;
  for (const auto start = Clock::now();
       !everywhere && Clock::now() - start < std::chrono::seconds(60);) {
    everywhere = listed_everywhere(3'600'000);
    if (!everywhere) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(everywhere) << Logs();
}

// An unsharded replica's --node-id must be one of its --voters: id `voters` is a sharded move's
// spare, placed only by the slot map.
TEST(ClusterSpecTest, AnUnshardedNodeIdOutsideTheVotersIsRefused) {
  cluster::testing::EtcdCluster etcd(1);
  ASSERT_TRUE(etcd.Start().ok());
  common::TempDir dir("tldb-node-id");
  // (timeout: a server that accepted the id would run on.)
  auto r = testing::Shell("timeout 20 " + std::string(TLDB_SERVER_PATH) +
                          " --cluster etcd=" + etcd.endpoint(0) +
                          " --node-id 3 --voters 3 --listen 127.0.0.1:0 --peer-listen "
                          "127.0.0.1:0 --data-dir " +
                          dir.path() + "/data 2>&1");
  EXPECT_NE(r.first, 0) << r.second;
  EXPECT_NE(r.second.find("--node-id 3 is not a replica of 3 voters (0..2)"), std::string::npos)
      << r.second;
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
