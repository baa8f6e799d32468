// tldb cluster status --servers A,B,C: each replica's role, epoch and view of the primary, and
// the primary's followers' lag, from their STATS (docs/replication.md "Running a cluster").
#include <cstdio>
#include <map>

#include "commands.h"

namespace tldb::cli {

namespace {

const char* RoleName(uint64_t r) {
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
                (unsigned long long)s["cluster_node"], RoleName(s["cluster_role"]),
                (unsigned long long)s["cluster_epoch"], s["cluster_serving"] ? "yes" : "no",
                primary == UINT32_MAX ? "-" : std::to_string(primary).c_str(),
                s["cluster_etcd_ok"] ? "ok" : "DOWN",
                (unsigned long long)s["cluster_failovers_seen"]);
    for (const auto& [k, v] : s) {
      if (k.rfind("cluster_follower", 0) != 0 || k.find("_lag_ms") == std::string::npos) continue;
      const std::string f = k.substr(0, k.size() - 7);  // cluster_followerN
      std::printf("  follower %s: joined %s, behind %llu bytes + %llu segments, lag %llu ms\n",
                  f.substr(16).c_str(), s[f + "_joined"] ? "yes" : "no",
                  (unsigned long long)s[f + "_behind_bytes"],
                  (unsigned long long)s[f + "_behind_segments"], (unsigned long long)v);
    }
  }
}

}  // namespace

void AddClusterCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* cluster = app.add_subcommand("cluster", "Cluster mode: status of the replicas");
  cluster->require_subcommand(1);
  auto servers = std::make_shared<std::vector<std::string>>();
  CLI::App* status = cluster->add_subcommand(
      "status", "Role, epoch, primary and etcd reachability of each replica; followers' lag");
  status->add_option("--servers", *servers, "Replicas' HOST:PORT (default: --server)")
      ->delimiter(',');
  status->callback([&ctx, servers] { RunClusterStatus(ctx, *servers); });
}

}  // namespace tldb::cli
