#include "cluster_soak.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <thread>

#include "common/server_process.h"
#include "kill_run.h"
#include "tldb/client.h"

namespace tldb::faults {

using common::ServerProcess;
using common::ServerProcessOptions;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr uint16_t kClientPort = 7070, kPeerPort = 7170;            // on each node's own address
constexpr uint16_t kEtcdClientPort = 23790, kEtcdPeerPort = 23890;  // + member
// The nodes listen on non-loopback addresses, which needs a token: one for everything.
constexpr const char* kTokenSecret = "cluster-soak-secret";

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

Status Shell(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  if (rc != 0) return Status::IOError("'" + cmd + "' failed (" + std::to_string(rc) + ")");
  return Status::Ok();
}

std::string ShellOutput(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    ::pclose(f);
  }
  return out;
}

std::string Tail(const std::string& path, size_t bytes) {
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), {});
  return text.substr(text.size() > bytes ? text.size() - bytes : 0);
}

// The soak's state: the processes, the fault loop, the report.
class Soak {
 public:
  explicit Soak(const ClusterSoakOptions& o) : o_(o), rng_(o.seed) {
    etcd_.resize(o.etcd_members);
    etcd_starts_.resize(o.etcd_members);
    nodes_.resize(o.node_hosts.size());
    node_starts_.resize(o.node_hosts.size());
  }

  Result<ClusterSoakReport> Run() {
    if (o_.node_hosts.size() != o_.node_netns.size() || o_.node_hosts.size() < 3) {
      return Status::InvalidArgument("cluster soak: 3 or more nodes, each with a namespace");
    }
    if (auto s = Heal(); !s.ok()) return s;  // the nft table must exist
    for (uint32_t m = 0; m < o_.etcd_members; ++m) {
      if (auto s = StartEtcd(m); !s.ok()) return s;
    }
    if (auto s = WaitEtcdHealthy(60'000); !s.ok()) return s;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (auto s = StartNode(n); !s.ok()) return s;
    }
    ClusterWorkloadOptions wo;
    for (const auto& h : o_.node_hosts) wo.servers.push_back(h + ":" + std::to_string(kClientPort));
    wo.writers = o_.writers;
    wo.seed = o_.seed;
    wo.token = kTokenSecret;
    ClusterWorkload work(wo);
    if (auto s = work.Start(); !s.ok()) return s;
    work_ = &work;
    if (auto w = work.WaitForAcks(50, 120'000); !w.ok()) {
      return Status::IOError("the partition took no appends: " + w.status().ToString() + "\n" +
                             Logs());
    }
    const auto t0 = Clock::now();
    uint32_t injected = 0;
    while (MsSince(t0) < static_cast<double>(o_.duration_ms)) {
      std::this_thread::sleep_for(milliseconds(2'000 + rng_() % 4'000));
      const std::string kind = o_.faults[rng_() % o_.faults.size()];
      Inject(kind, ++injected);
      std::string why;
      if (!WaitHealthy(o_.settle_ms_max, &why)) {
        Note("after fault " + std::to_string(injected) + " (" + kind + "): not healed within " +
             std::to_string(o_.settle_ms_max / 1000) + " s: " + why);
        // Heal what can be healed and go on; the checker still judges the end state.
        (void)Heal();
        RestartDead();
      }
    }
    (void)Heal();
    RestartDead();
    std::string why;
    if (!WaitHealthy(o_.settle_ms_max, &why)) Note("at the end: not healed: " + why);
    if (auto w = work.WaitForAcks(100, o_.resume_ms_max); !w.ok()) {
      Note("at the end: appends did not resume: " + w.status().ToString());
    }
    auto check = work.Check();
    work_ = nullptr;
    if (!check.ok()) return Status::IOError("read-back failed: " + check.status().ToString());
    report_.check = std::move(check).value();
    report_.seconds = MsSince(t0) / 1000;
    for (auto& n : nodes_) {
      if (n) (void)n->Stop();
    }
    return report_;
  }

 private:
  std::string EtcdUrl(uint32_t m, uint16_t base) const {
    return "http://" + o_.etcd_host + ":" + std::to_string(base + m);
  }
  std::string EtcdEndpoints() const {
    std::string out;
    for (uint32_t m = 0; m < o_.etcd_members; ++m) {
      out += (out.empty() ? "" : ",") + EtcdUrl(m, kEtcdClientPort);
    }
    return out;
  }

  Status StartEtcd(uint32_t m) {
    std::string cluster;
    for (uint32_t i = 0; i < o_.etcd_members; ++i) {
      cluster += (cluster.empty() ? "" : ",") + ("m" + std::to_string(i) + "=") +
                 EtcdUrl(i, kEtcdPeerPort);
    }
    ServerProcessOptions eo;
    eo.host = o_.etcd_host;
    eo.port = static_cast<uint16_t>(kEtcdClientPort + m);
    eo.log_path = o_.data_dir + "/etcd" + std::to_string(m) + "." +
                  std::to_string(etcd_starts_[m]++) + ".log";
    eo.die_with_parent = true;
    eo.command = {o_.etcd_binary,
                  "--name",
                  "m" + std::to_string(m),
                  "--data-dir",
                  o_.data_dir + "/etcd" + std::to_string(m),
                  "--listen-client-urls",
                  EtcdUrl(m, kEtcdClientPort),
                  "--advertise-client-urls",
                  EtcdUrl(m, kEtcdClientPort),
                  "--listen-peer-urls",
                  EtcdUrl(m, kEtcdPeerPort),
                  "--initial-advertise-peer-urls",
                  EtcdUrl(m, kEtcdPeerPort),
                  "--initial-cluster",
                  cluster,
                  "--initial-cluster-state",
                  "new",
                  "--initial-cluster-token",
                  "tldb-soak"};
    etcd_[m] = std::make_unique<ServerProcess>(eo);
    return etcd_[m]->Start();
  }

  Status WaitEtcdHealthy(uint64_t timeout_ms) {
    const auto t0 = Clock::now();
    const std::string cmd = o_.etcdctl_binary + " --endpoints=" + EtcdEndpoints() +
                            " --command-timeout=2s endpoint health >/dev/null 2>&1";
    while (MsSince(t0) < static_cast<double>(timeout_ms)) {
      if (std::system(cmd.c_str()) == 0) return Status::Ok();
      std::this_thread::sleep_for(milliseconds(200));
    }
    return Status::TimedOut("etcd not healthy: " + Tail(o_.data_dir + "/etcd0.0.log", 1500));
  }

  std::string NodeLog(size_t n) const {
    return o_.data_dir + "/node" + std::to_string(n) + "." +
           std::to_string(node_starts_[n] == 0 ? 0 : node_starts_[n] - 1) + ".log";
  }

  Status StartNode(size_t n) {
    const std::string host = o_.node_hosts[n];
    ServerProcessOptions so;
    so.host = host;
    so.port = kClientPort;
    so.log_path = o_.data_dir + "/node" + std::to_string(n) + "." +
                  std::to_string(node_starts_[n]++) + ".log";
    so.die_with_parent = true;
    so.command = {"ip",
                  "netns",
                  "exec",
                  o_.node_netns[n],
                  o_.server_binary,
                  "--data-dir",
                  o_.data_dir + "/node" + std::to_string(n),
                  "--listen",
                  host + ":" + std::to_string(kClientPort),
                  "--cluster",
                  "etcd=" + EtcdEndpoints(),
                  "--node-id",
                  std::to_string(n),
                  "--voters",
                  std::to_string(nodes_.size()),
                  "--peer-listen",
                  host + ":" + std::to_string(kPeerPort),
                  "--advertise",
                  host + ":" + std::to_string(kClientPort),
                  "--token",
                  std::string("soak:") + kTokenSecret + ":rw=*:admin=*"};
    nodes_[n] = std::make_unique<ServerProcess>(so);
    return nodes_[n]->Start();
  }

  std::map<std::string, uint64_t> Stats(size_t n) {
    std::map<std::string, uint64_t> out;
    if (!nodes_[n] || !nodes_[n]->Alive()) return out;
    ClientOptions co;
    co.server = nodes_[n]->address();
    co.connect_timeout_ms = 1'000;
    co.request_timeout_ms = 1'000;
    co.reconnect_attempts = 0;
    co.token = kTokenSecret;
    auto c = Client::Connect(co);
    if (!c.ok()) return out;
    auto st = (*c)->Stats();
    if (st.ok()) out.insert(st->counters.begin(), st->counters.end());
    return out;
  }

  // The serving primary (not `other_than`), waiting up to timeout_ms; -1 if none.
  int Primary(int other_than, uint64_t timeout_ms) {
    const auto t0 = Clock::now();
    do {
      for (size_t n = 0; n < nodes_.size(); ++n) {
        if (static_cast<int>(n) != other_than && Stats(n)["cluster_serving"] == 1) {
          return static_cast<int>(n);
        }
      }
      std::this_thread::sleep_for(milliseconds(20));
    } while (MsSince(t0) < static_cast<double>(timeout_ms));
    return -1;
  }

  // Every process runs, one primary serves, and every follower is joined, caught up to the
  // segment (frames in flight aside) and votes: a wiped replica is a learner until it holds
  // every committed frame, and while one is, the partition survives no further fault.
  bool Healthy(std::string* why) {
    for (size_t m = 0; m < etcd_.size(); ++m) {
      if (!etcd_[m]->Alive()) return *why = "etcd member " + std::to_string(m) + " is down", false;
    }
    const int p = Primary(-1, 0);
    if (p < 0) return *why = "no replica serves", false;
    auto st = Stats(static_cast<size_t>(p));
    for (size_t f = 0; f < nodes_.size(); ++f) {
      if (static_cast<int>(f) == p) continue;
      const std::string k = "cluster_follower" + std::to_string(f);
      if (st[k + "_joined"] != 1 || st[k + "_learner"] != 0 || st[k + "_behind_segments"] != 0 ||
          st[k + "_behind_bytes"] > (1u << 20)) {
        *why = "primary " + std::to_string(p) + ": follower " + std::to_string(f) + " joined " +
               std::to_string(st[k + "_joined"]) + ", learner " +
               std::to_string(st[k + "_learner"]) + ", behind " +
               std::to_string(st[k + "_behind_segments"]) + " segments + " +
               std::to_string(st[k + "_behind_bytes"]) + " bytes; its log ends:\n" +
               Tail(NodeLog(f), 1200) + "\nthe primary's log ends:\n" +
               Tail(NodeLog(static_cast<size_t>(p)), 1200);
        return false;
      }
    }
    return true;
  }

  bool WaitHealthy(uint64_t timeout_ms, std::string* why) {
    const auto t0 = Clock::now();
    while (!Healthy(why)) {
      if (MsSince(t0) > static_cast<double>(timeout_ms)) return false;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return true;
  }

  void RestartDead() {
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (!nodes_[n]->Alive()) {
        if (auto s = StartNode(n); !s.ok()) Note("node " + std::to_string(n) + ": " + s.ToString());
      }
    }
    for (uint32_t m = 0; m < etcd_.size(); ++m) {
      if (!etcd_[m]->Alive()) {
        if (auto s = StartEtcd(m); !s.ok()) Note("etcd " + std::to_string(m) + ": " + s.ToString());
      }
    }
  }

  Status Nft(const std::string& chain, const std::string& rule) {
    return Shell("nft add rule " + o_.nft_table + " " + chain + " " + rule);
  }
  Status Heal() {
    for (const char* chain : {"forward", "input", "output"}) {
      if (auto s = Shell("nft flush chain " + o_.nft_table + " " + chain); !s.ok()) return s;
    }
    return Status::Ok();
  }

  // The etcd member that leads (etcdctl endpoint status), -1 if none answers so.
  int EtcdLeader() {
    for (uint32_t m = 0; m < etcd_.size(); ++m) {
      const std::string out =
          ShellOutput(o_.etcdctl_binary + " --endpoints=" + EtcdUrl(m, kEtcdClientPort) +
                      " --command-timeout=2s endpoint status 2>/dev/null");
      // "URL, ID, VERSION, DB SIZE, IS LEADER, IS LEARNER, ..."
      size_t at = 0;
      for (int field = 0; field < 4 && at != std::string::npos; ++field)
        at = out.find(", ", at + 1);
      if (at != std::string::npos && out.compare(at + 2, 4, "true") == 0) {
        return static_cast<int>(m);
      }
    }
    return -1;
  }

  // Injects one fault, measures the time until appends resume, and undoes what must be undone
  // for the partition to heal (a killed process is restarted, a stopped one woken).
  void Inject(const std::string& kind, uint32_t index) {
    const int p = Primary(-1, o_.settle_ms_max);
    if (p < 0) return Note("fault " + std::to_string(index) + ": no primary to fault");
    const std::string& ph = o_.node_hosts[static_cast<size_t>(p)];
    const auto t0 = Clock::now();
    bool deposes = true;
    int wiped = -1;
    std::string detail = "primary " + std::to_string(p);
    Status s;
    if (kind == "kill") {
      s = nodes_[static_cast<size_t>(p)]->Kill();
    } else if (kind == "stop") {
      s = ::kill(nodes_[static_cast<size_t>(p)]->pid(), SIGSTOP) == 0
              ? Status::Ok()
              : Status::IOError("SIGSTOP failed");
    } else if (kind == "cut-followers" || kind == "one-way") {
      const bool out = kind == "cut-followers" || rng_() % 2 == 0;
      const bool in = kind == "cut-followers" || !out;
      if (kind == "one-way") {
        detail += out ? ", its packets to followers dropped" : ", followers' packets to it dropped";
      }
      for (size_t f = 0; f < nodes_.size() && s.ok(); ++f) {
        if (static_cast<int>(f) == p) continue;
        if (out) s = Nft("forward", "ip saddr " + ph + " ip daddr " + o_.node_hosts[f] + " drop");
        if (in && s.ok()) {
          s = Nft("forward", "ip saddr " + o_.node_hosts[f] + " ip daddr " + ph + " drop");
        }
      }
    } else if (kind == "cut-etcd") {
      s = Nft("input", "ip saddr " + ph + " ip daddr " + o_.etcd_host + " drop");
      if (s.ok()) s = Nft("output", "ip saddr " + o_.etcd_host + " ip daddr " + ph + " drop");
    } else if (kind == "etcd-leader") {
      deposes = false;
      const int leader = EtcdLeader();
      if (leader < 0) return Note("fault " + std::to_string(index) + ": no etcd leader found");
      detail = "etcd member " + std::to_string(leader);
      s = etcd_[static_cast<size_t>(leader)]->Kill();
    } else if (kind == "wipe") {
      deposes = false;
      const size_t f = (static_cast<size_t>(p) + 1 + rng_() % (nodes_.size() - 1)) % nodes_.size();
      detail = "follower " + std::to_string(f);
      wiped = static_cast<int>(f);
      s = nodes_[f]->Kill();
      std::error_code ec;
      std::filesystem::remove_all(o_.data_dir + "/node" + std::to_string(f), ec);
      if (s.ok() && ec) s = Status::IOError("wipe: " + ec.message());
    } else if (kind == "etcd-stall") {
      deposes = false;
      detail = "every etcd member stopped";
      for (auto& e : etcd_) {
        if (::kill(e->pid(), SIGSTOP) != 0) s = Status::IOError("SIGSTOP of etcd failed");
      }
    } else {
      s = Status::InvalidArgument("unknown fault kind '" + kind + "'");
    }
    if (!s.ok()) return Note("fault " + std::to_string(index) + " (" + kind + "): " + s.ToString());
    report_.faults[kind]++;
    if (kind == "cut-etcd") {
      // The primary goes on acknowledging until its lease expires and a follower, elected in
      // its place, fences it: the cut holds until another replica serves.
      if (Primary(p, o_.settle_ms_max) < 0) {
        Note("fault " + std::to_string(index) + " (cut-etcd, " + detail +
             "): no other replica took over");
      }
    }
    auto resumed = work_->WaitForAcks(o_.resume_acks, o_.resume_ms_max);
    const double ms = resumed.ok() ? MsSince(t0) : -1;
    int now = -1;
    if (deposes) {
      now = Primary(p, kind == "kill" || kind == "stop" ? o_.settle_ms_max : 0);
      if (now < 0 && kind != "kill" && kind != "stop") now = Primary(-1, 0);
    }
    // Undo: restart, wake, heal the network.
    if (kind == "kill") {
      if (auto r = StartNode(static_cast<size_t>(p)); !r.ok()) Note("restart: " + r.ToString());
    } else if (kind == "stop") {
      ::kill(nodes_[static_cast<size_t>(p)]->pid(), SIGCONT);
    } else if (kind == "etcd-leader") {
      std::this_thread::sleep_for(milliseconds(2'000 + rng_() % 3'000));
      RestartDead();
    } else if (kind == "etcd-stall") {
      // Stopped for 5 s in all (no lease can be renewed meanwhile: the partition may fail over
      // once etcd wakes, which the next settle waits for).
      std::this_thread::sleep_for(
          milliseconds(static_cast<int64_t>(std::max(0.0, 5'000 - MsSince(t0)))));
      for (auto& e : etcd_) ::kill(e->pid(), SIGCONT);
    } else if (wiped >= 0) {
      if (auto r = StartNode(static_cast<size_t>(wiped)); !r.ok()) Note("restart: " + r.ToString());
    } else {
      (void)Heal();
    }
    if (ms < 0) {
      Note("fault " + std::to_string(index) + " (" + kind + ", " + detail +
           "): appends did not resume within " + std::to_string(o_.resume_ms_max / 1000) + " s");
    } else {
      report_.resume_ms.push_back(ms);
      if (deposes && now >= 0 && now != p) report_.failover_ms.push_back(ms);
    }
    if (o_.progress) {
      char line[400];
      std::snprintf(line, sizeof line,
                    "fault %u: %s (%s): appends resumed after %.0f ms%s; %llu acknowledged so far",
                    index, kind.c_str(), detail.c_str(), ms,
                    deposes
                        ? (now >= 0 && now != p ? (", new primary " + std::to_string(now)).c_str()
                                                : ", the primary stayed")
                        : "",
                    static_cast<unsigned long long>(work_->acked()));
      o_.progress(line);
    }
  }

  void Note(const std::string& what) {
    report_.notes.push_back(what);
    if (o_.progress) o_.progress("NOTE: " + what);
  }

  std::string Logs() {
    std::string out;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      out += "---- node " + std::to_string(n) + "\n" + Tail(NodeLog(n), 2000);
    }
    return out;
  }

  const ClusterSoakOptions& o_;
  std::mt19937_64 rng_;
  std::vector<std::unique_ptr<ServerProcess>> etcd_, nodes_;
  std::vector<uint32_t> etcd_starts_, node_starts_;  // starts so far (log file names)
  ClusterWorkload* work_ = nullptr;
  ClusterSoakReport report_;
};

}  // namespace

std::string ClusterSoakReport::ToString() const {
  std::string out;
  char buf[512];
  uint32_t total = 0;
  std::string kinds;
  for (const auto& [k, n] : faults) {
    total += n;
    kinds += (kinds.empty() ? "" : ", ") + k + " " + std::to_string(n);
  }
  std::snprintf(buf, sizeof buf,
                "%.0f s, %u faults injected (%s); failover (%zu faults that deposed the "
                "primary) p50 %.0f ms, p99 %.0f ms, max %.0f ms; appends resumed after any "
                "fault p50 %.0f ms, p99 %.0f ms; %zu notes\n",
                seconds, total, kinds.c_str(), failover_ms.size(), Percentile(failover_ms, 0.5),
                Percentile(failover_ms, 0.99), Percentile(failover_ms, 1.0),
                Percentile(resume_ms, 0.5), Percentile(resume_ms, 0.99), notes.size());
  out += buf;
  out += check.ToString();
  return out;
}

Result<ClusterSoakReport> RunClusterSoak(const ClusterSoakOptions& options) {
  Soak soak(options);
  return soak.Run();
}

}  // namespace tldb::faults
