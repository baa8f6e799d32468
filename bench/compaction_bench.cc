// Compaction benchmark (issue 4). Builds a store of chat-like messages appended to random
// conversations (so each conversation's history is scattered over every segment), recalls
// --recall_pct of them and edits --edit_pct, then reports:
//   - history scans (the first 50 messages of a random conversation) before and after a full
//     compaction: ops/s with a warm page cache, and with a cold one (drop_caches before the
//     run) ops/s and bytes read from the disk per scan (/proc/self/io read_bytes);
//   - sync append latency (1 writer) while idle and while the (rate-limited) compaction runs;
//   - on a second store built the same way, an unthrottled full compaction: input MB/s, bytes
//     on disk before and after, compression ratio, and disk bytes over live compressed bytes.
// Usage: compaction_bench [--messages=N] [--timelines=N] [--payload=B] [--block=BYTES] [--quick]
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

struct Flags {
  uint64_t messages = 1'000'000;
  uint32_t timelines = 20'000;
  size_t payload = 200;
  double recall_pct = 5;
  double edit_pct = 1;
  uint32_t scans = 3000;
  uint32_t block_bytes = NamespaceOptions{}.compress_block_bytes;
};

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "compaction_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

uint64_t ProcIo(const char* field) {
  std::ifstream f("/proc/self/io");
  std::string k;
  uint64_t v = 0;
  while (f >> k >> v) {
    if (k == std::string(field) + ":") return v;
  }
  return 0;
}

bool DropCaches() {
  sync();
  std::ofstream f("/proc/sys/vm/drop_caches");
  f << "3\n";
  return static_cast<bool>(f);
}

Options DbOptions(uint64_t rate) {
  Options o;
  o.background_maintenance = false;
  o.compaction_bytes_per_s = rate;
  return o;
}

void Build(Db* db, const Flags& f) {
  NamespaceOptions n;
  n.compress_block_bytes = f.block_bytes;
  if (!db->CreateNamespace("hist", n).ok()) Die("create", Status::Corruption("namespace"));
  const auto payloads = ChatPayloads(4096, f.payload, 7);
  std::vector<std::string> keys;
  for (uint32_t i = 0; i < f.timelines; ++i) keys.push_back(ConvKey(i));
  AppendOptions o;
  o.durability = Durability::kBuffered;
  AsyncLoader loader(db, "hist", o);
  Rng rng(42);
  for (uint64_t i = 0; i < f.messages; ++i) {
    loader.Append(keys[rng.Uniform(keys.size())], payloads[i % payloads.size()]);
  }
  if (Status s = loader.Finish(); !s.ok()) Die("load", s);
  Rng pick(99);
  const auto last = db->LastSeq("hist", std::vector<std::string_view>(keys.begin(), keys.end()));
  const uint64_t recalls = static_cast<uint64_t>(f.messages * f.recall_pct / 100);
  const uint64_t edits = static_cast<uint64_t>(f.messages * f.edit_pct / 100);
  for (uint64_t i = 0; i < recalls + edits; ++i) {
    const uint32_t t = static_cast<uint32_t>(pick.Uniform(keys.size()));
    if ((*last)[t] == 0) continue;
    const Seq seq = 1 + pick.Uniform((*last)[t]);
    Mutation m;
    m.kind = i < recalls ? MutationKind::kRecall : MutationKind::kEdit;
    m.timeline = keys[t];
    m.seq = seq;
    m.payload = m.kind == MutationKind::kEdit ? std::string_view(payloads[i % 97]) : "";
    m.durability = Durability::kBuffered;
    auto r = db->Mutate("hist", m);
    if (!r.ok() && r.status().code() != Status::Code::kDeleted) Die("mutate", r.status());
  }
  if (Status s = db->Sync(); !s.ok()) Die("sync", s);
}

struct ScanResult {
  double ops_per_s = 0;
  double bytes_read_per_scan = 0;
  double messages_per_scan = 0;
};

ScanResult HistoryScans(Db* db, const Flags& f, uint64_t seed) {
  Rng rng(seed);
  ScanOptions o;
  o.limit = 50;
  o.direction = Direction::kForward;
  const uint64_t read0 = ProcIo("read_bytes");
  uint64_t msgs = 0;
  const uint64_t t0 = NowNs();
  for (uint32_t i = 0; i < f.scans; ++i) {
    auto r = db->Scan("hist", ConvKey(static_cast<uint32_t>(rng.Uniform(f.timelines))), o);
    if (!r.ok()) Die("scan", r.status());
    msgs += r->size();
  }
  const double s = (NowNs() - t0) / 1e9;
  return {f.scans / s, double(ProcIo("read_bytes") - read0) / f.scans, double(msgs) / f.scans};
}

// The store's files are memory-mapped, and mapped pages survive drop_caches: the cold run closes
// the store, drops the page cache and opens it again.
void PrintScans(const char* when, std::unique_ptr<Db>& owner, const std::string& dir,
                const Flags& f, bool can_drop) {
  Db* db = owner.get();
  const ScanResult warm0 = HistoryScans(db, f, 1);  // also warms the cache
  const ScanResult warm = HistoryScans(db, f, 2);
  const DbStats st = db->Stats();
  std::printf(
      "  history scan %-6s warm: %8.0f scans/s (%.1f msgs/scan; block cache %llu hits, "
      "%llu misses so far)\n",
      when, warm.ops_per_s, warm.messages_per_scan,
      static_cast<unsigned long long>(st.block_cache_hits),
      static_cast<unsigned long long>(st.block_cache_misses));
  (void)warm0;
  if (can_drop) {
    owner.reset();
    DropCaches();
    auto reopened = Db::Open(dir, DbOptions(Options{}.compaction_bytes_per_s));
    if (!reopened.ok()) Die("reopen", reopened.status());
    owner = std::move(reopened).value();
    const ScanResult cold = HistoryScans(owner.get(), f, 3);
    std::printf("  history scan %-6s cold: %8.0f scans/s, %8.0f bytes read from disk per scan\n",
                when, cold.ops_per_s, cold.bytes_read_per_scan);
  } else {
    std::printf("  history scan %-6s cold: not measured (drop_caches not writable)\n", when);
  }
}

// Sync appends from one writer until `stop`; latency histogram.
LatencyHistogram AppendLatency(Db* db, const std::atomic<bool>& stop, uint64_t min_ops) {
  LatencyHistogram h;
  AppendOptions o;
  o.durability = Durability::kSync;
  const std::string payload(200, 'x');
  for (uint64_t i = 0; !stop || i < min_ops; ++i) {
    const uint64_t t0 = NowNs();
    if (!db->Append("hist", "live:writer", payload, o).ok()) Die("append", Status::IOError("x"));
    h.Add(NowNs() - t0);
  }
  return h;
}

void Report(const char* what, const LatencyHistogram& h) {
  std::printf("  sync append %-18s p50 %7.0f us  p99 %7.0f us  (%llu appends)\n", what,
              h.Quantile(0.5) / 1e3, h.Quantile(0.99) / 1e3,
              static_cast<unsigned long long>(h.count()));
}

void ScansAndLatency(const Flags& f) {
  TempDir dir("tldb-compact");
  auto db = std::move(Db::Open(dir.path(), DbOptions(Options{}.compaction_bytes_per_s)).value());
  Build(db.get(), f);
  const bool can_drop = DropCaches();
  std::printf(
      "store: %llu messages over %u conversations, %zu-byte payloads, %.0f%% recalled, "
      "%.0f%% edited\n",
      static_cast<unsigned long long>(f.messages), f.timelines, f.payload, f.recall_pct,
      f.edit_pct);
  PrintScans("before", db, dir.path(), f, can_drop);
  std::atomic<bool> idle_stop{false};
  std::thread idle([&] {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    idle_stop = true;
  });
  const LatencyHistogram h_idle = AppendLatency(db.get(), idle_stop, 0);
  idle.join();
  Report("idle", h_idle);
  std::atomic<bool> done{false};
  CompactionProgress progress;
  const uint64_t t0 = NowNs();
  std::thread compactor([&] {
    CompactOptions o;
    o.full = true;
    auto r = db->Compact("hist", o);
    if (!r.ok()) Die("compact", r.status());
    progress = *r;
    done = true;
  });
  const LatencyHistogram h_busy = AppendLatency(db.get(), done, 100);
  compactor.join();
  const double secs = (NowNs() - t0) / 1e9;
  Report("during compaction", h_busy);
  std::printf("  (compaction limited to %.0f MiB/s took %.1f s)\n",
              Options{}.compaction_bytes_per_s / 1048576.0, secs);
  PrintScans("after", db, dir.path(), f, can_drop);
}

void ThroughputAndSpace(const Flags& f) {
  TempDir dir("tldb-compact");
  auto db = std::move(Db::Open(dir.path(), DbOptions(0)).value());
  Build(db.get(), f);
  const NamespaceInfo before = db->DescribeNamespace("hist").value();
  const uint64_t t0 = NowNs();
  CompactOptions o;
  o.full = true;
  auto p = db->Compact("hist", o);
  if (!p.ok()) Die("compact", p.status());
  const double secs = (NowNs() - t0) / 1e9;
  const NamespaceInfo after = db->DescribeNamespace("hist").value();
  uint64_t seg_bytes = 0, idx_bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/ns/hist")) {
    const auto name = e.path().filename().string();  // compaction outputs: <id>-<gen>.*
    if (name.find('-') == std::string::npos) continue;
    if (name.ends_with(".seg")) seg_bytes += e.file_size();
    if (name.ends_with(".idx")) idx_bytes += e.file_size();
  }
  const double live_raw = double(f.payload) * f.messages;  // payload bytes written
  std::printf(
      "unthrottled full compaction: %.1f MB read in %.2f s = %.0f MB/s (input), %.1f MB "
      "written; %llu records kept, %llu dropped\n",
      p->bytes_read / 1e6, secs, p->bytes_read / 1e6 / secs, p->bytes_written / 1e6,
      static_cast<unsigned long long>(p->records_kept),
      static_cast<unsigned long long>(p->records_dropped));
  std::printf(
      "space: %.1f MB on disk before, %.1f MB after (%.2fx smaller); payload bytes "
      "appended %.1f MB\n",
      before.bytes_on_disk / 1e6, after.bytes_on_disk / 1e6,
      double(before.bytes_on_disk) / after.bytes_on_disk, live_raw / 1e6);
  std::printf("  compacted: segment data %.1f MB + index %.1f MB; (data + index) / data = %.3f\n",
              seg_bytes / 1e6, idx_bytes / 1e6, double(seg_bytes + idx_bytes) / seg_bytes);
}

}  // namespace
}  // namespace tldb::bench

int main(int argc, char** argv) {
  tldb::bench::Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      const std::string p = std::string("--") + name + "=";
      return a.rfind(p, 0) == 0 ? a.c_str() + p.size() : nullptr;
    };
    if (const char* v = val("messages")) {
      f.messages = std::strtoull(v, nullptr, 10);
    } else if (const char* v = val("timelines")) {
      f.timelines = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (const char* v = val("payload")) {
      f.payload = std::strtoul(v, nullptr, 10);
    } else if (const char* v = val("block")) {
      f.block_bytes = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (a == "--quick") {
      f.messages = 100'000;
      f.timelines = 2'000;
      f.scans = 500;
    } else {
      std::fprintf(stderr,
                   "usage: compaction_bench [--messages=N] [--timelines=N] "
                   "[--payload=B] [--block=BYTES] [--quick]\n");
      return 2;
    }
  }
  tldb::bench::ScansAndLatency(f);
  tldb::bench::ThroughputAndSpace(f);
  return 0;
}
