// Engine benchmarks (issue 2): appends (buffered, synced with 1/16/64 writers, fan-out), reads
// (Get, latest-20, 20-message forward page) and hot-path microbenchmarks.
//
// Workload: 200-byte chat-like JSON payloads from a seeded generator, 100,000 timelines with
// IM-style keys ("conv:4711:88120"), one namespace with default options. Every store lives in a
// fresh mkdtemp directory under /tmp that is removed at exit.
//
// Each store benchmark reports ops/s (items_per_second) and per-operation latency p50/p99 in
// microseconds (p50_us, p99_us) from a log-linear histogram; sync benchmarks also report
// `batch`, the average number of appends per group commit, and `syncs/s`.
//
// Extra flags (before the Google Benchmark ones):
//   --tldb_timelines=N          timelines (default 100000)
//   --tldb_read_messages=N      messages in the read store (default 3000000)
//   --tldb_sync_min_time=S      min seconds for each fdatasync-bound benchmark (default 2)
//   --tldb_io_backend=B         Options::io_backend: auto (default), uring, posix
//   --tldb_groups_in_flight=N   Options::groups_in_flight_max (default: the Options default)
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <semaphore>
#include <string>
#include <vector>

#include "bench_util.h"
#include "index/segment_index.h"
#include "log/record.h"
#include "tldb/db.h"
#include "util/checksum.h"

namespace tldb::bench {
namespace {

constexpr size_t kPayloadBytes = 200;
constexpr size_t kPayloadCount = 4096;  // distinct payloads, reused round-robin
constexpr int kMaxThreads = 64;
constexpr char kNs[] = "chat";

uint32_t g_timelines = 100'000;
uint64_t g_read_messages = 3'000'000;
std::string g_io_backend = "auto";
uint32_t g_groups_in_flight = Options{}.groups_in_flight_max;
double g_sync_min_time = 2.0;  // seconds per fdatasync-bound benchmark

void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "engine_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::abort();
}

const std::vector<std::string>& Payloads() {
  static const auto* p =
      new std::vector<std::string>(ChatPayloads(kPayloadCount, kPayloadBytes, 42));
  return *p;
}

const std::vector<std::string>& Keys() {
  static const auto* k = [] {
    auto* v = new std::vector<std::string>();
    v->reserve(g_timelines);
    for (uint32_t i = 0; i < g_timelines; ++i) v->push_back(ConvKey(i));
    return v;
  }();
  return *k;
}

// A Db in its own temporary directory with the namespace "chat" (default options).
struct Store {
  explicit Store(const char* prefix) : dir(prefix) {
    Options options;
    options.io_backend = g_io_backend;
    options.groups_in_flight_max = g_groups_in_flight;
    auto r = Db::Open(dir.path(), options);
    if (!r.ok()) Die("open " + dir.path(), r.status());
    db = std::move(r).value();
    Status s = db->CreateNamespace(kNs, NamespaceOptions{});
    if (!s.ok()) Die("create namespace", s);
  }
  ~Store() {
    if (db) {
      Status s = db->Close();
      if (!s.ok()) Die("close", s);
      db.reset();
    }
  }
  TempDir dir;
  std::unique_ptr<Db> db;
};

// The write store: every append benchmark appends here (it grows across benchmarks and rolls
// segments, as a live store does).
std::unique_ptr<Store> g_write;
Store& WriteStore() {
  static std::once_flag once;
  std::call_once(once, [] { g_write = std::make_unique<Store>("tldb-bench-w"); });
  return *g_write;
}

// The read store: g_read_messages messages over g_timelines timelines, appended (buffered) to
// uniformly random timelines, so each timeline's messages are spread over every segment.
struct ReadStore {
  std::unique_ptr<Store> store;
  std::vector<uint32_t> last_seq;  // per timeline
};
std::unique_ptr<ReadStore> g_read;
ReadStore& ReadStoreRef() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_read = std::make_unique<ReadStore>();
    g_read->store = std::make_unique<Store>("tldb-bench-r");
    g_read->last_seq.assign(g_timelines, 0);
    Db& db = *g_read->store->db;
    const auto& keys = Keys();
    const auto& payloads = Payloads();
    AppendOptions o;
    o.durability = Durability::kBuffered;
    Rng rng(7);
    const uint64_t t0 = NowNs();
    AsyncLoader loader(&db, kNs, o);
    for (uint64_t i = 0; i < g_read_messages; ++i) {
      // Every timeline gets at least one message; the rest land uniformly at random.
      const uint32_t t = i < g_timelines ? static_cast<uint32_t>(i)
                                         : static_cast<uint32_t>(rng.Uniform(g_timelines));
      loader.Append(keys[t], payloads[i % kPayloadCount]);
    }
    Status s = loader.Finish();
    if (!s.ok()) Die("populate", s);
    s = db.Sync();
    if (!s.ok()) Die("sync", s);
    std::vector<std::string_view> views(keys.begin(), keys.end());
    auto last = db.LastSeq(kNs, views);
    if (!last.ok()) Die("last seq", last.status());
    for (uint32_t t = 0; t < g_timelines; ++t)
      g_read->last_seq[t] = static_cast<uint32_t>((*last)[t]);
    const double secs = static_cast<double>(NowNs() - t0) / 1e9;
    auto info = db.DescribeNamespace(kNs);
    std::fprintf(stderr,
                 "read store: %llu messages over %u timelines loaded in %.1f s (%.0f/s, "
                 "AppendAsync buffered), "
                 "%llu segments, %.0f MiB on disk\n",
                 static_cast<unsigned long long>(g_read_messages), g_timelines, secs,
                 static_cast<double>(g_read_messages) / secs,
                 static_cast<unsigned long long>(info.ok() ? info->segments : 0),
                 info.ok() ? static_cast<double>(info->bytes_on_disk) / (1 << 20) : 0.0);
  });
  return *g_read;
}

// Per-thread latency histograms. A thread clears its own before the timed loop and records only
// inside it; Google Benchmark's barrier at the end of the loop orders those writes before
// thread 0 merges them.
LatencyHistogram g_hist[kMaxThreads];

void ReportLatency(benchmark::State& state, const LatencyHistogram& h) {
  state.counters["p50_us"] = h.Quantile(0.50) / 1e3;
  state.counters["p99_us"] = h.Quantile(0.99) / 1e3;
}

// Thread 0, after the loop: merges every thread's histogram and reports p50/p99.
void FinishThreads(benchmark::State& state) {
  if (state.thread_index() != 0) return;
  LatencyHistogram all;
  for (int i = 0; i < state.threads(); ++i) all.Merge(g_hist[i]);
  ReportLatency(state, all);
}

void ReportBatching(benchmark::State& state, const DbStats& a, const DbStats& b, double seconds) {
  const double groups = static_cast<double>(b.groups_committed - a.groups_committed);
  const double appends = static_cast<double>(b.appends - a.appends);
  state.counters["batch"] = groups > 0 ? appends / groups : 0;
  state.counters["syncs/s"] = static_cast<double>(b.syncs - a.syncs) / seconds;
}

// ---------------------------------------------------------------------------------------------
// Appends

// One append per iteration to a random timeline, with the given durability. Runs with ->Threads(n):
// all threads share one Db, so concurrent synced appends share group commits.
void BM_Append(benchmark::State& state, Durability durability) {
  Db& db = *WriteStore().db;
  const auto& keys = Keys();
  const auto& payloads = Payloads();
  AppendOptions o;
  o.durability = durability;
  LatencyHistogram& h = g_hist[state.thread_index()];
  h.Clear();
  Rng rng(1000 + static_cast<uint64_t>(state.thread_index()));
  DbStats before;
  uint64_t t_start = 0;
  if (state.thread_index() == 0) {
    before = db.Stats();
    t_start = NowNs();
  }
  uint64_t i = 0;
  for (auto _ : state) {
    const std::string& key = keys[rng.Uniform(keys.size())];
    const uint64_t t0 = NowNs();
    auto r = db.Append(kNs, key, payloads[i++ % kPayloadCount], o);
    h.Add(NowNs() - t0);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kPayloadBytes));
  FinishThreads(state);
  if (state.thread_index() == 0) {
    ReportBatching(state, before, db.Stats(), static_cast<double>(NowNs() - t_start) / 1e9);
  }
}

// One fan-out of one payload to 200 random distinct timelines per iteration.
void BM_Fanout(benchmark::State& state, Durability durability) {
  constexpr size_t kTargets = 200;
  Db& db = *WriteStore().db;
  const auto& keys = Keys();
  const auto& payloads = Payloads();
  AppendOptions o;
  o.durability = durability;
  LatencyHistogram& h = g_hist[0];
  h.Clear();
  Rng rng(2000);
  std::vector<std::string_view> targets;
  std::vector<uint32_t> picked;
  uint64_t i = 0;
  const DbStats before = db.Stats();
  const uint64_t t_start = NowNs();
  for (auto _ : state) {
    state.PauseTiming();
    targets.clear();
    picked.clear();
    while (picked.size() < kTargets) {
      const auto t = static_cast<uint32_t>(rng.Uniform(keys.size()));
      if (std::find(picked.begin(), picked.end(), t) == picked.end()) picked.push_back(t);
    }
    for (uint32_t t : picked) targets.push_back(keys[t]);
    state.ResumeTiming();
    const uint64_t t0 = NowNs();
    auto r = db.AppendFanout(kNs, targets, payloads[i++ % kPayloadCount], o);
    h.Add(NowNs() - t0);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["deliveries/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kTargets), benchmark::Counter::kIsRate);
  ReportLatency(state, h);
  ReportBatching(state, before, db.Stats(), static_cast<double>(NowNs() - t_start) / 1e9);
}

// Group commit through AppendAsync: one thread keeps range(0) synced appends in flight; the
// engine's committer thread batches them. Latency is submit -> callback.
void BM_AppendAsyncGroupCommit(benchmark::State& state) {
  Db& db = *WriteStore().db;
  const auto& keys = Keys();
  const auto& payloads = Payloads();
  const auto window = static_cast<ptrdiff_t>(state.range(0));
  AppendOptions o;
  o.durability = Durability::kSync;
  std::counting_semaphore<1 << 20> slots(window);
  std::mutex mu;
  LatencyHistogram h;
  std::atomic<uint64_t> failures{0};
  Rng rng(3000);
  uint64_t i = 0;
  const DbStats before = db.Stats();
  const uint64_t t_start = NowNs();
  for (auto _ : state) {
    slots.acquire();
    const uint64_t t0 = NowNs();
    db.AppendAsync(kNs, keys[rng.Uniform(keys.size())], payloads[i++ % kPayloadCount], o,
                   [&, t0](Result<AppendResult> r) {
                     const uint64_t dt = NowNs() - t0;
                     if (!r.ok()) failures.fetch_add(1);
                     {
                       std::lock_guard l(mu);
                       h.Add(dt);
                     }
                     slots.release();
                   });
  }
  for (ptrdiff_t k = 0; k < window; ++k) slots.acquire();  // drain: all callbacks have run
  const double secs = static_cast<double>(NowNs() - t_start) / 1e9;
  if (failures.load() != 0) state.SkipWithError("async appends failed");
  state.SetItemsProcessed(state.iterations());
  {
    std::lock_guard l(mu);
    ReportLatency(state, h);
  }
  ReportBatching(state, before, db.Stats(), secs);
}

// The disk itself, for reading the sync figures of the same run: pwrite of one 256-byte record
// + fdatasync, at the end of a growing file (arg 0 = 0, what a segment does today) or over
// blocks already written and synced (arg 0 = 1, a pre-zeroed segment).
void BM_RawWriteSync(benchmark::State& state) {
  const bool overwrite = state.range(0) == 1;
  constexpr size_t kRecord = 256;
  constexpr off_t kRegion = 64 << 20;
  TempDir dir("tldb-bench-disk");
  const std::string path = dir.path() + "/probe";
  const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    state.SkipWithError("open failed");
    return;
  }
  if (overwrite) {
    // A page per write, as SegmentPreparer writes zeros: written in 1 MiB calls they would sit
    // in large folios, and each 256-byte record would then dirty (and sync) a whole folio.
    std::vector<char> zeros(4096, 0);
    for (off_t o = 0; o < kRegion; o += static_cast<off_t>(zeros.size())) {
      if (::pwrite(fd, zeros.data(), zeros.size(), o) != static_cast<ssize_t>(zeros.size())) {
        state.SkipWithError("pre-zero failed");
        ::close(fd);
        return;
      }
    }
    ::fsync(fd);
  }
  const std::string rec = Payloads()[0] + std::string(kRecord - kPayloadBytes, ' ');
  LatencyHistogram& h = g_hist[0];
  h.Clear();
  off_t off = 0;
  for (auto _ : state) {
    const uint64_t t0 = NowNs();
    if (::pwrite(fd, rec.data(), kRecord, off) != static_cast<ssize_t>(kRecord) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("pwrite/fdatasync failed");
      break;
    }
    h.Add(NowNs() - t0);
    off = (off + static_cast<off_t>(kRecord)) % kRegion;
  }
  ::close(fd);
  state.SetItemsProcessed(state.iterations());
  ReportLatency(state, h);
}

// ---------------------------------------------------------------------------------------------
// Reads (the read store)

// Get of a random (timeline, seq).
void BM_Get(benchmark::State& state) {
  ReadStore& rs = ReadStoreRef();
  Db& db = *rs.store->db;
  const auto& keys = Keys();
  LatencyHistogram& h = g_hist[state.thread_index()];
  h.Clear();
  Rng rng(4000 + static_cast<uint64_t>(state.thread_index()));
  uint64_t bytes = 0;
  for (auto _ : state) {
    const auto t = static_cast<uint32_t>(rng.Uniform(keys.size()));
    const Seq seq = 1 + rng.Uniform(rs.last_seq[t]);
    const uint64_t t0 = NowNs();
    auto r = db.Get(kNs, keys[t], seq);
    h.Add(NowNs() - t0);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
    bytes += r->payload.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  FinishThreads(state);
}

// Scan of one random timeline: the latest 20 (backward from the end), or (page) a 20-message
// forward page from a random older point.
void BM_Scan(benchmark::State& state, bool page) {
  ReadStore& rs = ReadStoreRef();
  Db& db = *rs.store->db;
  const auto& keys = Keys();
  LatencyHistogram& h = g_hist[state.thread_index()];
  h.Clear();
  Rng rng(5000 + static_cast<uint64_t>(state.thread_index()));
  uint64_t messages = 0;
  for (auto _ : state) {
    const auto t = static_cast<uint32_t>(rng.Uniform(keys.size()));
    ScanOptions o;
    o.limit = 20;
    if (page) {
      o.direction = Direction::kForward;
      const uint32_t last = rs.last_seq[t];
      o.from_seq = last > 20 ? 1 + rng.Uniform(last - 20) : 1;  // an older point
    } else {
      o.direction = Direction::kBackward;
    }
    const uint64_t t0 = NowNs();
    auto r = db.Scan(kNs, keys[t], o);
    h.Add(NowNs() - t0);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
    messages += r->size();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["msgs/scan"] =
      benchmark::Counter(static_cast<double>(messages) / static_cast<double>(state.iterations()),
                         benchmark::Counter::kAvgThreads);
  FinishThreads(state);
}

// ---------------------------------------------------------------------------------------------
// Hot-path microbenchmarks

void BM_EncodeMessage(benchmark::State& state) {
  const std::string key = ConvKey(4711);
  const auto& payloads = Payloads();
  std::vector<char> buf(EncodedMessageBytes(key, {}, payloads[0]));
  uint64_t i = 0;
  for (auto _ : state) {
    EncodeMessage(buf.data(), 7, 4096 + (i & 1023) * 256, 4096, i + 1, 1764400000000 + i, key, {},
                  payloads[i % kPayloadCount]);
    benchmark::DoNotOptimize(buf.data());
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(buf.size()));
}

void BM_DecodeRecord(benchmark::State& state) {
  const std::string key = ConvKey(4711);
  const auto& payloads = Payloads();
  constexpr int kRecords = 256;
  const size_t n = EncodedMessageBytes(key, {}, payloads[0]);
  std::vector<char> buf(n * kRecords);
  for (int k = 0; k < kRecords; ++k) {
    EncodeMessage(buf.data() + k * n, 7, k * n, 0, k + 1, 1764400000000 + k, key, {}, payloads[k]);
  }
  uint64_t i = 0;
  for (auto _ : state) {
    const size_t k = i++ % kRecords;
    RecordView r;
    const DecodeOutcome out = DecodeRecord({buf.data() + k * n, buf.size() - k * n}, 7, k * n, &r);
    if (out != DecodeOutcome::kOk) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(n));
}

// What a read of one member's message in a fan-out record of range(0) members costs: decode
// (checksum over the whole record) plus the identity check. range(1): 0 = RecordSeqFor (the
// check before), 1 = RecordHolds (the read path's check now).
void BM_FanoutMemberRead(benchmark::State& state) {
  const auto members = static_cast<uint32_t>(state.range(0));
  std::vector<std::string> keys;
  std::vector<FanoutTarget> targets;
  keys.reserve(members);
  for (uint32_t m = 0; m < members; ++m) keys.push_back("user:" + std::to_string(100000 + m));
  for (uint32_t m = 0; m < members; ++m) targets.push_back({keys[m], 1400 + m % 7});
  const std::string& payload = Payloads()[0];
  std::vector<char> buf(EncodedFanoutBytes(targets, {}, payload));
  EncodeFanout(buf.data(), 7, 64, 0, targets, 1764400000000, {}, payload);
  uint64_t i = 0;
  for (auto _ : state) {
    const size_t m = (i++ * 7919) % members;
    RecordView r;
    if (DecodeRecord(buf, 7, 64, &r) != DecodeOutcome::kOk) {
      state.SkipWithError("decode failed");
      break;
    }
    Seq got = 0;
    const bool ok = state.range(1) == 0 ? RecordSeqFor(r, keys[m], &got) && got == targets[m].seq
                                        : RecordHolds(r, keys[m], targets[m].seq);
    if (!ok) {
      state.SkipWithError("identity check failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Hash64(benchmark::State& state) {
  std::string data(static_cast<size_t>(state.range(0)), 'x');
  Rng rng(1);
  for (char& c : data) c = static_cast<char>(rng.Next());
  uint64_t seed = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(Hash64(data.data(), data.size(), seed++));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// SegmentIndexReader::Find over an index of range(0) timelines with 4 records each.
void BM_IndexFind(benchmark::State& state) {
  const auto timelines = static_cast<uint32_t>(state.range(0));
  SegmentIndexBuilder b(1, 1);
  std::vector<std::string> keys;
  keys.reserve(timelines);
  uint32_t off = 64;
  for (uint32_t i = 0; i < timelines; ++i) {
    keys.push_back(ConvKey(i));
    const uint32_t offsets[4] = {off, off + 250, off + 500, off + 750};
    off += 1000;
    b.AddTimeline(keys.back(), KeyHash(keys.back()), 1 + i % 7, 1764400000000, offsets);
  }
  const std::string file = b.Finish(off, 1764400000000, 1764400000000);
  SegmentIndexReader reader;
  Status s = reader.Open(file, 1, 1, "bench.idx");
  if (!s.ok()) Die("index open", s);
  std::vector<uint64_t> hashes(timelines);
  for (uint32_t i = 0; i < timelines; ++i) hashes[i] = KeyHash(keys[i]);
  Rng rng(9);
  for (auto _ : state) {
    const auto i = static_cast<uint32_t>(rng.Uniform(timelines));
    IndexEntry e;
    if (!reader.Find(keys[i], hashes[i], &e)) {
      state.SkipWithError("key not found");
      break;
    }
    benchmark::DoNotOptimize(reader.Offset(e, 2));
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["index_MiB"] = static_cast<double>(file.size()) / (1 << 20);
}

void BM_IndexBuild(benchmark::State& state) {
  const auto timelines = static_cast<uint32_t>(state.range(0));
  std::vector<std::string> keys;
  for (uint32_t i = 0; i < timelines; ++i) keys.push_back(ConvKey(i));
  for (auto _ : state) {
    SegmentIndexBuilder b(1, 1);
    uint32_t off = 64;
    for (uint32_t i = 0; i < timelines; ++i) {
      const uint32_t offsets[4] = {off, off + 250, off + 500, off + 750};
      off += 1000;
      b.AddTimeline(keys[i], KeyHash(keys[i]), 1, 1764400000000, offsets);
    }
    benchmark::DoNotOptimize(b.Finish(off, 1764400000000, 1764400000000));
  }
  state.SetItemsProcessed(state.iterations() * timelines);
}

// Registered from main so that flags can shorten the slow (fdatasync-bound) benchmarks.
void RegisterAll() {
  benchmark::RegisterBenchmark("Append/buffered", BM_Append, Durability::kBuffered)
      ->Threads(1)
      ->UseRealTime();
  benchmark::RegisterBenchmark("Append/sync", BM_Append, Durability::kSync)
      ->Threads(1)
      ->Threads(16)
      ->Threads(64)
      ->MinTime(g_sync_min_time)
      ->UseRealTime();
  benchmark::RegisterBenchmark("Fanout200/buffered", BM_Fanout, Durability::kBuffered)
      ->UseRealTime();
  benchmark::RegisterBenchmark("Fanout200/sync", BM_Fanout, Durability::kSync)
      ->MinTime(g_sync_min_time)
      ->UseRealTime();
  benchmark::RegisterBenchmark("AppendAsync/sync/inflight", BM_AppendAsyncGroupCommit)
      ->Arg(64)
      ->Arg(1024)
      ->MinTime(g_sync_min_time)
      ->UseRealTime();
  benchmark::RegisterBenchmark("Disk/pwrite256+fdatasync", BM_RawWriteSync)
      ->ArgName("overwrite")
      ->Arg(0)
      ->Arg(1)
      ->MinTime(g_sync_min_time / 2)
      ->UseRealTime();
  benchmark::RegisterBenchmark("Get/random", BM_Get)->Threads(1)->Threads(2)->UseRealTime();
  benchmark::RegisterBenchmark("Scan/latest20", BM_Scan, false)
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime();
  benchmark::RegisterBenchmark("Scan/page20fwd", BM_Scan, true)
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime();
  benchmark::RegisterBenchmark("Record/EncodeMessage", BM_EncodeMessage);
  benchmark::RegisterBenchmark("Record/Decode", BM_DecodeRecord);
  benchmark::RegisterBenchmark("Record/FanoutMemberRead", BM_FanoutMemberRead)
      ->ArgNames({"members", "holds"})
      ->Args({200, 0})
      ->Args({200, 1})
      ->Args({2000, 0})
      ->Args({2000, 1});
  benchmark::RegisterBenchmark("Checksum/Hash64", BM_Hash64)
      ->Arg(32)
      ->Arg(232)
      ->Arg(4096)
      ->Arg(1 << 20);
  benchmark::RegisterBenchmark("Index/Find", BM_IndexFind)->Arg(1000)->Arg(100'000)->Arg(250'000);
  benchmark::RegisterBenchmark("Index/Build", BM_IndexBuild)
      ->Arg(100'000)
      ->Unit(benchmark::kMillisecond);
}

// Strips --tldb_* flags (ours) from argv before Google Benchmark sees them.
void ParseOwnFlags(int* argc, char** argv) {
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string_view a = argv[i];
    if (a.starts_with("--tldb_timelines=")) {
      g_timelines = static_cast<uint32_t>(std::stoul(std::string(a.substr(17))));
    } else if (a.starts_with("--tldb_sync_min_time=")) {
      g_sync_min_time = std::stod(std::string(a.substr(21)));
    } else if (a.starts_with("--tldb_groups_in_flight=")) {
      g_groups_in_flight = static_cast<uint32_t>(std::stoul(std::string(a.substr(24))));
    } else if (a.starts_with("--tldb_io_backend=")) {
      g_io_backend = std::string(a.substr(18));
    } else if (a.starts_with("--tldb_read_messages=")) {
      g_read_messages = std::stoull(std::string(a.substr(21)));
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
}

}  // namespace
}  // namespace tldb::bench

int main(int argc, char** argv) {
  tldb::bench::ParseOwnFlags(&argc, argv);
  tldb::bench::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("timelines", std::to_string(tldb::bench::g_timelines));
  benchmark::AddCustomContext("read_store_messages", std::to_string(tldb::bench::g_read_messages));
  benchmark::AddCustomContext("payload_bytes", std::to_string(tldb::bench::kPayloadBytes));
  benchmark::AddCustomContext("io_backend", tldb::bench::g_io_backend);
  benchmark::AddCustomContext("groups_in_flight_max",
                              std::to_string(tldb::bench::g_groups_in_flight));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Close the stores and remove their directories.
  tldb::bench::g_write.reset();
  tldb::bench::g_read.reset();
  return 0;
}
