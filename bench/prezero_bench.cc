// Zeros ahead of the active segment (docs/design.md "Pre-zeroed segments"): synced appends into
// a namespace's first segment, with the zeros (Options::prezero kBackground, the default) and
// without (kOff: the first segment as it was before they existed — created with its header
// only, its blocks fallocated, so every fdatasync also commits an extent change and the file
// size). Within the first segment (64 MiB) the two modes differ in nothing else: the next
// segment is prepared only once the active one is half full, which no run here reaches.
//
// Cells, each run on a new store in a new directory:
//   fresh      Db::Open, CreateNamespace, then --writers threads of synced appends
//   restarted  a store whose first segment holds --restart_messages synced records written
//              without zeros, closed and reopened (the segment left active at a restart)
//   disk       the disk alone, for reading the others: one thread's pwrite of 256 bytes +
//              fdatasync at the end of the records of a file fallocated (KEEP_SIZE) to 64 MiB
//              ("off", what a first segment was) or of one whose first 8 MiB are zeros written
//              (a page per write, as SegmentPreparer writes them) and synced ("on")
//   folio      the same pre-zeroed file, its zeros written in 1 MiB calls ("off", as the engine
//              wrote them before: the page cache keeps them in large folios, and each record
//              then dirties a whole folio) or a page per write ("on")
// Each round runs both modes of a cell, the order swapped every round (drift in the machine's
// load and any bias of running first hit both alike). Prints each run's appends/s, p50/p99
// latency, the active segment's file size and the zeros written ahead (DbStats), each round's
// on/off ratios of appends/s and of p50, and the median and spread per mode.
//
// Usage: prezero_bench [--seconds=S] [--repeats=N] [--writers=N] [--restart_messages=N]
//                      [--io_backend=auto|uring|posix] [--cells=fresh,restarted,disk,folio]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "tldb/db.h"

namespace tldb::bench {
namespace {

constexpr char kNs[] = "chat";

struct Flags {
  double seconds = 3;
  uint32_t repeats = 3;
  uint32_t writers = 1;
  uint32_t restart_messages = 2000;
  std::string io_backend = Options{}.io_backend;
  std::string cells = "fresh,restarted,disk,folio";
};

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "prezero_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

std::unique_ptr<Db> OpenDb(const std::string& dir, const Flags& f, bool zeros) {
  Options o;
  o.io_backend = f.io_backend;
  o.prezero = zeros ? Options::Prezero::kBackground : Options::Prezero::kOff;
  auto db = Db::Open(dir, o);
  if (!db.ok()) Die("open " + dir, db.status());
  return std::move(db).value();
}

const std::vector<std::string>& Payloads() {
  static const auto* p = new std::vector<std::string>(ChatPayloads(4096, 200, 42));
  return *p;
}

void AppendSynced(Db& db, uint32_t n) {
  AppendOptions o;
  o.durability = Durability::kSync;
  for (uint32_t i = 0; i < n; ++i) {
    auto r = db.Append(kNs, ConvKey(i % 10'000), Payloads()[i % Payloads().size()], o);
    if (!r.ok()) Die("append", r.status());
  }
}

struct Run {
  double appends_per_s = 0;
  double p50_us = 0, p99_us = 0;
  uint64_t file_bytes = 0;   // the active segment's file at the end of the run
  uint64_t records_end = 0;  // where its records end
  uint64_t zeros_ahead = 0;  // DbStats::prezero_ahead_bytes during the run
  uint64_t segment = 0;      // the active segment (1 = still the first)
  uint64_t write_bytes = 0;  // /proc/self/io write_bytes during the run
};

// Bytes this process caused to be written to storage (/proc/self/io write_bytes).
uint64_t ProcWriteBytes() {
  std::ifstream f("/proc/self/io");
  std::string k;
  uint64_t v = 0;
  while (f >> k >> v) {
    if (k == "write_bytes:") return v;
  }
  return 0;
}

Run Measure(const Flags& f, bool restarted, bool zeros) {
  TempDir tmp("tldb-prezero");
  const std::string dir = tmp.path() + "/db";
  std::unique_ptr<Db> db;
  if (restarted) {
    db = OpenDb(dir, f, /*zeros=*/false);
    if (Status s = db->CreateNamespace(kNs, NamespaceOptions{}); !s.ok()) Die("create", s);
    AppendSynced(*db, f.restart_messages);
    if (Status s = db->Close(); !s.ok()) Die("close", s);
    db = OpenDb(dir, f, zeros);
  } else {
    db = OpenDb(dir, f, zeros);
    if (Status s = db->CreateNamespace(kNs, NamespaceOptions{}); !s.ok()) Die("create", s);
  }
  const DbStats before = db->Stats();
  const uint64_t written0 = ProcWriteBytes();
  std::atomic<bool> stop{false};
  std::vector<std::vector<uint32_t>> lat(f.writers);
  std::vector<std::thread> threads;
  const uint64_t t0 = NowNs();
  for (uint32_t w = 0; w < f.writers; ++w) {
    threads.emplace_back([&, w] {
      Rng rng(1000 + w);
      AppendOptions o;
      o.durability = Durability::kSync;
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const uint64_t a = NowNs();
        auto r = db->Append(kNs, ConvKey(static_cast<uint32_t>(rng.Uniform(10'000))),
                            Payloads()[(i + w) % Payloads().size()], o);
        if (!r.ok()) Die("append", r.status());
        lat[w].push_back(static_cast<uint32_t>((NowNs() - a) / 1000));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(f.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double secs = static_cast<double>(NowNs() - t0) / 1e9;
  std::vector<uint32_t> all;
  for (const auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Run r;
  r.appends_per_s = static_cast<double>(all.size()) / secs;
  if (!all.empty()) {
    r.p50_us = all[all.size() / 2];
    r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  r.zeros_ahead = db->Stats().prezero_ahead_bytes - before.prezero_ahead_bytes;
  r.write_bytes = ProcWriteBytes() - written0;
  auto end = db->LogEnd(kNs);
  if (!end.ok()) Die("log end", end.status());
  r.segment = end->written.segment;
  r.records_end = end->written.offset;
  char name[32];
  std::snprintf(name, sizeof name, "/%016llx.seg", static_cast<unsigned long long>(r.segment));
  std::error_code ec;
  r.file_bytes = std::filesystem::file_size(dir + "/ns/" + kNs + name, ec);
  if (Status s = db->Close(); !s.ok()) Die("close", s);
  return r;
}

// zeros: 0 none (fallocated), 1 a page per write, 2 in 1 MiB writes.
Run MeasureDisk(const Flags& f, int zeros) {
  TempDir tmp("tldb-prezero-disk");
  const std::string path = tmp.path() + "/probe";
  const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Die("open " + path, Status::IOError("open failed"));
  if (::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 64 << 20) != 0) Die("fallocate", Status::IOError(""));
  if (zeros != 0) {
    const std::vector<char> z(zeros == 1 ? 4096 : 1 << 20,
                              0);  // a page per write, as the engine writes them
    for (off_t o = 0; o < (8 << 20); o += static_cast<off_t>(z.size())) {
      if (::pwrite(fd, z.data(), z.size(), o) != static_cast<ssize_t>(z.size())) {
        Die("pwrite zeros", Status::IOError(""));
      }
    }
  }
  if (::fsync(fd) != 0) Die("fsync", Status::IOError(""));
  const std::string rec = Payloads()[0] + std::string(56, ' ');
  const uint64_t written0 = ProcWriteBytes();
  std::vector<uint32_t> all;
  off_t off = 0;
  const uint64_t t0 = NowNs(), until = t0 + static_cast<uint64_t>(f.seconds * 1e9);
  while (NowNs() < until && off + static_cast<off_t>(rec.size()) < (8 << 20)) {
    const uint64_t a = NowNs();
    if (::pwrite(fd, rec.data(), rec.size(), off) != static_cast<ssize_t>(rec.size()) ||
        ::fdatasync(fd) != 0) {
      Die("pwrite/fdatasync", Status::IOError(""));
    }
    all.push_back(static_cast<uint32_t>((NowNs() - a) / 1000));
    off += static_cast<off_t>(rec.size());
  }
  const double secs = static_cast<double>(NowNs() - t0) / 1e9;
  ::close(fd);
  std::sort(all.begin(), all.end());
  Run r;
  r.appends_per_s = static_cast<double>(all.size()) / secs;
  r.p50_us = all[all.size() / 2];
  r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  r.segment = 0;
  r.records_end = static_cast<uint64_t>(off);
  r.file_bytes = zeros != 0 ? 8 << 20 : r.records_end;
  r.write_bytes = ProcWriteBytes() - written0;
  return r;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

enum class Cell { kFresh, kRestarted, kDisk, kFolio };

void RunCell(const Flags& f, Cell c) {
  const char* cell = c == Cell::kFresh       ? "fresh"
                     : c == Cell::kRestarted ? "restarted"
                     : c == Cell::kDisk      ? "disk"
                                             : "folio";
  std::vector<double> rate[2], p50[2], p99[2];
  for (uint32_t i = 0; i < f.repeats; ++i) {
    for (int k = 0; k < 2; ++k) {
      const int on = (i + k) % 2;  // off, on; then on, off; ...
      const Run r = c == Cell::kDisk    ? MeasureDisk(f, on)
                    : c == Cell::kFolio ? MeasureDisk(f, on == 1 ? 1 : 2)
                                        : Measure(f, c == Cell::kRestarted, on == 1);
      rate[on].push_back(r.appends_per_s);
      p50[on].push_back(r.p50_us);
      p99[on].push_back(r.p99_us);
      std::printf(
          "  %-9s round %u zeros %-3s %7.0f appends/s  p50 %5.0f us  p99 %6.0f us  "
          "segment %llu: records end %6.2f MiB, file %6.2f MiB, zeros written %6.2f MiB, "
          "process wrote %7.2f MiB\n",
          cell, i + 1, on ? "on" : "off", r.appends_per_s, r.p50_us, r.p99_us,
          static_cast<unsigned long long>(r.segment), r.records_end / 1048576.0,
          r.file_bytes / 1048576.0, r.zeros_ahead / 1048576.0, r.write_bytes / 1048576.0);
      std::fflush(stdout);
    }
  }
  std::vector<double> ratio;
  std::printf("%s: on/off appends/s per round:", cell);
  for (uint32_t i = 0; i < f.repeats; ++i) {
    ratio.push_back(rate[1][i] / rate[0][i]);
    std::printf(" %.2f", ratio.back());
  }
  std::printf(" (median %.2f)\n", Median(ratio));
  std::vector<double> p50_ratio;
  std::printf("%s: on/off p50 per round:", cell);
  for (uint32_t i = 0; i < f.repeats; ++i) {
    p50_ratio.push_back(p50[1][i] / p50[0][i]);
    std::printf(" %.2f", p50_ratio.back());
  }
  std::printf(" (median %.2f)\n", Median(p50_ratio));
  for (int on = 0; on < 2; ++on) {
    std::printf(
        "%s zeros %-3s appends/s median %7.0f (min %7.0f, max %7.0f); p50 median %5.0f us "
        "(min %5.0f, max %5.0f); p99 median %6.0f us (min %6.0f, max %6.0f)\n",
        cell, on ? "on" : "off", Median(rate[on]),
        *std::min_element(rate[on].begin(), rate[on].end()),
        *std::max_element(rate[on].begin(), rate[on].end()), Median(p50[on]),
        *std::min_element(p50[on].begin(), p50[on].end()),
        *std::max_element(p50[on].begin(), p50[on].end()), Median(p99[on]),
        *std::min_element(p99[on].begin(), p99[on].end()),
        *std::max_element(p99[on].begin(), p99[on].end()));
  }
}

int Main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      const std::string p = std::string("--") + name + "=";
      return a.rfind(p, 0) == 0 ? a.c_str() + p.size() : nullptr;
    };
    if (const char* v = val("seconds")) {
      f.seconds = std::strtod(v, nullptr);
    } else if (const char* v = val("repeats")) {
      f.repeats = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (const char* v = val("writers")) {
      f.writers = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (const char* v = val("restart_messages")) {
      f.restart_messages = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (const char* v = val("io_backend")) {
      f.io_backend = v;
    } else if (const char* v = val("cells")) {
      f.cells = v;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  std::printf(
      "prezero_bench: %u synced writer(s), 200-byte payloads over 10,000 timelines, %.1f s per "
      "run, %u rounds, io_backend %s\n",
      f.writers, f.seconds, f.repeats, f.io_backend.c_str());
  if (f.cells.find("fresh") != std::string::npos) RunCell(f, Cell::kFresh);
  if (f.cells.find("restarted") != std::string::npos) RunCell(f, Cell::kRestarted);
  if (f.cells.find("disk") != std::string::npos) RunCell(f, Cell::kDisk);
  if (f.cells.find("folio") != std::string::npos) RunCell(f, Cell::kFolio);
  return 0;
}

}  // namespace
}  // namespace tldb::bench

int main(int argc, char** argv) {
  return tldb::bench::Main(argc, argv);
}
