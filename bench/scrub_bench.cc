// Scrub benchmark (issue 16 item 2): the foreground synced-append rate with the background scrub
// running at its default pace against the same with the scrub off. Builds a store of
// --store_mb of sealed segments (16 MiB each, 1,000-byte messages, buffered), then runs
// --repeats rounds of scrub off and on, alternating, the order swapped every round (drift in
// the machine's load and any bias of running first hit both alike). Each run opens the store
// with background maintenance on (TTL set far away: compaction has nothing to do) and
// scrub_period_ms 0 (off) or 1 (on: a pass starts again as soon as one ends), evicts the
// segments from the page cache (posix_fadvise DONTNEED) so that the scrub reads the disk, and
// runs --writers threads of synced appends for --seconds. Prints each run's appends/s, p50/p99
// latency, the scrub's bytes/s and the process's bytes/s read from the disk (/proc/self/io),
// each round's on/off ratio, and the median and spread per mode.
//
// Usage: scrub_bench [--store_mb=N] [--writers=N] [--seconds=S] [--repeats=N]
//                    [--scrub_bytes_per_s=B]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "tldb/db.h"

namespace tldb::bench {
namespace {

struct Flags {
  uint64_t store_mb = 256;
  uint32_t writers = 4;
  double seconds = 3;
  uint32_t repeats = 3;
  uint64_t scrub_bytes_per_s = Options{}.scrub_bytes_per_s;
};

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "scrub_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

Options DbOptions(const Flags& f, bool scrub) {
  Options o;
  o.io_backend = "posix";  // the scrub and the appends use the same backend in either mode
  o.background_maintenance = true;
  o.scrub_period_ms = scrub ? 1 : 0;
  o.scrub_bytes_per_s = f.scrub_bytes_per_s;
  return o;
}

void Build(const std::string& dir, const Flags& f) {
  auto opened = Db::Open(dir, DbOptions(f, false));
  if (!opened.ok()) Die("open", opened.status());
  std::unique_ptr<Db> db = std::move(opened).value();
  NamespaceOptions n;
  n.segment_bytes_max = 16ull << 20;
  n.ttl_ms = 10ull * 365 * 24 * 3600 * 1000;  // fully live: background compaction leaves it
  if (Status s = db->CreateNamespace("hist", n); !s.ok()) Die("create", s);
  const auto payloads = ChatPayloads(1024, 1000, 7);
  std::vector<std::string> keys;
  for (uint32_t i = 0; i < 10'000; ++i) keys.push_back(ConvKey(i));
  AppendOptions o;
  o.durability = Durability::kBuffered;
  AsyncLoader loader(db.get(), "hist", o);
  Rng rng(42);
  const uint64_t messages = f.store_mb * (1u << 20) / 1050;
  for (uint64_t i = 0; i < messages; ++i) {
    loader.Append(keys[rng.Uniform(keys.size())], payloads[i % payloads.size()]);
  }
  if (Status s = loader.Finish(); !s.ok()) Die("load", s);
  if (Status s = db->Close(); !s.ok()) Die("close", s);
}

// Drops the store's clean pages from the page cache, so the scrub's reads reach the disk.
void Evict(const std::string& dir) {
  ::sync();
  for (const auto& e : std::filesystem::directory_iterator(dir + "/ns/hist")) {
    const int fd = ::open(e.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

struct Run {
  double appends_per_s = 0;
  double p50_us = 0, p99_us = 0;
  double scrub_bytes_per_s = 0;
  double disk_read_bytes_per_s = 0;  // the process's reads that reached the disk
};

uint64_t ProcReadBytes() {
  std::ifstream f("/proc/self/io");
  std::string k;
  uint64_t v = 0;
  while (f >> k >> v) {
    if (k == "read_bytes:") return v;
  }
  return 0;
}

Run Measure(const std::string& dir, const Flags& f, bool scrub) {
  Evict(dir);
  auto opened = Db::Open(dir, DbOptions(f, scrub));
  if (!opened.ok()) Die("open", opened.status());
  std::unique_ptr<Db> db = std::move(opened).value();
  const DbStats before = db->Stats();
  const uint64_t read0 = ProcReadBytes();
  std::atomic<bool> stop{false};
  std::vector<std::vector<uint32_t>> lat(f.writers);
  std::vector<std::thread> threads;
  const std::string payload(200, 'p');
  const uint64_t t0 = NowNs();
  for (uint32_t w = 0; w < f.writers; ++w) {
    threads.emplace_back([&, w] {
      const std::string key = "writer:" + std::to_string(w);
      AppendOptions o;
      o.durability = Durability::kSync;
      while (!stop.load(std::memory_order_relaxed)) {
        const uint64_t a = NowNs();
        auto r = db->Append("hist", key, payload, o);
        if (!r.ok()) Die("append", r.status());
        lat[w].push_back(static_cast<uint32_t>((NowNs() - a) / 1000));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(f.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double secs = (NowNs() - t0) / 1e9;
  const DbStats after = db->Stats();
  std::vector<uint32_t> all;
  for (const auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Run r;
  r.appends_per_s = all.size() / secs;
  if (!all.empty()) {
    r.p50_us = all[all.size() / 2];
    r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  r.scrub_bytes_per_s = (after.scrub_bytes_read - before.scrub_bytes_read) / secs;
  r.disk_read_bytes_per_s = (ProcReadBytes() - read0) / secs;
  if (Status s = db->Close(); !s.ok()) Die("close", s);
  return r;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      const std::string p = std::string("--") + name + "=";
      return a.rfind(p, 0) == 0 ? a.c_str() + p.size() : nullptr;
    };
    if (const char* v = val("store_mb")) {
      f.store_mb = std::strtoull(v, nullptr, 10);
    } else if (const char* v = val("writers")) {
      f.writers = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (const char* v = val("seconds")) {
      f.seconds = std::strtod(v, nullptr);
    } else if (const char* v = val("repeats")) {
      f.repeats = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (const char* v = val("scrub_bytes_per_s")) {
      f.scrub_bytes_per_s = std::strtoull(v, nullptr, 10);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  TempDir dir("tldb-scrub");
  const std::string data = dir.path() + "/db";
  Build(data, f);
  std::printf(
      "scrub_bench: %llu MiB of sealed segments, %u synced writers, %.1f s per run, "
      "scrub at %llu bytes/s\n",
      static_cast<unsigned long long>(f.store_mb), f.writers, f.seconds,
      static_cast<unsigned long long>(f.scrub_bytes_per_s));
  std::vector<double> rate[2], p99[2];
  for (uint32_t i = 0; i < f.repeats; ++i) {
    for (int k = 0; k < 2; ++k) {
      const int on = (i + k) % 2;  // off, on; then on, off; ...: the order's bias cancels out
      const Run r = Measure(data, f, on == 1);
      rate[on].push_back(r.appends_per_s);
      p99[on].push_back(r.p99_us);
      std::printf(
          "  round %u scrub %-3s %8.0f appends/s  p50 %6.0f us  p99 %7.0f us  "
          "scrub read %5.2f MiB/s (disk %5.2f MiB/s)\n",
          i + 1, on ? "on" : "off", r.appends_per_s, r.p50_us, r.p99_us,
          r.scrub_bytes_per_s / (1 << 20), r.disk_read_bytes_per_s / (1 << 20));
    }
  }
  // Rounds alternate, so each round's on/off ratio compares runs made under about the same load.
  std::vector<double> ratio;
  std::printf("on/off per round:");
  for (uint32_t i = 0; i < f.repeats; ++i) {
    ratio.push_back(rate[1][i] / rate[0][i]);
    std::printf(" %.2f", ratio.back());
  }
  std::printf(" (median %.2f)\n", Median(ratio));
  for (int on = 0; on < 2; ++on) {
    std::printf("scrub %-3s appends/s median %8.0f (min %8.0f, max %8.0f); p99 median %7.0f us\n",
                on ? "on" : "off", Median(rate[on]),
                *std::min_element(rate[on].begin(), rate[on].end()),
                *std::max_element(rate[on].begin(), rate[on].end()), Median(p99[on]));
  }
  return 0;
}

}  // namespace
}  // namespace tldb::bench

int main(int argc, char** argv) {
  return tldb::bench::Main(argc, argv);
}
