// tldb cluster status --servers A,B,C: each replica's role, epoch and view of the primary, and
// the primary's followers' lag, from their STATS. tldb cluster promote NODE --etcd URL: a
// planned switchover to NODE (docs/replication.md "Watching a cluster", "Switchover").
#include <cstdio>
#include <map>

#include "cluster/etcd_client.h"
#include "cluster/etcd_coordinator.h"
#include "commands.h"

namespace tldb::cli {

namespace {

// A follower that does not vote yet shows as a learner (or undecided).
std::string RoleName(uint64_t r, uint64_t membership) {
  if (r == 0 && membership == 1) return "learner";
  if (r == 0 && membership == 2) return "undecided";
  return r == 0 ? "follower" : r == 1 ? "candidate" : r == 2 ? "primary" : "?";
}

void RunClusterStatus(CliContext& ctx, const std::vector<std::string>& servers) {
  std::vector<std::string> all = servers;
  if (all.empty()) all.push_back(ctx.server);
  if (!ctx.json) {
    std::printf("%-22s %-5s %-10s %-8s %-8s %-8s %-8s %s\n", "server", "node", "role", "epoch",
                "serving", "primary", "etcd", "failovers_seen");
  }
  for (const std::string& address : all) {
    CliContext one = ctx;
    one.server = address;
    ClientOptions o;
    o.server = address;
    o.token = ctx.token;
    o.connect_timeout_ms = ctx.timeout_ms;
    o.reconnect_attempts = 0;
    auto c = Client::Connect(o);
    auto st = c.ok() ? (*c)->Stats(ctx.call()) : Result<ServerStatsSnapshot>(c.status());
    if (!st.ok()) {
      if (ctx.json) {
        std::printf("{\"server\":%s,\"error\":%s}\n", JsonString(address).c_str(),
                    JsonString(st.status().ToString()).c_str());
      } else {
        std::printf("%-22s unreachable: %s\n", address.c_str(), st.status().ToString().c_str());
      }
      ctx.exit_code = 1;
      continue;
    }
    std::map<std::string, uint64_t> s(st->counters.begin(), st->counters.end());
    if (s.count("cluster_role") == 0) {
      std::printf("%-22s single node (not in cluster mode)\n", address.c_str());
      continue;
    }
    const uint64_t primary = s["cluster_primary"];
    if (ctx.json) {
      std::printf("{\"server\":%s", JsonString(address).c_str());
      for (const auto& [k, v] : s) {
        if (k.rfind("cluster_", 0) == 0) {
          std::printf(",%s:%llu", JsonString(k).c_str(), (unsigned long long)v);
        }
      }
      std::printf("}\n");
      continue;
    }
    std::printf("%-22s %-5llu %-10s %-8llu %-8s %-8s %-8s %llu\n", address.c_str(),
                (unsigned long long)s["cluster_node"],
                RoleName(s["cluster_role"], s["cluster_membership"]).c_str(),
                (unsigned long long)s["cluster_epoch"], s["cluster_serving"] ? "yes" : "no",
                primary == UINT32_MAX ? "-" : std::to_string(primary).c_str(),
                s["cluster_etcd_ok"] ? "ok" : "DOWN",
                (unsigned long long)s["cluster_failovers_seen"]);
    for (const auto& [k, v] : s) {
      if (k.rfind("cluster_follower", 0) != 0 || k.find("_lag_ms") == std::string::npos) continue;
      const std::string f = k.substr(0, k.size() - 7);  // cluster_followerN
      std::printf("  follower %s: joined %s%s, behind %llu bytes + %llu segments, lag %llu ms\n",
                  f.substr(16).c_str(), s[f + "_joined"] ? "yes" : "no",
                  s[f + "_learner"] ? " (learner)" : "", (unsigned long long)s[f + "_behind_bytes"],
                  (unsigned long long)s[f + "_behind_segments"], (unsigned long long)v);
    }
  }
}

void RunClusterPromote(CliContext& ctx, uint32_t node, const std::string& etcd,
                       const std::string& prefix) {
  cluster::EtcdClientOptions o;
  o.endpoints = {etcd};
  auto c = cluster::EtcdClient::Create(o);
  if (!c.ok()) return (void)ctx.Fail(c.status());
  auto put = (*c)->Put(cluster::EtcdCoordinator::PromoteKey(prefix), std::to_string(node));
  if (!put.ok()) return (void)ctx.Fail(put.status());
  std::printf("asked replica %u to lead: the primary hands over once it has the whole log\n", node);
}

}  // namespace

void AddClusterCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* cluster =
      app.add_subcommand("cluster", "Cluster mode: status of the replicas, planned switchover");
  cluster->require_subcommand(1);
  auto servers = std::make_shared<std::vector<std::string>>();
  CLI::App* status = cluster->add_subcommand(
      "status", "Role, epoch, primary and etcd reachability of each replica; followers' lag");
  status->add_option("--servers", *servers, "Replicas' HOST:PORT (default: --server)")
      ->delimiter(',');
  status->callback([&ctx, servers] { RunClusterStatus(ctx, *servers); });
  struct PromoteArgs {
    uint32_t node = 0;
    std::string etcd = "http://127.0.0.1:2379";
    std::string prefix = "/tldb/";
  };
  auto args = std::make_shared<PromoteArgs>();
  CLI::App* promote = cluster->add_subcommand(
      "promote", "Planned switchover: NODE leads once it has the whole log (within a second)");
  promote->add_option("node", args->node, "The replica's node id")->required();
  promote->add_option("--etcd", args->etcd, "An etcd client URL")->capture_default_str();
  promote->add_option("--etcd-prefix", args->prefix, "The cluster's key prefix")
      ->capture_default_str();
  promote->callback([&ctx, args] { RunClusterPromote(ctx, args->node, args->etcd, args->prefix); });
}

}  // namespace tldb::cli
