// Open-time and RAM benchmark (issue 2): builds a store of --messages messages over
// --timelines timelines (32-byte keys, 200-byte chat-like payloads, buffered appends to
// uniformly random timelines after one message per timeline), closes it, then opens it
// --opens times, each in a fresh child process, and reports:
//   - Db::Open wall time (median and spread),
//   - DbStats memory_* fields per timeline and per message,
//   - the process RSS delta (VmRSS, and RssAnon = heap only) across Db::Open.
// Targets (issue 2): open < 3 s for 10M messages / 1M timelines; <= 100 bytes RAM per timeline
// (32-byte keys) plus <= 2 bytes per message.
//
// Usage: open_bench [--messages=N] [--timelines=N] [--opens=N] [--dir=PATH] [--keep]
//                   [--drop-caches]   (echo 3 > /proc/sys/vm/drop_caches before each open: cold)
// Without --dir the store is built in a fresh mkdtemp directory under /tmp and removed after.
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tldb/db.h"

namespace tldb::bench {
namespace {

constexpr char kNs[] = "store";

struct Flags {
  uint64_t messages = 10'000'000;
  uint32_t timelines = 1'000'000;
  int opens = 3;
  std::string dir;
  std::string open_only;  // child mode
  bool keep = false;
  bool drop_caches = false;
  bool skip_build = false;
};

uint64_t CpuNs() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto ns = [](const timeval& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000ull +
           static_cast<uint64_t>(t.tv_usec) * 1000ull;
  };
  return ns(u.ru_utime) + ns(u.ru_stime);
}

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "open_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      const std::string p = std::string(name) + "=";
      if (a.compare(0, p.size(), p) == 0) return a.substr(p.size());
      return std::nullopt;
    };
    if (auto v = value("--messages")) {
      f.messages = std::stoull(*v);
    } else if (auto v = value("--timelines")) {
      f.timelines = static_cast<uint32_t>(std::stoul(*v));
    } else if (auto v = value("--opens")) {
      f.opens = std::stoi(*v);
    } else if (auto v = value("--dir")) {
      f.dir = *v;
    } else if (auto v = value("--open-only")) {
      f.open_only = *v;
    } else if (a == "--keep") {
      f.keep = true;
    } else if (a == "--skip-build") {
      f.skip_build = true;
    } else if (a == "--drop-caches") {
      f.drop_caches = true;
    } else {
      std::fprintf(stderr,
                   "usage: open_bench [--messages=N] [--timelines=N] [--opens=N] [--dir=PATH] "
                   "[--keep] [--drop-caches] [--skip-build (reuse --dir)]\n");
      std::exit(2);
    }
  }
  if (f.timelines == 0 || f.messages < f.timelines || f.opens < 1) {
    std::fprintf(stderr, "open_bench: need 0 < timelines <= messages and opens >= 1\n");
    std::exit(2);
  }
  return f;
}

void Build(const Flags& f, const std::string& dir) {
  auto opened = Db::Open(dir, Options{});
  if (!opened.ok()) Die("open " + dir, opened.status());
  auto db = std::move(opened).value();
  Status s = db->CreateNamespace(kNs, NamespaceOptions{});
  if (!s.ok()) Die("create namespace", s);
  const auto payloads = ChatPayloads(4096, 200, 42);
  AppendOptions o;
  o.durability = Durability::kBuffered;
  Rng rng(11);
  const uint64_t t0 = NowNs();
  uint64_t last_report = t0;
  std::vector<std::string> keys(f.timelines);
  for (uint32_t t = 0; t < f.timelines; ++t) keys[t] = Key32(t);
  AsyncLoader loader(db.get(), kNs, o);
  for (uint64_t i = 0; i < f.messages; ++i) {
    const auto t = i < f.timelines ? static_cast<uint32_t>(i)
                                   : static_cast<uint32_t>(rng.Uniform(f.timelines));
    loader.Append(keys[t], payloads[i % payloads.size()]);
    if ((i & 0xffff) == 0 && NowNs() - last_report > 5'000'000'000ull) {
      last_report = NowNs();
      std::fprintf(stderr, "  built %llu / %llu messages\n", static_cast<unsigned long long>(i),
                   static_cast<unsigned long long>(f.messages));
    }
  }
  s = loader.Finish();
  if (!s.ok()) Die("append", s);
  const uint64_t t1 = NowNs();
  s = db->Close();
  if (!s.ok()) Die("close", s);
  const uint64_t t2 = NowNs();
  std::printf(
      "build: %llu messages over %u timelines (32-byte keys, 200-byte payloads): "
      "appends %.1f s (%.0f/s, AppendAsync buffered), close %.2f s, %.0f MiB on disk\n",
      static_cast<unsigned long long>(f.messages), f.timelines, static_cast<double>(t1 - t0) / 1e9,
      static_cast<double>(f.messages) / (static_cast<double>(t1 - t0) / 1e9),
      static_cast<double>(t2 - t1) / 1e9, static_cast<double>(DirBytes(dir)) / (1 << 20));
  std::fflush(stdout);
}

// Child: open once, print one line of key=value figures.
int OpenOnce(const Flags& f) {
  const uint64_t rss0 = ProcStatusBytes("VmRSS");
  const uint64_t anon0 = ProcStatusBytes("RssAnon");
  const uint64_t c0 = CpuNs();
  const uint64_t t0 = NowNs();
  // No background maintenance: what is measured is the open, and compaction between opens
  // would change the store the next open reads.
  Options o;
  o.background_maintenance = false;
  auto opened = Db::Open(f.open_only, o);
  const uint64_t t1 = NowNs();
  const uint64_t c1 = CpuNs();
  if (!opened.ok()) Die("open " + f.open_only, opened.status());
  const uint64_t rss1 = ProcStatusBytes("VmRSS");
  const uint64_t anon1 = ProcStatusBytes("RssAnon");
  auto db = std::move(opened).value();
  const DbStats st = db->Stats();
  // Spot check: the first and last timelines are there and readable.
  for (uint32_t t : {0u, f.timelines - 1}) {
    const std::string key = Key32(t);
    std::string_view k = key;
    auto last = db->LastSeq(kNs, {&k, 1});
    if (!last.ok() || (*last)[0] == 0) Die("spot check LastSeq", last.status());
    auto m = db->Get(kNs, key, (*last)[0]);
    if (!m.ok()) Die("spot check Get", m.status());
  }
  auto info = db->DescribeNamespace(kNs);
  std::printf(
      "open_ns=%llu open_cpu_ns=%llu rss_before=%llu rss_after=%llu anon_before=%llu "
      "anon_after=%llu "
      "timelines=%llu mem_timeline=%llu mem_active_index=%llu mem_dedupe=%llu segments=%llu "
      "backend=%s\n",
      static_cast<unsigned long long>(t1 - t0), static_cast<unsigned long long>(c1 - c0),
      static_cast<unsigned long long>(rss0), static_cast<unsigned long long>(rss1),
      static_cast<unsigned long long>(anon0), static_cast<unsigned long long>(anon1),
      static_cast<unsigned long long>(st.timelines),
      static_cast<unsigned long long>(st.memory_timeline_bytes),
      static_cast<unsigned long long>(st.memory_active_index_bytes),
      static_cast<unsigned long long>(st.memory_dedupe_bytes),
      static_cast<unsigned long long>(info.ok() ? info->segments : 0), st.io_backend.c_str());
  std::fflush(stdout);
  Status s = db->Close();
  if (!s.ok()) Die("close", s);
  return 0;
}

std::map<std::string, std::string> ParseLine(const std::string& line) {
  std::map<std::string, std::string> kv;
  size_t pos = 0;
  while (pos < line.size()) {
    size_t end = line.find(' ', pos);
    if (end == std::string::npos) end = line.size();
    const std::string tok = line.substr(pos, end - pos);
    const size_t eq = tok.find('=');
    if (eq != std::string::npos) kv[tok.substr(0, eq)] = tok.substr(eq + 1);
    pos = end + 1;
  }
  return kv;
}

double Num(const std::map<std::string, std::string>& kv, const char* k) {
  auto it = kv.find(k);
  if (it == kv.end()) {
    std::fprintf(stderr, "open_bench: child output lacks %s\n", k);
    std::exit(1);
  }
  return std::stod(it->second);
}

int Main(int argc, char** argv) {
  const Flags f = ParseFlags(argc, argv);
  if (!f.open_only.empty()) return OpenOnce(f);

  std::unique_ptr<TempDir> tmp;
  std::string dir = f.dir;
  if (dir.empty()) {
    tmp = std::make_unique<TempDir>("tldb-open-bench");
    dir = tmp->path() + "/db";
  }
  if (f.skip_build) {
    if (f.dir.empty()) {
      std::fprintf(stderr, "open_bench: --skip-build needs --dir\n");
      return 2;
    }
  } else {
    Build(f, dir);
  }

  // popen runs a shell, so resolve our own path first.
  char self_buf[4096];
  const ssize_t n = readlink("/proc/self/exe", self_buf, sizeof self_buf - 1);
  if (n <= 0) {
    std::perror("readlink /proc/self/exe");
    return 1;
  }
  const std::string self(self_buf, static_cast<size_t>(n));
  std::vector<std::map<std::string, std::string>> runs;
  for (int i = 0; i < f.opens; ++i) {
    if (f.drop_caches) {
      std::fflush(stdout);
      if (std::system("sync && echo 3 > /proc/sys/vm/drop_caches") != 0) {
        std::fprintf(stderr, "open_bench: could not drop caches (need root)\n");
      }
    }
    const std::string cmd = self + " --open-only=" + dir +
                            " --timelines=" + std::to_string(f.timelines) +
                            " --messages=" + std::to_string(f.messages);
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) {
      std::perror("popen");
      return 1;
    }
    std::string out;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    const int rc = pclose(p);
    if (rc != 0) {
      std::fprintf(stderr, "open_bench: child failed (%d): %s\n", rc, out.c_str());
      return 1;
    }
    runs.push_back(ParseLine(out.substr(0, out.find('\n'))));
  }

  const double T = f.timelines;
  const double M = static_cast<double>(f.messages);
  std::vector<double> open_s;
  std::printf("%-5s %9s %9s %12s %12s %14s %14s %16s\n", "open", "time_s", "cpu_s", "rss_delta_MiB",
              "anon_delta_MiB", "rss_B/timeline", "stats_B/tl", "active_idx_B/msg");
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    const double secs = Num(r, "open_ns") / 1e9;
    open_s.push_back(secs);
    const double rss = Num(r, "rss_after") - Num(r, "rss_before");
    const double anon = Num(r, "anon_after") - Num(r, "anon_before");
    std::printf("%-5zu %9.3f %9.3f %12.1f %12.1f %14.1f %14.1f %16.2f\n", i + 1, secs,
                Num(r, "open_cpu_ns") / 1e9, rss / (1 << 20), anon / (1 << 20), rss / T,
                Num(r, "mem_timeline") / T, Num(r, "mem_active_index") / M);
  }
  std::vector<double> sorted = open_s;
  std::sort(sorted.begin(), sorted.end());
  const auto& last = runs.back();
  const double rss = Num(last, "rss_after") - Num(last, "rss_before");
  const double anon = Num(last, "anon_after") - Num(last, "anon_before");
  const double mem_tl = Num(last, "mem_timeline");
  const double mem_ai = Num(last, "mem_active_index");
  const double mem_dd = Num(last, "mem_dedupe");
  const double budget = 100 * T + 2 * M;
  std::printf("\nstore: %.0f messages, %.0f timelines, %.0f segments, backend %s%s\n", M,
              Num(last, "timelines"), Num(last, "segments"), last.at("backend").c_str(),
              f.drop_caches ? ", page cache dropped before each open" : ", warm page cache");
  std::printf("open time: median %.3f s (min %.3f, max %.3f over %d opens)  [target < 3 s]\n",
              sorted[sorted.size() / 2], sorted.front(), sorted.back(), f.opens);
  std::printf(
      "DbStats memory: timeline table %.1f MiB = %.1f B/timeline; active index %.1f MiB "
      "= %.2f B/message; dedupe %.1f MiB\n",
      mem_tl / (1 << 20), mem_tl / T, mem_ai / (1 << 20), mem_ai / M, mem_dd / (1 << 20));
  std::printf(
      "RSS delta across Db::Open: VmRSS %.1f MiB (%.1f B/timeline, or %.2f B/message), "
      "RssAnon %.1f MiB (%.1f B/timeline, or %.2f B/message)\n",
      rss / (1 << 20), rss / T, rss / M, anon / (1 << 20), anon / T, anon / M);
  std::printf(
      "budget 100 B/timeline + 2 B/message = %.1f MiB: VmRSS delta is %.0f%% of it, "
      "RssAnon delta %.0f%%, DbStats %.0f%%\n",
      budget / (1 << 20), 100 * rss / budget, 100 * anon / budget,
      100 * (mem_tl + mem_ai + mem_dd) / budget);
  if (f.keep || !f.dir.empty()) {
    std::printf("store kept in %s\n", dir.c_str());
    if (tmp) {
      // Keep the temporary directory: release it without removing.
      std::printf("(remove it with: rm -rf %s)\n", tmp->path().c_str());
      std::exit(0);
    }
  }
  return 0;
}

}  // namespace
}  // namespace tldb::bench

int main(int argc, char** argv) {
  return tldb::bench::Main(argc, argv);
}
