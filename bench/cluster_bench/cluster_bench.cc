// cluster-bench: what replication costs and how fast it recovers (docs/benchmarks.md
// "Replication"). Starts one etcd, three tldb-servers in cluster mode and one single-node
// tldb-server, all on loopback on this machine, then:
//   append    synced appends from C connections (one request in flight each) for S seconds,
//             single node and the replicated primary alternating, R repeats: appends/s, p50 and
//             p99 latency, and per run the fdatasyncs per acknowledged append on every replica
//             and on the single node (STATS db_syncs), median and spread;
//   failover  kill -9 of the primary K times, each time the time until an append is
//             acknowledged again (ClusterClient), p50 and p99;
//   catchup   one follower killed, M MiB appended, the follower restarted: time until the
//             primary reports it caught up (STATS), in MB/s;
//   rebuild   one follower killed, M MiB appended, the primary's log compacted (full) after
//             the follower was absent longer than --retain-for-absent-s (2 s here), the
//             follower restarted: it is rebuilt from a snapshot of the primary; time until the
//             primary reports it caught up, and the snapshot's bytes (its STATS), in MB/s.
// Usage: cluster-bench [--connections C] [--seconds S] [--repeats R] [--failovers K]
//                      [--catchup-mib M] [--server PATH] [--etcd PATH]
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "common/latency_histogram.h"
#include "common/server_process.h"
#include "common/temp_dir.h"
#include "tldb/client.h"
#include "tldb/cluster_client.h"

namespace {

using tldb::common::ServerProcess;
using tldb::common::ServerProcessOptions;
using Clock = std::chrono::steady_clock;

struct Config {
  uint32_t connections = 16;
  double seconds = 5;
  uint32_t repeats = 3;
  uint32_t failovers = 5;
  uint32_t catchup_mib = 64;
  std::string server = "build/server/tldb-server";
  std::string etcd = "etcd";
  std::string cli = "build/tools/tldb";
  uint32_t switchovers = 3;
};

std::map<std::string, uint64_t> Stats(const std::string& address) {
  tldb::ClientOptions o;
  o.server = address;
  std::map<std::string, uint64_t> out;
  auto c = tldb::Client::Connect(o);
  if (!c.ok()) return out;
  auto s = (*c)->Stats();
  if (s.ok()) {
    for (const auto& [k, v] : s->counters) out[k] = v;
  }
  return out;
}

struct RunResult {
  double per_s = 0;
  double p50_us = 0, p99_us = 0;
  uint64_t acked = 0;  // appends acknowledged
};

// Synced appends from `connections` clients, one in flight each, for `seconds`.
RunResult Appends(const std::string& address, const Config& cfg, uint64_t* seq_base) {
  std::atomic<bool> stop{false};
  std::vector<tldb::common::LatencyHistogram> hist(cfg.connections);
  std::vector<std::thread> threads;
  std::atomic<uint64_t> done{0};
  for (uint32_t t = 0; t < cfg.connections; ++t) {
    threads.emplace_back([&, t] {
      tldb::ClientOptions o;
      o.server = address;
      auto c = tldb::Client::Connect(o);
      if (!c.ok()) return;
      const std::string payload(200, 'x');
      for (uint64_t i = 0; !stop; ++i) {
        const auto start = Clock::now();
        auto r = (*c)->Append("store", "bench:" + std::to_string((*seq_base + i * 131 + t) % 10000),
                              payload);
        if (!r.ok()) continue;
        hist[t].Add(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count()));
        done++;
      }
    });
  }
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(cfg.seconds));
  stop = true;
  for (auto& th : threads) th.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  *seq_base += 1'000'000;
  tldb::common::LatencyHistogram all;
  for (auto& h : hist) all.Merge(h);
  return {static_cast<double>(done.load()) / secs, all.Quantile(0.5) / 1e3,
          all.Quantile(0.99) / 1e3, done.load()};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double Quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

// The rebuild phase (see the top of this file). 0 on success.
int Rebuild(const Config& cfg, std::vector<std::unique_ptr<ServerProcess>>& nodes, int p,
            const std::string& dir) {
  std::printf(
      "# rebuild: a follower down while %u MiB are appended and the primary compacts, "
      "then restarted\n",
      cfg.catchup_mib);
  const int f = (p + 2) % 3;
  (void)nodes[f]->Kill();
  tldb::ClientOptions o;
  o.server = nodes[p]->address();
  auto c = tldb::Client::Connect(o);
  if (!c.ok()) return 1;
  // Random bytes: compaction compresses its output, and a snapshot of repeated bytes would be
  // a few MB whatever was appended.
  std::mt19937_64 rng(7);
  std::string payload(4000, '\0');
  const uint64_t n = (uint64_t{cfg.catchup_mib} << 20) / payload.size();
  for (uint64_t i = 0; i < n; ++i) {
    for (char& ch : payload) ch = static_cast<char>(rng());
    tldb::AppendOptions ao;
    ao.durability = tldb::Durability::kBuffered;
    (void)(*c)->Append("store", "rebuild:" + std::to_string(i % 100), payload, ao);
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));  // past --retain-for-absent-s
  auto compacted = (*c)->Compact("store", /*full=*/true, nullptr);
  if (!compacted.ok()) {
    std::printf("compaction failed: %s\n", compacted.status().ToString().c_str());
    return 1;
  }
  const auto start = Clock::now();
  (void)nodes[f]->Start();
  const std::string key = "cluster_follower" + std::to_string(f);
  for (;;) {
    auto st = Stats(nodes[p]->address());
    auto mine = Stats(nodes[f]->address());
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    if (mine["cluster_rebuilds"] >= 1 && st[key + "_joined"] == 1 &&
        st[key + "_behind_bytes"] == 0 && st[key + "_behind_segments"] == 0) {
      const uint64_t bytes = mine["cluster_rebuild_bytes"];
      std::printf(
          "rebuilt from a %.1f MB snapshot and caught up in %.2f s (restart included): "
          "%.0f MB/s\n",
          static_cast<double>(bytes) / 1e6, secs, static_cast<double>(bytes) / 1e6 / secs);
      return 0;
    }
    if (secs > 180) {
      std::printf("follower %d was not rebuilt (rebuilds %llu, rebuilding %llu); its log:\n", f,
                  (unsigned long long)mine["cluster_rebuilds"],
                  (unsigned long long)mine["cluster_rebuilding"]);
      std::fflush(stdout);
      (void)std::system(("tail -n 20 " + dir + "/node" + std::to_string(f) + ".log " + dir +
                         "/node" + std::to_string(p) + ".log")
                            .c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"cluster-bench: replicated vs single-node appends, failover and catch-up times"};
  app.add_option("--connections", cfg.connections, "Client connections")->capture_default_str();
  app.add_option("--seconds", cfg.seconds, "Seconds per append run")->capture_default_str();
  app.add_option("--repeats", cfg.repeats, "Append runs per target, alternating")
      ->capture_default_str();
  app.add_option("--failovers", cfg.failovers, "Primary kills")->capture_default_str();
  app.add_option("--catchup-mib", cfg.catchup_mib, "MiB appended while a follower is down")
      ->capture_default_str();
  app.add_option("--server", cfg.server, "tldb-server binary")->capture_default_str();
  app.add_option("--etcd", cfg.etcd, "etcd binary")->capture_default_str();
  app.add_option("--cli", cfg.cli, "tldb binary (for tldb cluster promote)")->capture_default_str();
  app.add_option("--switchovers", cfg.switchovers, "Planned switchovers of each kind")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);

  tldb::common::TempDir dir("tldb-cluster-bench");
  const uint16_t etcd_port = tldb::common::FreeLoopbackPort();
  const uint16_t etcd_peer = tldb::common::FreeLoopbackPort();
  const std::string etcd_url = "http://127.0.0.1:" + std::to_string(etcd_port);
  ServerProcessOptions eo;
  eo.port = etcd_port;
  eo.log_path = dir.path() + "/etcd.log";
  eo.die_with_parent = true;
  eo.command = {cfg.etcd,
                "--data-dir",
                dir.path() + "/etcd",
                "--listen-client-urls",
                etcd_url,
                "--advertise-client-urls",
                etcd_url,
                "--listen-peer-urls",
                "http://127.0.0.1:" + std::to_string(etcd_peer),
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:" + std::to_string(etcd_peer),
                "--initial-cluster",
                "default=http://127.0.0.1:" + std::to_string(etcd_peer)};
  ServerProcess etcd(eo);
  if (auto s = etcd.Start(); !s.ok()) {
    std::fprintf(stderr, "etcd: %s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<ServerProcess>> nodes;
  for (int n = 0; n < 3; ++n) {
    ServerProcessOptions o;
    o.binary = cfg.server;
    o.data_dir = dir.path() + "/node" + std::to_string(n);
    o.port = tldb::common::FreeLoopbackPort();
    o.log_path = dir.path() + "/node" + std::to_string(n) + ".log";
    o.die_with_parent = true;
    o.extra_args = {"--cluster", "etcd=" + etcd_url, "--node-id", std::to_string(n),
                    "--peer-listen",
                    "127.0.0.1:" + std::to_string(tldb::common::FreeLoopbackPort()), "--advertise",
                    "127.0.0.1:" + std::to_string(o.port),
                    // So that the rebuild phase need not wait 10 minutes for the primary to let go.
                    "--retain-for-absent-s", "2"};
    nodes.push_back(std::make_unique<ServerProcess>(o));
    if (auto s = nodes.back()->Start(); !s.ok()) {
      std::fprintf(stderr, "node %d: %s\n", n, s.ToString().c_str());
      return 1;
    }
  }
  ServerProcessOptions so;
  so.binary = cfg.server;
  so.data_dir = dir.path() + "/single";
  so.log_path = dir.path() + "/single.log";
  so.die_with_parent = true;
  ServerProcess single(so);
  if (auto s = single.Start(); !s.ok()) {
    std::fprintf(stderr, "single: %s\n", s.ToString().c_str());
    return 1;
  }
  tldb::ClusterClientOptions co;
  for (auto& n : nodes) co.servers.push_back(n->address());
  auto cluster = tldb::ClusterClient::Connect(co);
  if (!cluster.ok() || !(*cluster)->Append("store", "warmup", "x").ok()) {
    std::fprintf(stderr, "the cluster does not take appends\n");
    return 1;
  }
  auto primary_index = [&]() -> int {
    for (int n = 0; n < 3; ++n) {
      if (Stats(nodes[n]->address())["cluster_serving"] == 1) return n;
    }
    return -1;
  };

  std::printf(
      "# synced appends, 200 B, %u connections x 1 in flight, %.0f s per run, "
      "10,000 timelines uniform\n",
      cfg.connections, cfg.seconds);
  std::printf("%-8s %-12s %12s %10s %10s\n", "repeat", "target", "appends/s", "p50 us", "p99 us");
  std::map<std::string, std::vector<double>> rates;
  // fdatasyncs per acknowledged append, per run: the db_syncs (fdatasync calls on segments)
  // each server made during the run over the appends the clients had acknowledged.
  std::map<std::string, std::vector<double>> syncs_per_append;
  auto syncs = [&](const std::string& address) {
    return static_cast<double>(Stats(address)["db_syncs"]);
  };
  uint64_t seq_base = 0;
  for (uint32_t r = 0; r < cfg.repeats; ++r) {
    const int p = primary_index();
    const std::string targets[2][2] = {{"single", single.address()},
                                       {"replicated", nodes[std::max(p, 0)]->address()}};
    for (int i = 0; i < 2; ++i) {
      const auto& t = targets[(r + static_cast<uint32_t>(i)) % 2];
      const bool replicated = t[0] == "replicated";
      std::vector<double> before;
      if (replicated) {
        for (auto& n : nodes) before.push_back(syncs(n->address()));
      } else {
        before.push_back(syncs(single.address()));
      }
      const RunResult res = Appends(t[1], cfg, &seq_base);
      rates[t[0]].push_back(res.per_s);
      std::string per;
      const double acked = std::max<double>(1, static_cast<double>(res.acked));
      if (replicated) {
        for (int n = 0; n < 3; ++n) {
          const double v = (syncs(nodes[n]->address()) - before[n]) / acked;
          syncs_per_append[n == p ? "primary" : "follower"].push_back(v);
          char b[64];
          std::snprintf(b, sizeof b, " node%d(%s) %.3f", n, n == p ? "primary" : "follower", v);
          per += b;
        }
      } else {
        const double v = (syncs(single.address()) - before[0]) / acked;
        syncs_per_append["single"].push_back(v);
        char b[64];
        std::snprintf(b, sizeof b, " %.3f", v);
        per += b;
      }
      std::printf("%-8u %-12s %12.0f %10.0f %10.0f   fdatasyncs/append:%s\n", r + 1, t[0].c_str(),
                  res.per_s, res.p50_us, res.p99_us, per.c_str());
      std::fflush(stdout);
    }
  }
  const double ratio = Median(rates["replicated"]) / std::max(1.0, Median(rates["single"]));
  std::printf("median replicated / single: %.2f (spread: single %.0f-%.0f, replicated %.0f-%.0f)\n",
              ratio, *std::min_element(rates["single"].begin(), rates["single"].end()),
              *std::max_element(rates["single"].begin(), rates["single"].end()),
              *std::min_element(rates["replicated"].begin(), rates["replicated"].end()),
              *std::max_element(rates["replicated"].begin(), rates["replicated"].end()));
  std::printf(
      "# fdatasyncs per acknowledged append (segment fdatasyncs during a run / appends the "
      "clients had acknowledged), median (min-max) over the runs\n");
  for (const char* role : {"primary", "follower", "single"}) {
    const auto& v = syncs_per_append[role];
    if (v.empty()) continue;
    std::printf("%-9s %.3f (%.3f-%.3f) over %zu values\n", role, Median(v),
                *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()),
                v.size());
  }

  std::printf("# failover: kill -9 of the primary, time until an append is acknowledged again\n");
  std::vector<double> failover_ms;
  for (uint32_t k = 0; k < cfg.failovers; ++k) {
    const int p = primary_index();
    if (p < 0) break;
    (void)nodes[p]->Kill();
    const auto start = Clock::now();
    auto r = (*cluster)->Append("store", "failover", "after kill " + std::to_string(k));
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (r.ok()) failover_ms.push_back(ms);
    std::printf("kill %u of node %d: %.0f ms%s\n", k + 1, p, ms, r.ok() ? "" : " (failed)");
    (void)nodes[p]->Start();
    std::this_thread::sleep_for(std::chrono::seconds(1));  // it rejoins
  }
  std::printf("failover p50 %.0f ms, p99 %.0f ms over %zu kills\n", Quantile(failover_ms, 0.5),
              Quantile(failover_ms, 0.99), failover_ms.size());

  std::printf(
      "# planned switchover: SIGTERM of the primary, time until an append is "
      "acknowledged again; tldb cluster promote, time until the named replica serves\n");
  std::vector<double> term_ms, promote_ms;
  for (uint32_t k = 0; k < cfg.switchovers; ++k) {
    const int p = primary_index();
    if (p < 0) break;
    const auto start = Clock::now();
    (void)nodes[p]->Stop();
    auto r = (*cluster)->Append("store", "switchover", "after SIGTERM " + std::to_string(k));
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (r.ok()) term_ms.push_back(ms);
    std::printf("SIGTERM %u of node %d: %.0f ms (stop included)%s\n", k + 1, p, ms,
                r.ok() ? "" : " (failed)");
    (void)nodes[p]->Start();
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  for (uint32_t k = 0; k < cfg.switchovers; ++k) {
    const int p = primary_index();
    if (p < 0) break;
    const int target = (p + 1) % 3;
    const auto start = Clock::now();
    const std::string cmd = cfg.cli + " cluster promote " + std::to_string(target) + " --etcd " +
                            etcd_url + " >/dev/null";
    if (std::system(cmd.c_str()) != 0) {
      std::printf("promote failed: %s\n", cmd.c_str());
      break;
    }
    double ms = 0;
    while (Stats(nodes[target]->address())["cluster_serving"] != 1) {
      ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (ms > 10'000) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    promote_ms.push_back(ms);
    std::printf("promote %u: node %d to node %d: %.0f ms\n", k + 1, p, target, ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::printf("SIGTERM switchover p50 %.0f ms, max %.0f ms; promote p50 %.0f ms, max %.0f ms\n",
              Quantile(term_ms, 0.5), Quantile(term_ms, 1.0), Quantile(promote_ms, 0.5),
              Quantile(promote_ms, 1.0));

  std::printf("# catch-up: a follower down while %u MiB are appended, then restarted\n",
              cfg.catchup_mib);
  const int p = primary_index();
  const int f = (p + 1) % 3;
  (void)nodes[f]->Kill();
  {
    tldb::ClientOptions o;
    o.server = nodes[p]->address();
    auto c = tldb::Client::Connect(o);
    const std::string payload(4000, 'c');
    const uint64_t n = (uint64_t{cfg.catchup_mib} << 20) / payload.size();
    for (uint64_t i = 0; i < n; ++i) {
      tldb::AppendOptions ao;
      ao.durability = tldb::Durability::kBuffered;
      (void)(*c)->Append("store", "catchup:" + std::to_string(i % 100), payload, ao);
    }
  }
  const auto start = Clock::now();
  (void)nodes[f]->Start();
  const std::string key = "cluster_follower" + std::to_string(f);
  double secs = 0;
  for (;;) {
    auto st = Stats(nodes[p]->address());
    secs = std::chrono::duration<double>(Clock::now() - start).count();
    if (st[key + "_joined"] == 1 && st[key + "_behind_bytes"] == 0 &&
        st[key + "_behind_segments"] == 0) {
      break;
    }
    if (secs > 120) {
      std::printf(
          "follower %d did not catch up; primary says joined %llu behind %llu bytes + "
          "%llu segments; its log:\n",
          f, (unsigned long long)st[key + "_joined"], (unsigned long long)st[key + "_behind_bytes"],
          (unsigned long long)st[key + "_behind_segments"]);
      std::fflush(stdout);
      (void)std::system(("tail -n 20 " + dir.path() + "/node" + std::to_string(f) + ".log " +
                         dir.path() + "/node" + std::to_string(p) + ".log")
                            .c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("caught up %u MiB in %.2f s (restart included): %.0f MB/s\n", cfg.catchup_mib, secs,
              static_cast<double>(uint64_t{cfg.catchup_mib} << 20) / 1e6 / secs);
  // The rebuild needs the stopped follower's position in a segment the compaction rewrites: the
  // primary keeps the newest sealed segment for its other follower, so more than one segment
  // (64 MiB of payload with the records' headers) must be appended while it is down.
  if (cfg.catchup_mib < 64) {
    std::printf(
        "# rebuild: skipped (--catchup-mib %u: it needs at least 64 MiB, more than one segment)\n",
        cfg.catchup_mib);
    return 0;
  }
  return Rebuild(cfg, nodes, primary_index(), dir.path());
}
