// tldb cluster status --servers A,B,C: each replica's role, epoch and view of the primary, and
// the primary's followers' lag, from their STATS. tldb cluster promote NODE --etcd URL: a
// planned switchover to NODE (docs/replication.md "Watching a cluster", "Switchover").
// tldb cluster init --partitions N --servers 0,1,2,3,4: the first slot map of a sharded
// cluster; tldb cluster map: the map with its primaries and addresses (docs/cluster.md).
// tldb cluster move P --from S --to T: moves a replica (ReplicaMove), then shows the new
// replica's catch-up from STATS until it votes. tldb cluster rebalance: spreads the primaries
// over the servers by handovers (PrimaryBalance). tldb cluster controller: which server is the
// controller and what it does (Controller's keys in etcd). tldb cluster split P [--at SLOT]:
// gives P's upper slots to a new partition on the same servers (PartitionSplit).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster/controller.h"
#include "cluster/etcd_client.h"
#include "cluster/etcd_coordinator.h"
#include "cluster/partition_split.h"
#include "cluster/primary_balance.h"
#include "cluster/replica_move.h"
#include "cluster/slot_map_store.h"
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
    if (s.count("shard_map_version") != 0 && !ctx.json) {
      // A sharded server (docs/cluster.md): one line per partition it holds a replica of, from
      // its cluster_p<P>_* counters.
      std::printf("%-22s server %llu, slot map version %llu, %llu partitions here%s\n",
                  address.c_str(), (unsigned long long)s["shard_server"],
                  (unsigned long long)s["shard_map_version"],
                  (unsigned long long)s["shard_partitions_local"],
                  s["shard_controller_active"] ? ", the controller" : "");
      for (const auto& [k, v] : s) {
        if (k.rfind("cluster_p", 0) != 0 || k.size() < 14 ||
            k.compare(k.size() - 5, 5, "_node") != 0) {
          continue;
        }
        const std::string p = k.substr(0, k.size() - 4);  // cluster_p<P>_
        const uint64_t prim = s[p + "primary"];
        std::printf("  partition %-6s %-5llu %-10s %-8llu %-8s %-8s %-8s %llu\n",
                    p.substr(9, p.size() - 10).c_str(), (unsigned long long)v,
                    RoleName(s[p + "role"], s[p + "membership"]).c_str(),
                    (unsigned long long)s[p + "epoch"], s[p + "serving"] ? "yes" : "no",
                    prim == UINT32_MAX ? "-" : std::to_string(prim).c_str(),
                    s[p + "etcd_ok"] ? "ok" : "DOWN", (unsigned long long)s[p + "failovers_seen"]);
      }
      continue;
    }
    if (s.count("cluster_role") == 0 && s.count("shard_map_version") == 0) {
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

void RunClusterPromote(CliContext& ctx, uint32_t node, uint32_t partition, const std::string& etcd,
                       const std::string& prefix) {
  cluster::EtcdClientOptions o;
  o.endpoints = {etcd};
  auto c = cluster::EtcdClient::Create(o);
  if (!c.ok()) return (void)ctx.Fail(c.status());
  auto put =
      (*c)->Put(cluster::EtcdCoordinator::PromoteKey(prefix, partition), std::to_string(node));
  if (!put.ok()) return (void)ctx.Fail(put.status());
  std::printf(
      "asked replica %u of partition %u to lead: the primary hands over once it has the whole "
      "log\n",
      node, partition);
}

Result<std::unique_ptr<cluster::EtcdClient>> ConnectEtcd(const std::string& etcd) {
  cluster::EtcdClientOptions o;
  o.endpoints = {etcd};
  return cluster::EtcdClient::Create(o);
}

std::string Ranges(const proto::PartitionEntry& p) {
  std::string out;
  for (const proto::SlotRange& r : p.ranges) {
    out += (out.empty() ? "" : ",") + std::to_string(r.first) + "-" + std::to_string(r.last);
  }
  return out;
}

void PrintMap(const proto::SlotMap& map, bool json) {
  if (json) {
    std::printf("{\"version\":%llu,\"partitions\":[", (unsigned long long)map.version());
    bool first = true;
    for (const proto::PartitionEntry& p : map.partitions()) {
      std::printf("%s{\"id\":%u,\"slots\":%s,\"replicas\":[", first ? "" : ",", p.id,
                  JsonString(Ranges(p)).c_str());
      for (size_t i = 0; i < p.replicas.size(); ++i) {
        std::printf("%s%u", i ? "," : "", p.replicas[i]);
      }
      const bool spare = p.spare != proto::kNoServer;
      std::printf("],\"spare\":%s,\"spare_for\":%s,\"primary\":%s,\"address\":%s}",
                  spare ? std::to_string(p.spare).c_str() : "null",
                  spare ? std::to_string(p.spare_for).c_str() : "null",
                  p.primary == proto::kNoServer ? "null" : std::to_string(p.primary).c_str(),
                  JsonString(map.AddressOf(p.primary)).c_str());
      first = false;
    }
    std::printf("]}\n");
    return;
  }
  std::printf("slot map version %llu: %zu partitions, %zu servers registered\n",
              (unsigned long long)map.version(), map.partitions().size(), map.servers().size());
  std::printf("%-9s %-24s %-14s %-8s %s\n", "partition", "slots", "replicas", "primary",
              "primary address");
  // (replicas "0,1,2 +3>1": a move running, server 3's spare to take server 1's position)
  for (const proto::PartitionEntry& p : map.partitions()) {
    std::string replicas;
    for (uint32_t r : p.replicas) replicas += (replicas.empty() ? "" : ",") + std::to_string(r);
    // A move running: "+T>S", server T's spare taking S's position.
    if (p.spare != proto::kNoServer) {
      replicas += " +" + std::to_string(p.spare) + ">" + std::to_string(p.spare_for);
    }
    const bool known = p.primary != proto::kNoServer;
    const std::string address = known ? map.AddressOf(p.primary) : "";
    std::printf("%-9u %-24s %-14s %-8s %s\n", p.id, Ranges(p).c_str(), replicas.c_str(),
                known ? std::to_string(p.primary).c_str() : "-",
                address.empty() ? "-" : address.c_str());
  }
}

void RunClusterInit(CliContext& ctx, uint32_t partitions, const std::vector<uint32_t>& servers,
                    uint32_t replicas, const std::string& etcd, const std::string& prefix) {
  auto map = proto::SlotMap::Even(1, partitions, servers, replicas);
  if (!map.ok()) return (void)ctx.Fail(map.status());
  auto c = ConnectEtcd(etcd);
  if (!c.ok()) return (void)ctx.Fail(c.status());
  cluster::SlotMapStore store(**c, prefix);
  auto created = store.Create(*map);
  if (!created.ok()) return (void)ctx.Fail(created.status());
  PrintMap(created->map, ctx.json);
}

void RunClusterMap(CliContext& ctx, const std::string& etcd, const std::string& prefix) {
  auto c = ConnectEtcd(etcd);
  if (!c.ok()) return (void)ctx.Fail(c.status());
  cluster::SlotMapStore store(**c, prefix);
  auto stored = store.Load();
  if (!stored.ok()) return (void)ctx.Fail(stored.status());
  auto serving = store.Serving(stored->map);
  if (!serving.ok()) return (void)ctx.Fail(serving.status());
  PrintMap(*serving, ctx.json);
}

// A long cluster command's progress: each step printed with the seconds since it started.
struct StepLog {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  void operator()(std::string_view line) const {
    std::printf("[%6.1fs] %.*s\n", seconds(), (int)line.size(), line.data());
    std::fflush(stdout);
  }
};

void RunClusterSplit(CliContext& ctx, const cluster::PartitionSplitRequest& request,
                     const std::string& etcd, const std::string& prefix) {
  const StepLog steps;
  auto c = ConnectEtcd(etcd);
  if (!c.ok()) return (void)ctx.Fail(c.status());
  cluster::PartitionSplit split(**c, prefix);
  auto done = split.Run(request, steps);
  if (!done.ok()) return (void)ctx.Fail(done.status());
  if (ctx.json) {
    std::printf("{\"version\":%llu,\"child\":%u,\"at\":%u,\"done_before\":%s}\n",
                static_cast<unsigned long long>(done->version), done->child, done->at,
                done->done_before ? "true" : "false");
  }
}

// STATS counters of the server at `address` (empty when it does not answer).
std::map<std::string, uint64_t> StatsOf(const CliContext& ctx, const std::string& address) {
  ClientOptions o;
  o.server = address;
  o.token = ctx.token;
  o.connect_timeout_ms = ctx.timeout_ms;
  o.reconnect_attempts = 0;
  auto c = Client::Connect(o);
  auto st = c.ok() ? (*c)->Stats(ctx.call()) : Result<ServerStatsSnapshot>(c.status());
  if (!st.ok()) return {};
  return {st->counters.begin(), st->counters.end()};
}

// One line of a replica's catch-up: its server's STATS (membership: 0 voter, 1 learner,
// 2 undecided; rebuild bytes) and the primary's view of it (cluster_p<P>_follower<node>_*).
// True once it votes.
bool ShowCatchUp(CliContext& ctx, cluster::SlotMapStore& store, const StepLog& steps,
                 uint32_t partition, uint32_t node, uint32_t server, const std::string& address,
                 bool spare, std::string* last) {
  const std::string p = "cluster_p" + std::to_string(partition) + "_";
  const std::string f = p + "follower" + std::to_string(node) + "_";
  auto s = StatsOf(ctx, address);
  std::string primary_address;
  if (auto stored = store.Load(); stored.ok()) {
    if (auto serving = store.Serving(stored->map); serving.ok()) {
      const proto::PartitionEntry* e = serving->Partition(partition);
      if (e != nullptr && e->primary != proto::kNoServer) {
        primary_address = serving->AddressOf(e->primary);
      }
    }
  }
  auto prim =
      primary_address.empty() ? std::map<std::string, uint64_t>{} : StatsOf(ctx, primary_address);
  const bool known = s.count(p + "membership") != 0;
  const uint64_t membership = known ? s[p + "membership"] : 2;
  // A follower's lag means something once the primary counts it as joined.
  char behind[96] = "not joined at the primary yet";
  if (prim[f + "joined"] != 0) {
    std::snprintf(behind, sizeof behind, "%llu bytes + %llu segments behind the primary",
                  (unsigned long long)prim[f + "behind_bytes"],
                  (unsigned long long)prim[f + "behind_segments"]);
  }
  char line[512];
  std::snprintf(line, sizeof line,
                "catch-up: %s %u on server %u is %s%s, %.1f MB received by rebuild, %s",
                spare ? "the spare, replica" : "replica", node, server,
                !known            ? "not reporting yet"
                : spare           ? "following"
                : membership == 0 ? "a voter"
                : membership == 1 ? "a learner"
                                  : "undecided",
                s[p + "rebuilding"] ? " (rebuilding from a snapshot)" : "",
                static_cast<double>(s[p + "rebuild_bytes"]) / 1e6, behind);
  if (::isatty(STDOUT_FILENO) != 0) {
    std::printf("\r[%6.1fs] %s\033[K", steps.seconds(), line);
  } else if (line != *last) {
    std::printf("[%6.1fs] %s\n", steps.seconds(), line);
  }
  std::fflush(stdout);
  *last = line;
  return known && !spare && membership == 0;
}

void RunClusterMove(CliContext& ctx, cluster::ReplicaMoveRequest request, bool cancel,
                    int64_t wait_s, const std::string& etcd, const std::string& prefix) {
  const StepLog steps;
  auto c = ConnectEtcd(etcd);
  if (!c.ok()) return (void)ctx.Fail(c.status());
  cluster::ReplicaMove move(**c, prefix);
  if (cancel) {
    auto v = move.Cancel(request.partition);
    if (!v.ok()) return (void)ctx.Fail(v.status());
    steps("slot map version " + std::to_string(*v) + " written: partition " +
          std::to_string(request.partition) +
          " has no spare; its server stops it and sets its directory aside");
    return;
  }
  cluster::SlotMapStore store(**c, prefix);
  const bool tty = ::isatty(STDOUT_FILENO) != 0;
  std::string last;
  std::string to_address;
  if (auto servers = store.Servers(); servers.ok() && servers->count(request.to) != 0) {
    to_address = servers->at(request.to);
  }
  uint32_t spare_node = 0;
  if (auto stored = store.Load(); stored.ok()) {
    if (const proto::PartitionEntry* e = stored->map.Partition(request.partition)) {
      spare_node = static_cast<uint32_t>(e->replicas.size());
    }
  }
  bool shown = false;
  request.catch_up_timeout_ms = wait_s == 0 ? request.timeout_ms : wait_s * 1000;
  request.while_catching_up = [&] {
    shown = true;
    (void)ShowCatchUp(ctx, store, steps, request.partition, spare_node, request.to, to_address,
                      /*spare=*/true, &last);
  };
  auto done = move.Run(request, [&](std::string_view line) {
    if (shown && tty) std::printf("\n");
    shown = false;
    steps(line);
  });
  if (shown && tty) std::printf("\n");
  if (!done.ok()) return (void)ctx.Fail(done.status());
  if (wait_s == 0) return;
  // Replica k's last catch-up (the frames since the spare last caught up) until it votes.
  last.clear();
  while (!ShowCatchUp(ctx, store, steps, request.partition, done->node, request.to, done->address,
                      /*spare=*/false, &last)) {
    if (steps.seconds() > static_cast<double>(wait_s)) {
      if (tty) std::printf("\n");
      return (void)ctx.Fail(Status::TimedOut("the new replica does not vote yet after " +
                                             std::to_string(wait_s) +
                                             " s (the move goes on; watch tldb cluster status)"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (tty) std::printf("\n");
  std::printf(
      "[%6.1fs] done: partition %u's replica %u runs on server %u and votes (slot map "
      "version %llu)\n",
      steps.seconds(), request.partition, done->node, request.to,
      (unsigned long long)done->version);
}

void RunClusterRebalance(CliContext& ctx, bool dry_run, int64_t timeout_s, const std::string& etcd,
                         const std::string& prefix) {
  auto c = ConnectEtcd(etcd);
  if (!c.ok()) return (void)ctx.Fail(c.status());
  cluster::SlotMapStore store(**c, prefix);
  auto stored = store.Load();
  if (!stored.ok()) return (void)ctx.Fail(stored.status());
  auto serving = store.Serving(stored->map);
  if (!serving.ok()) return (void)ctx.Fail(serving.status());
  auto print = [](std::string_view line) {
    std::printf("%.*s\n", (int)line.size(), line.data());
    std::fflush(stdout);
  };
  if (dry_run) {
    const auto plan = cluster::PrimaryBalance::Plan(*serving);
    std::printf("%zu of %zu partitions would change primary\n", plan.size(),
                serving->partitions().size());
    for (const cluster::PrimaryMove& m : plan) {
      std::printf("partition %u: primary from server %s to server %u (replica %u)\n", m.partition,
                  m.from == proto::kNoServer ? "-" : std::to_string(m.from).c_str(), m.to, m.node);
    }
    return;
  }
  cluster::PrimaryBalance balance(**c, prefix);
  auto done = balance.Run(*serving, timeout_s * 1000, print);
  if (!done.ok()) return (void)ctx.Fail(done.status());
  std::printf("done: %zu handovers\n", done->size());
}

void RunClusterController(CliContext& ctx, const std::string& etcd, const std::string& prefix) {
  auto c = ConnectEtcd(etcd);
  if (!c.ok()) return (void)ctx.Fail(c.status());
  auto holder = (*c)->Get(cluster::Controller::Key(prefix));
  if (!holder.ok()) return (void)ctx.Fail(holder.status());
  auto status = (*c)->Get(cluster::Controller::StatusKey(prefix));
  if (!status.ok()) return (void)ctx.Fail(status.status());
  if (ctx.json) {
    std::printf("{\"controller\":%s,\"status\":%s}\n", *holder ? (*holder)->value.c_str() : "null",
                *status ? (*status)->value.c_str() : "null");
    return;
  }
  if (!*holder) {
    std::printf("no controller (%s is absent): no sharded server runs, or one takes over now\n",
                cluster::Controller::Key(prefix).c_str());
    ctx.exit_code = 1;
    return;
  }
  try {
    const auto h = nlohmann::json::parse((*holder)->value);
    std::printf("controller: server %u at %s (epoch %lld)\n", h.at("server").get<uint32_t>(),
                h.at("client").get<std::string>().c_str(), (long long)(*holder)->create_revision);
    if (!*status) return;
    const auto st = nlohmann::json::parse((*status)->value);
    std::printf("last action: %s\n", st.at("last_action").get<std::string>().c_str());
    for (const auto& line : st.at("pending")) {
      std::printf("pending: %s\n", line.get<std::string>().c_str());
    }
    for (const auto& line : st.at("blocked")) {
      std::printf("blocked: %s\n", line.get<std::string>().c_str());
    }
  } catch (const nlohmann::json::exception& e) {
    return (void)ctx.Fail(
        Status::Corruption("controller keys do not parse: " + std::string(e.what())));
  }
}

}  // namespace

void AddClusterCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* cluster = app.add_subcommand(
      "cluster", "Cluster mode: status of the replicas, planned switchover, slot map");
  cluster->require_subcommand(1);
  auto servers = std::make_shared<std::vector<std::string>>();
  CLI::App* status = cluster->add_subcommand(
      "status", "Role, epoch, primary and etcd reachability of each replica; followers' lag");
  status->add_option("--servers", *servers, "Replicas' HOST:PORT (default: --server)")
      ->delimiter(',');
  status->callback([&ctx, servers] { RunClusterStatus(ctx, *servers); });
  struct PromoteArgs {
    uint32_t node = 0;
    uint32_t partition = 0;
    std::string etcd = "http://127.0.0.1:2379";
    std::string prefix = "/tldb/";
  };
  auto args = std::make_shared<PromoteArgs>();
  CLI::App* promote = cluster->add_subcommand(
      "promote", "Planned switchover: NODE leads once it has the whole log (within a second)");
  promote->add_option("node", args->node, "The replica's node id")->required();
  promote
      ->add_option("--partition", args->partition,
                   "The partition (sharded cluster, docs/cluster.md); 0 when unsharded")
      ->capture_default_str();
  promote->add_option("--etcd", args->etcd, "An etcd client URL")->capture_default_str();
  promote->add_option("--etcd-prefix", args->prefix, "The cluster's key prefix")
      ->capture_default_str();
  promote->callback([&ctx, args] {
    RunClusterPromote(ctx, args->node, args->partition, args->etcd, args->prefix);
  });
  struct InitArgs {
    uint32_t partitions = 0;
    std::vector<uint32_t> servers;
    uint32_t replicas = 3;
  };
  auto init_args = std::make_shared<InitArgs>();
  CLI::App* init = cluster->add_subcommand(
      "init",
      "Sharded cluster: write the first slot map (version 1) to etcd; refused if one exists");
  init->add_option("--partitions", init_args->partitions, "Partitions (equal slot ranges)")
      ->required()
      ->check(CLI::Range(uint32_t{1}, proto::kPartitionsMax));
  init->add_option("--servers", init_args->servers,
                   "Server ids (tldb-server --node-id), e.g. 0,1,2")
      ->required()
      ->delimiter(',');
  // Two at least: a replica counts its own promise only with a peer's (docs/cluster.md).
  init->add_option("--replicas", init_args->replicas,
                   "Replicas per partition (2..7), placed round-robin over --servers")
      ->check(CLI::Range(uint32_t{2}, proto::kReplicasMax))
      ->capture_default_str();
  init->add_option("--etcd", args->etcd, "An etcd client URL")->capture_default_str();
  init->add_option("--etcd-prefix", args->prefix, "The cluster's key prefix")
      ->capture_default_str();
  init->callback([&ctx, args, init_args] {
    RunClusterInit(ctx, init_args->partitions, init_args->servers, init_args->replicas, args->etcd,
                   args->prefix);
  });
  CLI::App* map = cluster->add_subcommand(
      "map", "Sharded cluster: the slot map, each partition's slots, replicas and primary");
  map->add_option("--etcd", args->etcd, "An etcd client URL")->capture_default_str();
  map->add_option("--etcd-prefix", args->prefix, "The cluster's key prefix")->capture_default_str();
  map->callback([&ctx, args] { RunClusterMap(ctx, args->etcd, args->prefix); });
  struct MoveArgs {
    cluster::ReplicaMoveRequest request;
    int64_t timeout_s = 60;
    int64_t wait_s = 3600;
    bool cancel = false;
  };
  auto move_args = std::make_shared<MoveArgs>();
  CLI::App* move = cluster->add_subcommand(
      "move",
      "Sharded cluster: move partition P's replica from server S to server T (docs/cluster.md)");
  move->add_option("partition", move_args->request.partition, "The partition")->required();
  move->add_option("--from", move_args->request.from, "The server id the replica leaves");
  move->add_option("--to", move_args->request.to, "The server id it moves to");
  move->add_flag("--cancel", move_args->cancel,
                 "Take the partition's spare (a move not finished) out of the map instead");
  move->add_option("--timeout-s", move_args->timeout_s,
                   "Bound on the handover and on the new replica starting")
      ->capture_default_str();
  move->add_option("--wait-s", move_args->wait_s,
                   "Bound on the spare's catch-up, then show the new replica's until it "
                   "votes, at most this long in all (0: the catch-up bounded by --timeout-s, "
                   "and do not wait for the vote)")
      ->capture_default_str();
  move->add_option("--etcd", args->etcd, "An etcd client URL")->capture_default_str();
  move->add_option("--etcd-prefix", args->prefix, "The cluster's key prefix")
      ->capture_default_str();
  struct SplitArgs {
    cluster::PartitionSplitRequest request;
    int32_t at = -1;
    int64_t timeout_s = 60;
  };
  auto split_args = std::make_shared<SplitArgs>();
  CLI::App* split = cluster->add_subcommand(
      "split",
      "Sharded cluster: give partition P's slots from SLOT on (default: its upper half) to a new "
      "partition on the same servers (docs/cluster.md)");
  split->add_option("partition", split_args->request.partition, "The partition")->required();
  split->add_option("--at", split_args->at,
                    "The first slot the new partition takes (default: the upper half of P's "
                    "slots, by count; give it to make a re-run find the split done)");
  split
      ->add_option("--timeout-s", split_args->timeout_s,
                   "Bound on each wait (the freeze, the clones, the new partition's primary)")
      ->capture_default_str();
  split->add_option("--etcd", args->etcd, "An etcd client URL")->capture_default_str();
  split->add_option("--etcd-prefix", args->prefix, "The cluster's key prefix")
      ->capture_default_str();
  split->callback([&ctx, args, split_args] {
    cluster::PartitionSplitRequest r = split_args->request;
    if (split_args->at >= 0) {
      if (split_args->at >= static_cast<int32_t>(proto::kSlotCount)) {
        return (void)ctx.Fail(Status::InvalidArgument("--at " + std::to_string(split_args->at) +
                                                      ": slots are 0.." +
                                                      std::to_string(proto::kSlotCount - 1)));
      }
      r.at = static_cast<uint16_t>(split_args->at);
    }
    r.timeout_ms = split_args->timeout_s * 1000;
    RunClusterSplit(ctx, r, args->etcd, args->prefix);
  });
  struct RebalanceArgs {
    bool dry_run = false;
    int64_t timeout_s = 60;
  };
  auto rebalance_args = std::make_shared<RebalanceArgs>();
  CLI::App* rebalance = cluster->add_subcommand(
      "rebalance",
      "Sharded cluster: spread the partitions' primaries over the servers (handovers; replicas "
      "stay)");
  rebalance->add_flag("--dry-run", rebalance_args->dry_run, "Print the handovers only");
  rebalance
      ->add_option("--timeout-s", rebalance_args->timeout_s,
                   "Bound on each handover (one partition at a time)")
      ->capture_default_str();
  rebalance->add_option("--etcd", args->etcd, "An etcd client URL")->capture_default_str();
  rebalance->add_option("--etcd-prefix", args->prefix, "The cluster's key prefix")
      ->capture_default_str();
  rebalance->callback([&ctx, args, rebalance_args] {
    RunClusterRebalance(ctx, rebalance_args->dry_run, rebalance_args->timeout_s, args->etcd,
                        args->prefix);
  });
  CLI::App* controller = cluster->add_subcommand(
      "controller",
      "Sharded cluster: which server is the controller, its last action, the replacements "
      "pending or blocked");
  controller->add_option("--etcd", args->etcd, "An etcd client URL")->capture_default_str();
  controller->add_option("--etcd-prefix", args->prefix, "The cluster's key prefix")
      ->capture_default_str();
  controller->callback([&ctx, args] { RunClusterController(ctx, args->etcd, args->prefix); });
  move->callback([&ctx, args, move_args, move] {
    cluster::ReplicaMoveRequest r = move_args->request;
    r.timeout_ms = move_args->timeout_s * 1000;
    if (!move_args->cancel && (move->count("--from") == 0 || move->count("--to") == 0)) {
      return (void)ctx.Fail(Status::InvalidArgument("tldb cluster move needs --from and --to"));
    }
    RunClusterMove(ctx, r, move_args->cancel, move_args->wait_s, args->etcd, args->prefix);
  });
}

}  // namespace tldb::cli
