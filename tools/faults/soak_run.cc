#include "soak_run.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "common/server_process.h"
#include "kill_run.h"
#include "soak_model.h"
#include "tldb/client.h"

namespace tldb::faults {

using common::FaultServerOptions;
using common::ServerProcess;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int64_t WallMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

uint64_t OpenFds(pid_t pid) {
  std::error_code ec;
  uint64_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end;
       !ec && it != end; it.increment(ec)) {
    ++n;
  }
  return n;
}

// Bytes and regular files under `dir` (files may vanish while it walks: they are skipped).
std::pair<uint64_t, uint64_t> DiskUsage(const std::string& dir) {
  std::error_code ec;
  uint64_t bytes = 0, files = 0;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code fe;
    if (!it->is_regular_file(fe) || fe) continue;
    const uint64_t size = it->file_size(fe);
    if (fe) continue;
    bytes += size;
    ++files;
  }
  return {bytes, files};
}

// Failures a client retries: the connection (IOError, TimedOut) or the server (Closed while it
// restarts, Busy, NoSpace). Anything else is an answer.
bool Retriable(const Status& s) {
  using C = Status::Code;
  return s.code() == C::kIOError || s.code() == C::kTimedOut || s.code() == C::kClosed ||
         s.code() == C::kBusy || s.code() == C::kNoSpace;
}

// What every thread of the soak shares.
struct Shared {
  const SoakOptions& o;
  std::string address;
  std::string store_ns, sync_ns;
  std::vector<std::unique_ptr<SoakModel>> store, sync;  // [writer * timelines + i]
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> appends{0}, dedup{0}, fanouts{0}, recalls{0}, edits{0}, trims{0};
  std::atomic<uint64_t> reads{0}, checked{0}, failed{0};
  std::mutex vmu;
  std::vector<std::string> violations;
  uint64_t violation_count = 0;

  void Violations(const std::vector<std::string>& v) {
    if (v.empty()) return;
    std::lock_guard l(vmu);
    violation_count += v.size();
    for (const auto& s : v) {
      if (violations.size() < 100) violations.push_back(s);
    }
  }
  // A call that failed for good: a violation unless the soak was stopping (retriable).
  void Unexpected(const Status& st, const std::string& what) {
    if (!Retriable(st)) Violations({what + ": " + st.ToString()});
  }
  std::string StoreName(uint32_t w, uint32_t i) const {
    return "s" + std::to_string(w) + "-" + std::to_string(i);
  }
  std::string SyncName(uint32_t w, uint32_t i) const {
    return "m" + std::to_string(w) + "-" + std::to_string(i);
  }
};

// A connection that is re-made after a retriable failure; Call() retries `fn` until it succeeds,
// fails for good (a non-retriable answer is returned at once), or the soak stops.
class Retrying {
 public:
  explicit Retrying(Shared& sh) : sh_(sh) {}
  template <typename Fn>
  auto Call(Fn&& fn) -> decltype(fn(std::declval<Client&>())) {
    for (;;) {
      if (!client_) {
        auto c = Client::Connect(FaultClientOptions(sh_.address));
        if (c.ok()) client_ = std::move(c).value();
      }
      if (client_) {
        auto r = fn(*client_);
        if (r.ok() || !Retriable(r.status())) return r;
        if (sh_.stop.load()) return r;
        client_.reset();
      } else if (sh_.stop.load()) {
        return Status(Status::Code::kClosed, "soak stopped");
      }
      sh_.failed++;
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

 private:
  Shared& sh_;
  std::unique_ptr<Client> client_;
};

std::string Payload(std::mt19937_64& rng, const std::string& id, uint32_t bytes_max) {
  std::string p = id + "|";
  const size_t n = 1 + rng() % bytes_max;
  for (size_t i = 0; i < n; ++i) p.push_back(static_cast<char>(' ' + rng() % 94));
  return p;
}

// One writer: owns its store and sync timelines and their models.
class Writer {
 public:
  Writer(Shared& sh, uint32_t w) : sh_(sh), w_(w), rng_(sh.o.seed * 1'000'003 + w), conn_(sh) {
    live_.resize(sh.o.timelines);
  }
  void Run() {
    for (uint64_t n = 0; !sh_.stop.load(); ++n) {
      const uint64_t dice = rng_() % 100;
      if (dice < 60) {
        Append();
      } else if (dice < 75) {
        Fanout();
      } else if (dice < 93) {
        Recall();
      } else {
        Edit();
      }
      if (n % 1'000 == 0 && sh_.o.ttl_ms != 0) {
        const int64_t forget = WallMs() - static_cast<int64_t>(sh_.o.ttl_ms) - 60'000;
        for (uint32_t i = 0; i < sh_.o.members; ++i) Sync(i).ForgetSentBefore(forget);
      }
    }
  }

 private:
  struct Live {
    std::string id;
    Seq seq;
  };
  SoakModel& Store(uint32_t i) { return *sh_.store[w_ * sh_.o.timelines + i]; }
  SoakModel& Sync(uint32_t i) { return *sh_.sync[w_ * sh_.o.members + i]; }
  std::string NextId() { return "w" + std::to_string(w_) + "-" + std::to_string(next_++); }

  void Append() {
    const uint32_t t = rng_() % sh_.o.timelines;
    const std::string tl = sh_.StoreName(w_, t), id = NextId();
    const std::string payload = Payload(rng_, id, sh_.o.payload_bytes_max);
    Store(t).Sent(id, payload, WallMs());
    AppendOptions ao;
    ao.client_msg_id = id;
    ao.durability = Durability::kSync;
    auto r = conn_.Call([&](Client& c) { return c.Append(sh_.store_ns, tl, payload, ao); });
    if (!r.ok()) return sh_.Unexpected(r.status(), "append '" + id + "'");
    Store(t).Acked(id, r->seq);
    sh_.appends++;
    live_[t].push_back({id, r->seq});
    if (rng_() % 10 == 0) {  // a client retry: the original SeqId, nothing written
      auto again = conn_.Call([&](Client& c) { return c.Append(sh_.store_ns, tl, payload, ao); });
      if (!again.ok()) return sh_.Unexpected(again.status(), "retry of '" + id + "'");
      {
        sh_.dedup++;
        if (again->seq != r->seq || !again->deduplicated) {
          sh_.Violations({"'" + tl + "': retry of '" + id + "' answered seq " +
                          std::to_string(again->seq) + ", original " + std::to_string(r->seq)});
        }
      }
    }
    if (live_[t].size() > sh_.o.keep + sh_.o.keep / 4) Trim(t);
  }

  void Fanout() {
    const uint32_t n = 2 + rng_() % (std::max<uint32_t>(sh_.o.members, 3) - 1);
    std::vector<uint32_t> members(sh_.o.members);
    for (uint32_t i = 0; i < sh_.o.members; ++i) members[i] = i;
    std::shuffle(members.begin(), members.end(), rng_);
    members.resize(std::min<size_t>(n, members.size()));
    std::vector<std::string> names;
    for (uint32_t m : members) names.push_back(sh_.SyncName(w_, m));
    std::vector<std::string_view> views(names.begin(), names.end());
    const std::string id = NextId();
    const std::string payload = Payload(rng_, id, sh_.o.payload_bytes_max);
    for (uint32_t m : members) Sync(m).Sent(id, payload, WallMs());
    AppendOptions ao;
    ao.client_msg_id = id;
    ao.durability = Durability::kSync;
    auto r = conn_.Call([&](Client& c) { return c.AppendFanout(sh_.sync_ns, views, payload, ao); });
    if (!r.ok()) return sh_.Unexpected(r.status(), "fan-out '" + id + "'");
    if (r->size() != members.size()) {
      sh_.Violations({"fan-out '" + id + "': " + std::to_string(r->size()) + " results for " +
                      std::to_string(members.size()) + " timelines"});
      return;
    }
    for (size_t i = 0; i < members.size(); ++i) Sync(members[i]).Acked(id, (*r)[i].seq);
    sh_.fanouts++;
  }

  void Recall() {
    const uint32_t t = rng_() % sh_.o.timelines;
    if (live_[t].empty()) return;
    const size_t k = rng_() % live_[t].size();
    const Live m = live_[t][k];
    live_[t].erase(live_[t].begin() + static_cast<ptrdiff_t>(k));
    Store(t).RecallRequested(m.id);
    const std::string tl = sh_.StoreName(w_, t);
    auto r = conn_.Call([&](Client& c) { return c.Recall(sh_.store_ns, tl, m.seq); });
    if (!r.ok()) return sh_.Unexpected(r.status(), "recall of '" + m.id + "'");
    Store(t).RecallAcked(m.id);
    sh_.recalls++;
  }

  void Edit() {
    const uint32_t t = rng_() % sh_.o.timelines;
    if (live_[t].empty()) return;
    const Live m = live_[t][rng_() % live_[t].size()];
    const std::string payload = m.id + "|edited " + std::to_string(next_++);
    Store(t).EditRequested(m.id, payload);
    const std::string tl = sh_.StoreName(w_, t);
    auto r = conn_.Call([&](Client& c) { return c.Edit(sh_.store_ns, tl, m.seq, payload); });
    if (!r.ok()) return sh_.Unexpected(r.status(), "edit of '" + m.id + "'");
    Store(t).EditAcked(m.id);
    sh_.edits++;
  }

  void Trim(uint32_t t) {
    auto& live = live_[t];
    const Seq below = live[live.size() - sh_.o.keep].seq;
    Store(t).TrimRequested(below);
    const std::string tl = sh_.StoreName(w_, t);
    auto r = conn_.Call([&](Client& c) { return c.Trim(sh_.store_ns, tl, below); });
    if (!r.ok()) return sh_.Unexpected(r.status(), "trim of '" + tl + "'");
    Store(t).TrimAcked(below);
    live.erase(live.begin(), live.end() - sh_.o.keep);
    sh_.trims++;
  }

  Shared& sh_;
  uint32_t w_;
  std::mt19937_64 rng_;
  Retrying conn_;
  uint64_t next_ = 0;
  std::vector<std::vector<Live>> live_;  // acknowledged, not recalled, per store timeline
};

// Reads a whole timeline (paged forward scans); false when a call failed for good.
bool ReadAll(Shared& sh, Retrying& conn, const std::string& ns, const std::string& tl,
             std::vector<Message>* out) {
  ScanOptions so;
  so.limit = 500;
  for (;;) {
    so.from_seq = out->empty() ? 0 : out->back().seq + 1;
    auto page = conn.Call([&](Client& c) { return c.Scan(ns, tl, so); });
    if (!page.ok()) {
      if (page.status().IsNotFound() && out->empty()) return true;  // nothing written yet
      sh.Unexpected(page.status(), "scan of '" + tl + "'");
      return false;
    }
    if (page->empty()) return true;
    for (auto& m : *page) out->push_back(std::move(m));
  }
}

// Reads one timeline and checks it; `complete` false: the latest 20 only.
void CheckOne(Shared& sh, Retrying& conn, bool sync, uint32_t index, bool complete) {
  const uint32_t per = sync ? sh.o.members : sh.o.timelines;
  const std::string tl =
      sync ? sh.SyncName(index / per, index % per) : sh.StoreName(index / per, index % per);
  const std::string& ns = sync ? sh.sync_ns : sh.store_ns;
  SoakModel& model = sync ? *sh.sync[index] : *sh.store[index];
  const SoakSnapshot before = model.Take();
  std::vector<Message> read;
  if (complete) {
    if (!ReadAll(sh, conn, ns, tl, &read)) return;
  } else {
    auto latest = conn.Call([&](Client& c) { return c.Latest(ns, tl, 20); });
    if (!latest.ok()) {
      if (!latest.status().IsNotFound()) sh.Unexpected(latest.status(), "latest of '" + tl + "'");
      return;
    }
    read = std::move(latest).value();
  }
  SoakReadLimits limits;
  limits.ttl_ms = sync ? sh.o.ttl_ms : 0;
  limits.read_end_ms = WallMs();
  limits.complete = complete;
  sh.Violations(CheckSoakRead(tl, before, model.Take(), read, limits));
  sh.reads++;
  sh.checked += read.size();
}

void ReaderLoop(Shared& sh, uint32_t r) {
  std::mt19937_64 rng(sh.o.seed * 7'919 + r);
  Retrying conn(sh);
  while (!sh.stop.load()) {
    const bool sync = rng() % 10 < 3;
    const size_t n = sync ? sh.sync.size() : sh.store.size();
    CheckOne(sh, conn, sync, static_cast<uint32_t>(rng() % n), rng() % 3 != 0);
  }
}

Status CreateNamespaces(const Shared& sh) {
  auto c = Client::Connect(FaultClientOptions(sh.address));
  if (!c.ok()) return c.status();
  NamespaceOptions no;
  no.segment_bytes_max = kSegmentBytesMin;
  no.durability = Durability::kSync;
  no.compact_live_pct = sh.o.compact_live_pct;
  if (auto s = (*c)->CreateNamespace(sh.store_ns, no); !s.ok()) return s;
  no.ttl_ms = sh.o.ttl_ms;
  return (*c)->CreateNamespace(sh.sync_ns, no);
}

// The server's compaction and expiry counters since its start.
std::pair<uint64_t, uint64_t> MaintenanceCounters(const std::string& address) {
  auto c = Client::Connect(FaultClientOptions(address));
  if (!c.ok()) return {0, 0};
  auto s = (*c)->Stats();
  if (!s.ok()) return {0, 0};
  return {s->Get("db_compactions"), s->Get("db_segments_expired")};
}

Status Restart(ServerProcess& server) {
  if (auto st = server.Stop(30'000); !st.ok()) return st.status();
  if (auto s = server.Start(); !s.ok()) return s;
  return WaitUntilServing(server.address(), 30'000);
}

SoakSample Sample(const ServerProcess& server, const std::string& dir, double at_s) {
  SoakSample s;
  s.at_s = at_s;
  s.rss_kib = server.RssKib();
  s.fds = OpenFds(server.pid());
  std::tie(s.disk_bytes, s.files) = DiskUsage(dir);
  return s;
}

void Summarize(SoakReport* r) {
  if (r->samples.empty()) return;
  const size_t half = r->samples.size() / 2;
  uint64_t rss[2] = {0, 0}, fds[2] = {0, 0};
  for (size_t i = 0; i < r->samples.size(); ++i) {
    const SoakSample& s = r->samples[i];
    const int h = i < half ? 0 : 1;
    rss[h] = std::max(rss[h], s.rss_kib);
    fds[h] = std::max(fds[h], s.fds);
  }
  if (half == 0) rss[0] = rss[1], fds[0] = fds[1];
  r->rss_growth_second_half_kib = static_cast<int64_t>(rss[1]) - static_cast<int64_t>(rss[0]);
  r->fd_growth_second_half = static_cast<int64_t>(fds[1]) - static_cast<int64_t>(fds[0]);
  r->rss_max_kib = std::max(rss[0], rss[1]);
  r->fds_max = std::max(fds[0], fds[1]);
}

}  // namespace

std::string SoakReport::ToString() const {
  char buf[1024];
  std::snprintf(
      buf, sizeof(buf),
      "%.0f s: %llu appends (%llu retries deduplicated), %llu fan-outs, %llu recalls, %llu "
      "edits, %llu trims; %llu reads checked (%llu messages); %llu failed calls retried; %llu "
      "restarts; %llu compactions, %llu segments expired; %llu violations; RSS max %llu KiB, "
      "second-half peak vs first-half peak %+lld KiB; fds max %llu, second-half peak vs first "
      "%+lld",
      seconds, (unsigned long long)appends, (unsigned long long)retries_deduplicated,
      (unsigned long long)fanouts, (unsigned long long)recalls, (unsigned long long)edits,
      (unsigned long long)trims, (unsigned long long)reads_checked,
      (unsigned long long)messages_checked, (unsigned long long)failed_calls,
      (unsigned long long)restarts, (unsigned long long)compactions,
      (unsigned long long)segments_expired, (unsigned long long)violation_count,
      (unsigned long long)rss_max_kib, (long long)rss_growth_second_half_kib,
      (unsigned long long)fds_max, (long long)fd_growth_second_half);
  return buf;
}

Result<SoakReport> RunSoak(const SoakOptions& o) {
  ServerProcess server(
      FaultServerOptions(o.server_binary, o.data_dir, o.io_backend, 2, o.server_log));
  if (auto s = server.Start(); !s.ok()) return s;
  Shared sh{o, server.address(), o.prefix + "_store", o.prefix + "_sync"};
  for (uint32_t i = 0; i < o.writers * o.timelines; ++i)
    sh.store.push_back(std::make_unique<SoakModel>());
  for (uint32_t i = 0; i < o.writers * o.members; ++i)
    sh.sync.push_back(std::make_unique<SoakModel>());
  if (auto s = CreateNamespaces(sh); !s.ok()) return s;

  SoakReport report;
  std::vector<std::unique_ptr<Writer>> writers;
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < o.writers; ++w) writers.push_back(std::make_unique<Writer>(sh, w));
  for (auto& w : writers) threads.emplace_back([&w] { w->Run(); });
  for (uint32_t r = 0; r < o.readers; ++r) threads.emplace_back(ReaderLoop, std::ref(sh), r);

  const auto t0 = Clock::now();
  auto last_restart = t0;
  std::pair<uint64_t, uint64_t> carried{0, 0};
  Status failure;
  // Past duration_ms (up to duration_max_ms) until the events the run must see happened.
  const bool has_minimums =
      o.compactions_min > 0 || o.segments_expired_min > 0 || o.restarts_min > 0;
  auto minimums_seen = [&] {
    if (!has_minimums) return true;
    const auto c = MaintenanceCounters(server.address());
    return carried.first + c.first >= o.compactions_min &&
           carried.second + c.second >= o.segments_expired_min && report.restarts >= o.restarts_min;
  };
  auto go_on = [&] {
    const double ms = SecondsSince(t0) * 1'000;
    if (ms < static_cast<double>(o.duration_ms)) return true;
    return ms < static_cast<double>(o.duration_max_ms) && !minimums_seen();
  };
  while (go_on()) {
    std::this_thread::sleep_for(milliseconds(std::min<uint64_t>(o.sample_ms, o.duration_ms)));
    report.samples.push_back(Sample(server, o.data_dir, SecondsSince(t0)));
    if (o.progress) {
      const SoakSample& s = report.samples.back();
      char line[256];
      std::snprintf(line, sizeof(line),
                    "%6.0f s: rss %llu KiB, fds %llu, disk %llu KiB in %llu files, %llu appends, "
                    "%llu reads checked, %llu violations",
                    s.at_s, (unsigned long long)s.rss_kib, (unsigned long long)s.fds,
                    (unsigned long long)(s.disk_bytes >> 10), (unsigned long long)s.files,
                    (unsigned long long)sh.appends.load(), (unsigned long long)sh.reads.load(),
                    (unsigned long long)sh.violation_count);
      o.progress(line);
    }
    if (o.restart_every_ms != 0 &&
        SecondsSince(last_restart) * 1'000 >= static_cast<double>(o.restart_every_ms)) {
      const auto c = MaintenanceCounters(server.address());
      carried.first += c.first;
      carried.second += c.second;
      if (failure = Restart(server); !failure.ok()) break;
      report.restarts++;
      last_restart = Clock::now();
    }
  }
  sh.stop = true;
  for (auto& t : threads) t.join();
  if (!failure.ok()) return failure;
  report.seconds = SecondsSince(t0);
  const auto c = MaintenanceCounters(server.address());
  report.compactions = carried.first + c.first;
  report.segments_expired = carried.second + c.second;

  // The end state, read back after a restart with nothing running.
  if (auto s = Restart(server); !s.ok()) return s;
  sh.stop = false;
  {
    Retrying conn(sh);
    for (uint32_t i = 0; i < sh.store.size(); ++i) CheckOne(sh, conn, false, i, true);
    for (uint32_t i = 0; i < sh.sync.size(); ++i) CheckOne(sh, conn, true, i, true);
  }
  sh.stop = true;
  (void)server.Stop();
  report.appends = sh.appends;
  report.retries_deduplicated = sh.dedup;
  report.fanouts = sh.fanouts;
  report.recalls = sh.recalls;
  report.edits = sh.edits;
  report.trims = sh.trims;
  report.reads_checked = sh.reads;
  report.messages_checked = sh.checked;
  report.failed_calls = sh.failed;
  report.violations = sh.violations;
  report.violation_count = sh.violation_count;
  Summarize(&report);
  return report;
}

}  // namespace tldb::faults
