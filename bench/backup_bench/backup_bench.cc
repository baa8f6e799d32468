// backup-bench: the cost of an online backup (BACKUP_OPEN/READ/CLOSE, `tldb backup`) of a
// running tldb-server: the backup's throughput (MB/s) and the foreground synced-append rate
// during a backup vs without one, in the same run, repeated with the two orders alternating.
//
//   backup-bench --server build/server/tldb-server --preload-mib 256 --repeats 3
//
// Each repeat measures a window without a backup and a window with one (alternating which comes
// first). The foreground load is `connections` clients, each appending synced `payload-bytes`
// messages to random timelines one request at a time. The backup is admin::RunBackup, the
// function `tldb backup` runs, into a fresh directory on the same file system (every file
// fdatasync'ed). Payloads are random bytes (the server compacts and zstd-compresses sealed
// segments in the background). Prints every run, then the median and the spread (min–max) and
// the size of the data directory backed up.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "admin/backup.h"
#include "common/server_process.h"
#include "common/temp_dir.h"
#include "tldb/client.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  std::string server;
  std::string dir;  // where the data directory and the backups go (default: a temp dir)
  uint32_t preload_mib = 256;
  uint32_t repeats = 3;
  uint32_t connections = 8;
  uint32_t payload_bytes = 200;
  uint32_t timelines = 10'000;
  double baseline_seconds = 5;
};

std::unique_ptr<tldb::Client> Connect(const std::string& address) {
  tldb::ClientOptions o;
  o.server = address;
  o.request_timeout_ms = 3'600'000;
  auto c = tldb::Client::Connect(o);
  if (!c.ok()) {
    std::fprintf(stderr, "connect %s: %s\n", address.c_str(), c.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(c).value();
}

// Foreground appenders: synced appends until stopped; counts the acknowledged ones.
class Load {
 public:
  Load(const std::string& address, const Config& cfg) {
    for (uint32_t i = 0; i < cfg.connections; ++i) {
      threads_.emplace_back([this, address, cfg, i] {
        auto c = Connect(address);
        std::mt19937_64 rng(i + 1);
        std::string payload(cfg.payload_bytes, '\0');
        for (auto& ch : payload) ch = static_cast<char>(rng());
        tldb::AppendOptions o;
        o.durability = tldb::Durability::kSync;
        while (!stop_) {
          const std::string tl = "tl:" + std::to_string(rng() % cfg.timelines);
          auto r = c->Append("bench", tl, payload, o);
          if (!r.ok()) {
            std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
            std::exit(1);
          }
          acked_.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
  }
  ~Load() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  uint64_t acked() const { return acked_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acked_{0};
  std::vector<std::thread> threads_;
};

struct Window {
  double seconds = 0;
  uint64_t appends = 0;
  double rate() const { return seconds > 0 ? appends / seconds : 0; }
};

struct BackupRun {
  Window load;
  uint64_t bytes = 0;
  double open_seconds = 0, seconds = 0;
  double mbps() const { return seconds > 0 ? bytes / 1e6 / seconds : 0; }
};

Window Baseline(const Load& load, double seconds) {
  const uint64_t a0 = load.acked();
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return {std::chrono::duration<double>(Clock::now() - t0).count(), load.acked() - a0};
}

BackupRun WithBackup(const Load& load, const std::string& address, const std::string& out) {
  auto c = Connect(address);
  const uint64_t a0 = load.acked();
  const auto t0 = Clock::now();
  auto r = tldb::admin::RunBackup(*c, out, {});
  BackupRun run;
  run.load = {std::chrono::duration<double>(Clock::now() - t0).count(), load.acked() - a0};
  if (!r.ok()) {
    std::fprintf(stderr, "backup: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  run.bytes = r->bytes;
  run.open_seconds = r->open_seconds;
  run.seconds = r->seconds;
  std::error_code ec;
  std::filesystem::remove_all(out, ec);
  return run;
}

void Preload(const std::string& address, const Config& cfg) {
  auto c = Connect(address);
  tldb::NamespaceOptions n;
  n.segment_bytes_max = 64ull << 20;
  n.durability = tldb::Durability::kBuffered;
  if (auto s = c->CreateNamespace("bench", n); !s.ok()) {
    std::fprintf(stderr, "create namespace: %s\n", s.ToString().c_str());
    std::exit(1);
  }
  // Random bytes: compaction (which runs in the background) compresses sealed segments with
  // zstd, so a compressible payload would leave a backup of a few megabytes.
  std::string noise(1u << 20, '\0');
  std::mt19937_64 rng(42);
  for (auto& ch : noise) ch = static_cast<char>(rng());
  constexpr size_t kPayloadBytes = 4000;
  const uint64_t total = uint64_t{cfg.preload_mib} << 20;
  std::atomic<uint64_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto cc = Connect(address);
      for (uint64_t i; (i = next.fetch_add(1)) * kPayloadBytes < total;) {
        const std::string_view payload(noise.data() + (i * 4099) % (noise.size() - kPayloadBytes),
                                       kPayloadBytes);
        auto r = cc->Append("bench", "tl:" + std::to_string(i % cfg.timelines), payload);
        if (!r.ok()) {
          std::fprintf(stderr, "preload: %s\n", r.status().ToString().c_str());
          std::exit(1);
        }
      }
      (void)t;
    });
  }
  for (auto& t : threads) t.join();
}

template <typename T, typename F>
void PrintSpread(const char* what, const std::vector<T>& runs, F value, const char* unit) {
  std::vector<double> v;
  for (const auto& r : runs) v.push_back(value(r));
  std::printf("%-36s", what);
  for (size_t i = 0; i < v.size(); ++i) std::printf("%s%.1f", i ? " / " : "", v[i]);
  std::vector<double> s = v;
  std::sort(s.begin(), s.end());
  std::printf("  median %.1f (%.1f–%.1f) %s\n", s[s.size() / 2], s.front(), s.back(), unit);
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"backup-bench: the cost of an online backup"};
  app.add_option("--server", cfg.server, "tldb-server binary")->required();
  app.add_option("--dir", cfg.dir, "Directory for the data and the backups (default: temp)");
  app.add_option("--preload-mib", cfg.preload_mib, "Data written before the runs")
      ->capture_default_str();
  app.add_option("--repeats", cfg.repeats, "Pairs of windows (>= 3)")->capture_default_str();
  app.add_option("--connections", cfg.connections, "Foreground appenders")->capture_default_str();
  app.add_option("--payload-bytes", cfg.payload_bytes, "Foreground payload")->capture_default_str();
  app.add_option("--baseline-seconds", cfg.baseline_seconds, "Length of a window without a backup")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::unique_ptr<tldb::common::TempDir> tmp;
  if (cfg.dir.empty()) {
    tmp = std::make_unique<tldb::common::TempDir>("tldb-backup-bench");
    cfg.dir = tmp->path();
  }
  tldb::common::ServerProcessOptions so;
  so.binary = cfg.server;
  so.data_dir = cfg.dir + "/data";
  so.extra_args = {"--threads", "2"};
  tldb::common::ServerProcess server(so);
  if (auto s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "start server: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::string address = server.address();
  const auto p0 = Clock::now();
  Preload(address, cfg);
  std::printf("preloaded %u MiB in %.1f s\n", cfg.preload_mib,
              std::chrono::duration<double>(Clock::now() - p0).count());

  std::vector<Window> baselines;
  std::vector<BackupRun> backups;
  {
    Load load(address, cfg);
    std::this_thread::sleep_for(std::chrono::seconds(1));  // warm up
    for (uint32_t r = 0; r < cfg.repeats; ++r) {
      const std::string out = cfg.dir + "/backup-" + std::to_string(r);
      auto baseline = [&] { baselines.push_back(Baseline(load, cfg.baseline_seconds)); };
      auto backup = [&] { backups.push_back(WithBackup(load, address, out)); };
      if (r % 2 == 0) {
        baseline();
        backup();
      } else {
        backup();
        baseline();
      }
      const BackupRun& b = backups.back();
      std::printf(
          "run %u (%s first): without %.0f appends/s; backup %.1f MB in %.2f s (%.1f MB/s, "
          "snapshot+checksums %.2f s), appends during it %.0f/s\n",
          r + 1, r % 2 == 0 ? "baseline" : "backup", baselines.back().rate(), b.bytes / 1e6,
          b.seconds, b.mbps(), b.open_seconds, b.load.rate());
    }
  }
  PrintSpread(
      "backup MB/s:", backups, [](const BackupRun& b) { return b.mbps(); }, "MB/s");
  PrintSpread(
      "backup seconds:", backups, [](const BackupRun& b) { return b.seconds; }, "s");
  PrintSpread(
      "appends/s without a backup:", baselines, [](const Window& w) { return w.rate(); },
      "appends/s");
  PrintSpread(
      "appends/s during a backup:", backups, [](const BackupRun& b) { return b.load.rate(); },
      "appends/s");
  std::vector<double> ratio;
  for (size_t i = 0; i < backups.size(); ++i) {
    ratio.push_back(baselines[i].rate() > 0 ? backups[i].load.rate() / baselines[i].rate() : 0);
  }
  PrintSpread(
      "during / without, per pair:", ratio, [](double x) { return x; }, "");
  (void)server.Stop();
  return 0;
}
