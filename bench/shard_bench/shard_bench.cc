// shard-bench: what sharding costs (docs/benchmarks.md "Sharding"). For each partition count P
// (default 1, 2, 4) it starts one etcd and the same number of tldb-servers (default 4) on
// loopback, writes a slot map of P partitions of three replicas over them (`tldb cluster init`),
// and measures, with ClusterClient (one per connection, routed by the map):
//   append   synced appends of 200 B from C connections (one in flight each) for S seconds, to
//            10,000 timelines chosen uniformly, then skewed (Zipf, s = 1.1: a few hot timelines,
//            so a few hot partitions): appends/s, p50 and p99;
//   moved    (P > 1) a request sent to a server that holds no replica of its timeline's
//            partition, answered MOVED, against the same request at the partition's primary:
//            p50 and p99 of each round trip, and of CLUSTER_MAP (the map fetch a MOVED with a
//            newer version costs once).
// Each repeat runs every P, in alternating order (1,2,4 then 4,2,1, ...), each on a fresh
// cluster; the summary prints the median and the spread of every figure, and each repeat's ratio
// to P = 1. Every process shares this machine's cores: read the figures as cost per operation,
// not as scale.
// Usage: shard-bench [--partitions 1,2,4] [--servers 4] [--connections 16] [--seconds 5]
//                    [--repeats 3] [--server PATH] [--cli PATH] [--etcd PATH]
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/latency_histogram.h"
#include "common/server_process.h"
#include "common/temp_dir.h"
#include "protocol/slot_map.h"
#include "tldb/client.h"
#include "tldb/cluster_client.h"
#include "zipf.h"

namespace {

using tldb::common::ServerProcess;
using tldb::common::ServerProcessOptions;
using Clock = std::chrono::steady_clock;

struct Config {
  std::vector<uint32_t> partitions = {1, 2, 4};
  uint32_t servers = 4;
  uint32_t connections = 16;
  double seconds = 5;
  uint32_t repeats = 3;
  uint32_t timelines = 10'000;
  std::string server = "build/server/tldb-server";
  std::string cli = "build/tools/tldb";
  std::string etcd = "etcd";
};

struct Figures {
  double uniform_per_s = 0, uniform_p50_us = 0, uniform_p99_us = 0;
  double skewed_per_s = 0, skewed_p50_us = 0, skewed_p99_us = 0;
  double moved_p50_us = 0, moved_p99_us = 0;    // a MOVED answer's round trip
  double direct_p50_us = 0, direct_p99_us = 0;  // the same request at the primary
  double map_p50_us = 0;                        // CLUSTER_MAP
};

double Us(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// One etcd and `servers` tldb-servers under `dir`, with a map of `partitions` partitions.
class Cluster {
 public:
  Cluster(const Config& cfg, const std::string& dir, uint32_t partitions)
      : cfg_(cfg), dir_(dir), partitions_(partitions) {}

  bool Start() {
    const uint16_t port = tldb::common::FreeLoopbackPort();
    const uint16_t peer = tldb::common::FreeLoopbackPort();
    url_ = "http://127.0.0.1:" + std::to_string(port);
    ServerProcessOptions eo;
    eo.port = port;
    eo.log_path = dir_ + "/etcd.log";
    eo.die_with_parent = true;
    const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer);
    eo.command = {cfg_.etcd,
                  "--data-dir",
                  dir_ + "/etcd",
                  "--listen-client-urls",
                  url_,
                  "--advertise-client-urls",
                  url_,
                  "--listen-peer-urls",
                  peer_url,
                  "--initial-advertise-peer-urls",
                  peer_url,
                  "--initial-cluster",
                  "default=" + peer_url};
    etcd_ = std::make_unique<ServerProcess>(eo);
    if (auto s = etcd_->Start(); !s.ok()) return Fail("etcd: " + s.ToString());
    std::string ids;
    for (uint32_t n = 0; n < cfg_.servers; ++n) ids += (n ? "," : "") + std::to_string(n);
    const std::string init = cfg_.cli + " cluster init --partitions " +
                             std::to_string(partitions_) + " --servers " + ids + " --etcd " + url_ +
                             " >/dev/null";
    if (std::system(init.c_str()) != 0) return Fail("tldb cluster init failed");
    for (uint32_t n = 0; n < cfg_.servers; ++n) {
      ServerProcessOptions o;
      o.binary = cfg_.server;
      o.data_dir = dir_ + "/server" + std::to_string(n);
      o.port = tldb::common::FreeLoopbackPort();
      o.log_path = dir_ + "/server" + std::to_string(n) + ".log";
      o.die_with_parent = true;
      o.extra_args = {
          "--cluster",     "etcd=" + url_, "--node-id",   std::to_string(n),
          "--peer-listen", "127.0.0.1:0",  "--advertise", "127.0.0.1:" + std::to_string(o.port)};
      servers_.push_back(std::make_unique<ServerProcess>(o));
      if (auto s = servers_.back()->Start(); !s.ok()) {
        return Fail("server " + std::to_string(n) + ": " + s.ToString());
      }
    }
    // Serving once an append to a timeline of every partition is acknowledged.
    auto c = Client();
    if (!c) return Fail("no client");
    auto map = c->slot_map();
    if (!c->RefreshMap().ok() || !(map = c->slot_map())) return Fail("no slot map");
    for (const auto& p : map->partitions()) {
      std::string t;
      for (int i = 0; t.empty(); ++i) {
        const std::string k = "warm:" + std::to_string(i);
        if (map->Owner(tldb::proto::SlotOf(k)).id == p.id) t = k;
      }
      auto r = c->Append("store", t, "warm");
      if (!r.ok()) return Fail("partition " + std::to_string(p.id) + ": " + r.status().ToString());
    }
    return true;
  }

  std::unique_ptr<tldb::ClusterClient> Client() const {
    tldb::ClusterClientOptions co;
    for (const auto& s : servers_) co.servers.push_back(s->address());
    co.retry_ms_max = 60'000;
    auto c = tldb::ClusterClient::Connect(co);
    return c.ok() ? std::move(c).value() : nullptr;
  }
  std::string address(uint32_t server) const { return servers_[server]->address(); }

 private:
  bool Fail(const std::string& why) {
    std::fprintf(stderr, "shard-bench: %s (logs in %s)\n", why.c_str(), dir_.c_str());
    return false;
  }
  const Config& cfg_;
  const std::string dir_;
  const uint32_t partitions_;
  std::string url_;
  std::unique_ptr<ServerProcess> etcd_;
  std::vector<std::unique_ptr<ServerProcess>> servers_;
};

// Synced appends from cfg.connections clients for cfg.seconds: appends/s, p50, p99 (µs).
void Appends(const Cluster& cluster, const Config& cfg, bool skewed, double* per_s, double* p50,
             double* p99) {
  const tldb::peerbench::ZipfSampler zipf(cfg.timelines, 1.1);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0}, failed{0};
  std::vector<tldb::common::LatencyHistogram> hist(cfg.connections);
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < cfg.connections; ++t) {
    threads.emplace_back([&, t] {
      auto c = cluster.Client();
      if (!c) return;
      std::mt19937_64 rng(t * 7919 + (skewed ? 1 : 0));
      const std::string payload(200, 'x');
      while (!stop) {
        const uint32_t k = skewed ? zipf.Draw(std::uniform_real_distribution<double>(0, 1)(rng))
                                  : static_cast<uint32_t>(rng() % cfg.timelines);
        const auto start = Clock::now();
        auto r = c->Append("store", "bench:" + std::to_string(k), payload);
        if (!r.ok()) {
          failed++;
          continue;
        }
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
  tldb::common::LatencyHistogram all;
  for (auto& h : hist) all.Merge(h);
  *per_s = static_cast<double>(done.load()) / secs;
  *p50 = all.Quantile(0.5) / 1e3;
  *p99 = all.Quantile(0.99) / 1e3;
  if (failed.load() != 0) {
    std::fprintf(stderr, "shard-bench: %llu appends failed\n",
                 static_cast<unsigned long long>(failed.load()));
  }
}

// A MOVED round trip against the same request (LAST_SEQ of one timeline) at the primary.
bool Redirects(const Cluster& cluster, const Config& cfg, Figures* f) {
  auto cc = cluster.Client();
  if (!cc || !cc->RefreshMap().ok()) return false;
  const auto map = cc->slot_map();
  // A timeline of partition 0 and a server that holds no replica of it.
  const auto& p0 = *map->Partition(0);
  uint32_t other = cfg.servers;
  for (uint32_t s = 0; s < cfg.servers && other == cfg.servers; ++s) {
    if (std::find(p0.replicas.begin(), p0.replicas.end(), s) == p0.replicas.end()) other = s;
  }
  if (other == cfg.servers) return false;  // every server holds partition 0
  std::string t;
  for (int i = 0; t.empty(); ++i) {
    const std::string k = "bench:" + std::to_string(i);
    if (map->Owner(tldb::proto::SlotOf(k)).id == 0) t = k;
  }
  const auto connect = [](const std::string& address) {
    tldb::ClientOptions o;
    o.server = address;
    auto c = tldb::Client::Connect(o);
    return c.ok() ? std::move(c).value() : nullptr;
  };
  auto wrong = connect(cluster.address(other));
  auto right = connect(map->RouteAddress(tldb::proto::SlotOf(t)));
  if (!wrong || !right) return false;
  constexpr int kRounds = 3'000;
  tldb::common::LatencyHistogram moved, direct, fetch;
  const std::string_view one[] = {t};
  for (int i = 0; i < kRounds; ++i) {
    auto start = Clock::now();
    auto m = wrong->LastSeq("store", one);
    const auto mid = Clock::now();
    if (m.ok() || m.status().code() != tldb::Status::Code::kMoved) {
      std::fprintf(stderr, "shard-bench: expected MOVED, got %s\n", m.status().ToString().c_str());
      return false;
    }
    moved.Add(static_cast<uint64_t>(Us(mid - start) * 1e3));
    start = Clock::now();
    auto d = right->LastSeq("store", one);
    if (!d.ok()) return false;
    direct.Add(static_cast<uint64_t>(Us(Clock::now() - start) * 1e3));
    if (i % 10 == 0) {
      start = Clock::now();
      if (!wrong->ClusterMap().ok()) return false;
      fetch.Add(static_cast<uint64_t>(Us(Clock::now() - start) * 1e3));
    }
  }
  f->moved_p50_us = moved.Quantile(0.5) / 1e3;
  f->moved_p99_us = moved.Quantile(0.99) / 1e3;
  f->direct_p50_us = direct.Quantile(0.5) / 1e3;
  f->direct_p99_us = direct.Quantile(0.99) / 1e3;
  f->map_p50_us = fetch.Quantile(0.5) / 1e3;
  return true;
}

std::string Spread(std::vector<double> v, const char* fmt) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return "-";
  char b[128];
  char m[32], lo[32], hi[32];
  std::snprintf(m, sizeof m, fmt, v[v.size() / 2]);
  std::snprintf(lo, sizeof lo, fmt, v.front());
  std::snprintf(hi, sizeof hi, fmt, v.back());
  std::snprintf(b, sizeof b, "%s (%s-%s)", m, lo, hi);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"shard-bench: appends over 1, 2, 4 partitions and the cost of a MOVED redirect"};
  app.add_option("--partitions", cfg.partitions, "Partition counts to run")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--servers", cfg.servers, "tldb-servers (3 replicas per partition over them)")
      ->check(CLI::Range(3u, 16u))
      ->capture_default_str();
  app.add_option("--connections", cfg.connections, "Client connections")->capture_default_str();
  app.add_option("--seconds", cfg.seconds, "Seconds per append run")->capture_default_str();
  app.add_option("--repeats", cfg.repeats, "Repeats (partition counts alternate)")
      ->capture_default_str();
  app.add_option("--server", cfg.server, "tldb-server binary")->capture_default_str();
  app.add_option("--cli", cfg.cli, "tldb binary (tldb cluster init)")->capture_default_str();
  app.add_option("--etcd", cfg.etcd, "etcd binary")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);

  std::map<uint32_t, std::vector<Figures>> runs;
  std::printf(
      "# repeat partitions | uniform appends/s p50/p99 us | skewed appends/s p50/p99 us | "
      "MOVED p50/p99 us | at the primary p50/p99 us | CLUSTER_MAP p50 us\n");
  for (uint32_t r = 0; r < cfg.repeats; ++r) {
    std::vector<uint32_t> order = cfg.partitions;
    if (r % 2 == 1) std::reverse(order.begin(), order.end());
    for (uint32_t p : order) {
      tldb::common::TempDir dir("tldb-shard-bench");
      Cluster cluster(cfg, dir.path(), p);
      if (!cluster.Start()) return 1;
      Figures f;
      Appends(cluster, cfg, false, &f.uniform_per_s, &f.uniform_p50_us, &f.uniform_p99_us);
      Appends(cluster, cfg, true, &f.skewed_per_s, &f.skewed_p50_us, &f.skewed_p99_us);
      const bool redirects = p > 1 && Redirects(cluster, cfg, &f);
      std::printf("%u %u | %.0f %.0f/%.0f | %.0f %.0f/%.0f | ", r + 1, p, f.uniform_per_s,
                  f.uniform_p50_us, f.uniform_p99_us, f.skewed_per_s, f.skewed_p50_us,
                  f.skewed_p99_us);
      if (redirects) {
        std::printf("%.0f/%.0f | %.0f/%.0f | %.0f\n", f.moved_p50_us, f.moved_p99_us,
                    f.direct_p50_us, f.direct_p99_us, f.map_p50_us);
      } else {
        std::printf("- | - | -\n");
      }
      std::fflush(stdout);
      runs[p].push_back(f);
    }
  }
  std::printf(
      "\n# partitions | uniform appends/s median (min-max) | per repeat / P=1 | skewed "
      "appends/s median (min-max) | per repeat / P=1 | MOVED p50 us | primary p50 us\n");
  const auto& base = runs[cfg.partitions.front()];
  for (uint32_t p : cfg.partitions) {
    std::vector<double> u, s, m, d;
    std::string ur, sr;
    for (size_t i = 0; i < runs[p].size(); ++i) {
      const Figures& f = runs[p][i];
      u.push_back(f.uniform_per_s);
      s.push_back(f.skewed_per_s);
      if (f.moved_p50_us > 0) {
        m.push_back(f.moved_p50_us);
        d.push_back(f.direct_p50_us);
      }
      char b[32];
      std::snprintf(b, sizeof b, "%s%.2f", i ? " " : "", f.uniform_per_s / base[i].uniform_per_s);
      ur += b;
      std::snprintf(b, sizeof b, "%s%.2f", i ? " " : "", f.skewed_per_s / base[i].skewed_per_s);
      sr += b;
    }
    std::printf("%u | %s | %s | %s | %s | %s | %s\n", p, Spread(u, "%.0f").c_str(), ur.c_str(),
                Spread(s, "%.0f").c_str(), sr.c_str(), Spread(m, "%.0f").c_str(),
                Spread(d, "%.0f").c_str());
  }
  return 0;
}
