#include "shard_soak.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "cluster/etcd_client.h"
#include "cluster/slot_map_store.h"
#include "common/server_process.h"
#include "protocol/slot_map.h"
#include "slot_map_history.h"
#include "tldb/cluster_client.h"

namespace tldb::faults {
namespace {

using common::ServerProcess;
using common::ServerProcessOptions;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Runs a command; returns its exit status and stdout+stderr.
std::pair<int, std::string> Run(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return {-1, "popen failed"};
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  const int rc = ::pclose(f);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

std::string Tail(const std::string& path, size_t bytes) {
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), {});
  return text.substr(text.size() > bytes ? text.size() - bytes : 0);
}

uint32_t SlotCount(const proto::PartitionEntry& p) {
  uint32_t n = 0;
  for (const auto& r : p.ranges) n += static_cast<uint32_t>(r.last - r.first) + 1;
  return n;
}

class Soak {
 public:
  explicit Soak(ShardSoakOptions o) : o_(std::move(o)), rng_(o_.seed) {}

  Result<ShardSoakReport> Run() {
    const auto t0 = Clock::now();
    if (auto s = StartEtcd(); !s.ok()) return s;
    auto init = Cli("cluster init --partitions " + std::to_string(o_.partitions) + " --servers " +
                    ServerList());
    if (init.first != 0) return Status::IOError("tldb cluster init: " + init.second);
    servers_.resize(o_.servers);
    for (uint32_t n = 0; n < o_.servers; ++n) {
      if (auto s = StartServer(n); !s.ok()) return s;
    }
    ClusterClientOptions co;
    co.servers = addresses_;
    co.retry_ms_max = 60'000;
    TLDB_ASSIGN_OR_RETURN(client_, ClusterClient::Connect(co));
    if (!Primaries()) return Status::TimedOut("no primary for every partition\n" + Logs());

    ClusterWorkloadOptions wo;
    wo.servers = addresses_;
    wo.writers = o_.writers;
    wo.timelines = 12;
    wo.members = 8;
    wo.retry_ms_max = 60'000;
    wo.record_served = true;
    wo.seed = o_.seed;
    ClusterWorkload workload(wo);
    workload_ = &workload;
    if (auto s = workload.Start(); !s.ok()) return s;

    bool healthy = Healed("start");
    while (healthy && MsSince(t0) < static_cast<double>(o_.duration_ms)) {
      healthy = InjectOne();
    }
    workload.Stop();
    workload_ = nullptr;

    TLDB_ASSIGN_OR_RETURN(report_.check, workload.Check());
    report_.violations = report_.check.violations;
    cluster::EtcdClientOptions eo;
    eo.endpoints = {EtcdUrl()};
    TLDB_ASSIGN_OR_RETURN(auto history, SlotMapHistory(eo));
    for (std::string& v : workload.served().Check(history, ids_)) {
      report_.violations.push_back(std::move(v));
    }
    report_.answers_checked = workload.served().records().size();
    report_.map_versions = history.size();
    if (!history.empty()) report_.partitions = history.rbegin()->second.partitions().size();
    report_.seconds = MsSince(t0) / 1000;
    return report_;
  }

 private:
  std::string EtcdUrl() const { return "http://127.0.0.1:" + std::to_string(etcd_port_); }
  std::string ServerList() const {
    std::string out;
    for (uint32_t n = 0; n < o_.servers; ++n) out += (n ? "," : "") + std::to_string(n);
    return out;
  }
  std::pair<int, std::string> Cli(const std::string& args) const {
    return faults::Run(o_.cli_binary + " " + args + " --etcd " + EtcdUrl());
  }
  std::string Logs() const {
    std::string out;
    for (uint32_t n = 0; n < o_.servers; ++n) {
      out += "---- server " + std::to_string(n) + "\n" +
             Tail(o_.data_dir + "/server" + std::to_string(n) + ".log", 2000);
    }
    return out;
  }
  void Progress(const std::string& line) {
    if (o_.progress) o_.progress(line);
  }
  void Note(const std::string& what) {
    report_.notes.push_back(what + "\n" + Logs());
    Progress("NOT HEALED: " + what);
  }

  Status StartEtcd() {
    etcd_port_ = common::FreeLoopbackPort();
    const std::string peer = "http://127.0.0.1:" + std::to_string(common::FreeLoopbackPort());
    ServerProcessOptions eo;
    eo.port = etcd_port_;
    eo.log_path = o_.data_dir + "/etcd.log";
    eo.die_with_parent = true;
    eo.command = {o_.etcd_binary,
                  "--name",
                  "e0",
                  "--data-dir",
                  o_.data_dir + "/etcd",
                  "--listen-client-urls",
                  EtcdUrl(),
                  "--advertise-client-urls",
                  EtcdUrl(),
                  "--listen-peer-urls",
                  peer,
                  "--initial-advertise-peer-urls",
                  peer,
                  "--initial-cluster",
                  "e0=" + peer};
    etcd_ = std::make_unique<ServerProcess>(eo);
    if (auto s = etcd_->Start(); !s.ok()) return s;
    cluster::EtcdClientOptions co;
    co.endpoints = {EtcdUrl()};
    TLDB_ASSIGN_OR_RETURN(auto client, cluster::EtcdClient::Create(co));
    const auto t0 = Clock::now();
    while (MsSince(t0) < 60'000) {
      if (client->Health().ok()) return Status::Ok();
      std::this_thread::sleep_for(milliseconds(200));
    }
    return Status::TimedOut("etcd not healthy: " + Tail(o_.data_dir + "/etcd.log", 1500));
  }

  Status StartServer(uint32_t n) {
    if (!servers_[n]) {
      const uint16_t port = common::FreeLoopbackPort();
      ServerProcessOptions so;
      so.binary = o_.server_binary;
      so.data_dir = o_.data_dir + "/server" + std::to_string(n);
      so.port = port;
      so.log_path = o_.data_dir + "/server" + std::to_string(n) + ".log";
      so.die_with_parent = true;
      so.start_timeout_ms = 120'000;
      so.extra_args = {"--cluster",
                       "etcd=" + EtcdUrl(),
                       "--node-id",
                       std::to_string(n),
                       "--peer-listen",
                       "127.0.0.1:0",
                       "--advertise",
                       "127.0.0.1:" + std::to_string(port),
                       "--threads",
                       "1",
                       "--io-backend",
                       "posix",
                       "--controller-replace-after-ms",
                       "0"};
      servers_[n] = std::make_unique<ServerProcess>(so);
      addresses_.push_back(servers_[n]->address());
      ids_[servers_[n]->address()] = n;
    }
    return servers_[n]->Start();
  }

  // The map's version in etcd (0 when it cannot be read).
  uint64_t EtcdVersion() const {
    cluster::EtcdClientOptions co;
    co.endpoints = {EtcdUrl()};
    auto etcd = cluster::EtcdClient::Create(co);
    if (!etcd.ok()) return 0;
    cluster::SlotMapStore store(**etcd, "/tldb/");
    auto stored = store.Load();
    return stored.ok() ? stored->map.version() : 0;
  }

  // Waits (wait_ms at most) until the client's map is at etcd's version or later (a server's map
  // may lag behind a split or a move just written) and names a live primary for every partition.
  std::shared_ptr<const proto::SlotMap> Primaries() {
    const auto t0 = Clock::now();
    const uint64_t version = EtcdVersion();
    while (MsSince(t0) < static_cast<double>(o_.wait_ms)) {
      if (client_->RefreshMap().ok()) {
        auto map = client_->slot_map();
        bool all = !map->partitions().empty() && map->version() >= version;
        for (const auto& p : map->partitions()) {
          all &= p.primary != proto::kNoServer && p.primary < servers_.size() &&
                 servers_[p.primary]->Alive();
        }
        if (all) return map;
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
    return nullptr;
  }

  // Every partition has a live primary and the workload acknowledges again.
  bool Healed(const std::string& after) {
    if (!Primaries())
      return Note("after " + after + ": no live primary for every partition"), false;
    return Acks(after);
  }
  bool Acks(const std::string& after) {
    auto ms = workload_->WaitForAcks(o_.acks_between, o_.wait_ms);
    if (!ms.ok()) return Note("after " + after + ": " + ms.status().ToString()), false;
    char line[200];
    std::snprintf(line, sizeof line, "  %s: %llu more acknowledgements in %.0f ms (%llu in all)",
                  after.c_str(), static_cast<unsigned long long>(o_.acks_between), *ms,
                  static_cast<unsigned long long>(workload_->acked()));
    Progress(line);
    return true;
  }
  bool CliOk(const std::string& what, const std::pair<int, std::string>& r) {
    if (r.first == 0) return true;
    Note(what + " failed (exit " + std::to_string(r.first) + "): " + r.second);
    return false;
  }

  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng_)];
  }

  // The controller's server id, or -1 when none holds it.
  int64_t Controller() const {
    auto r = faults::Run(o_.cli_binary + " --json cluster controller --etcd " + EtcdUrl());
    if (r.first != 0) return -1;
    auto j = nlohmann::json::parse(r.second, nullptr, false);
    if (j.is_discarded() || !j.contains("controller") || !j["controller"].is_object()) return -1;
    return j["controller"].value("server", int64_t{-1});
  }

  // One fault, drawn among those possible now; false when the cluster did not heal.
  bool InjectOne() {
    auto map = client_->slot_map();
    std::vector<std::string> kinds = {"move", "move-interrupted", "kill-primary",
                                      "kill-controller"};
    std::vector<const proto::PartitionEntry*> splittable;
    for (const auto& p : map->partitions()) {
      if (SlotCount(p) >= 2) splittable.push_back(&p);
    }
    if (map->partitions().size() < o_.partitions_max && !splittable.empty()) {
      kinds.push_back("split");
    }
    const std::string kind = Pick(kinds);
    report_.faults[kind]++;
    const std::string n = "#" + std::to_string(++injected_) + " " + kind;
    std::vector<const proto::PartitionEntry*> parts;
    for (const auto& p : map->partitions()) parts.push_back(&p);
    const proto::PartitionEntry& p = *Pick(parts);
    if (kind == "move" || kind == "move-interrupted") {
      const uint32_t from = Pick(p.replicas);
      std::vector<uint32_t> to;
      for (uint32_t s = 0; s < o_.servers; ++s) {
        if (std::find(p.replicas.begin(), p.replicas.end(), s) == p.replicas.end()) to.push_back(s);
      }
      if (to.empty())
        return Progress(n + ": every server holds partition " + std::to_string(p.id) +
                        ", nothing to move"),
               true;
      const uint32_t dest = Pick(to);
      const std::string what = n + ": partition " + std::to_string(p.id) + "'s replica on server " +
                               std::to_string(from) + " to server " + std::to_string(dest);
      Progress(what);
      const std::string move = "cluster move " + std::to_string(p.id) + " --from " +
                               std::to_string(from) + " --to " + std::to_string(dest);
      if (kind == "move-interrupted") {
        // The spare added (the command returns at once), then its server killed while it
        // catches up and started again; the same command, run again, finishes the move.
        (void)Cli(move + " --wait-s 0 --timeout-s 0");
        if (auto s = servers_[dest]->Kill(); !s.ok())
          return Note(what + ": " + s.ToString()), false;
        if (!Healed(what + ": target down")) return false;
        if (auto s = StartServer(dest); !s.ok()) {
          return Note(what + ": restart: " + s.ToString()), false;
        }
      }
      if (!CliOk(what, Cli(move + " --wait-s 120 --timeout-s 120"))) return false;
      return Healed(what);
    }
    if (kind == "split") {
      const proto::PartitionEntry& s = *Pick(splittable);
      const std::string what = n + ": partition " + std::to_string(s.id) + " (" +
                               std::to_string(SlotCount(s)) + " slots)";
      Progress(what);
      auto r = Cli("cluster split " + std::to_string(s.id) + " --timeout-s 120");
      if (!CliOk(what, r)) return false;
      return Healed(what);
    }
    int64_t victim = p.primary;
    std::string what = n + ": server " + std::to_string(victim) + " (partition " +
                       std::to_string(p.id) + "'s primary)";
    if (kind == "kill-controller") {
      victim = Controller();
      if (victim < 0 || victim >= static_cast<int64_t>(o_.servers)) {
        return Note(n + ": no server holds the controller"), false;
      }
      what = n + ": server " + std::to_string(victim) + " (the controller)";
    }
    if (victim < 0 || victim >= static_cast<int64_t>(o_.servers)) {
      return Note(what + ": no primary to kill"), false;
    }
    Progress(what);
    if (auto s = servers_[victim]->Kill(); !s.ok()) return Note(what + ": " + s.ToString()), false;
    if (kind == "kill-controller") {
      const auto t0 = Clock::now();
      int64_t now = -1;
      while (MsSince(t0) < static_cast<double>(o_.wait_ms)) {
        now = Controller();
        if (now >= 0 && now != victim) break;
        std::this_thread::sleep_for(milliseconds(500));
      }
      if (now < 0 || now == victim)
        return Note(what + ": no other server took the controller"), false;
      Progress("  server " + std::to_string(now) + " took the controller in " +
               std::to_string(static_cast<int64_t>(MsSince(t0))) + " ms");
    }
    if (!Healed(what + " down")) return false;
    if (auto s = StartServer(static_cast<uint32_t>(victim)); !s.ok()) {
      return Note(what + ": restart: " + s.ToString()), false;
    }
    return Healed(what + " restarted");
  }

  const ShardSoakOptions o_;
  std::mt19937_64 rng_;
  uint16_t etcd_port_ = 0;
  std::unique_ptr<ServerProcess> etcd_;
  std::vector<std::unique_ptr<ServerProcess>> servers_;
  std::vector<std::string> addresses_;
  std::map<std::string, uint32_t> ids_;  // address -> server id
  std::unique_ptr<ClusterClient> client_;
  ClusterWorkload* workload_ = nullptr;
  uint64_t injected_ = 0;
  ShardSoakReport report_;
};

}  // namespace

std::string ShardSoakReport::ToString() const {
  std::ostringstream out;
  uint32_t total = 0;
  for (const auto& [k, v] : faults) total += v;
  out << "shard soak: " << static_cast<uint64_t>(seconds) << " s, " << total << " faults (";
  bool first = true;
  for (const auto& [k, v] : faults) {
    out << (first ? "" : ", ") << k << " " << v;
    first = false;
  }
  out << "), " << partitions << " partitions and " << map_versions << " map versions at the end\n"
      << check.ToString() << "\n"
      << answers_checked << " answers checked against the map history\n"
      << violations.size() << " violations, " << notes.size() << " faults not healed from";
  return out.str();
}

Result<ShardSoakReport> RunShardSoak(const ShardSoakOptions& options) {
  return Soak(options).Run();
}

}  // namespace tldb::faults
