#include "kill_run.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>

#include "common/server_process.h"

namespace tldb::faults {

using common::FaultServerOptions;
using common::ServerProcess;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string RandomPayload(std::mt19937_64& rng, uint32_t bytes_max) {
  std::string p(1 + rng() % bytes_max, '\0');
  for (auto& c : p) c = static_cast<char>(rng());
  return p;
}

struct WriterCounters {
  std::atomic<uint64_t> failed_attempts{0}, deduplicated{0};
};

// Appends until `stop`, retrying each message with its client_msg_id until acknowledged.
void WriterLoop(int w, const KillRunOptions& o, const std::string& address, Ledger* ledger,
                const std::atomic<bool>* stop, WriterCounters* counters) {
  std::mt19937_64 rng(o.seed * 1'000'003 + static_cast<uint64_t>(w));
  std::unique_ptr<Client> client;
  for (uint64_t n = 0; !stop->load(); ++n) {
    const std::string timeline = "t" + std::to_string(rng() % o.timelines);
    const std::string id = "w" + std::to_string(w) + "-" + std::to_string(n);
    const std::string payload = RandomPayload(rng, o.payload_bytes_max);
    ledger->Sent(w, timeline, id, payload);
    AppendOptions ao;
    ao.client_msg_id = id;
    ao.durability = Durability::kSync;
    while (!stop->load()) {
      if (!client) {
        auto c = Client::Connect(FaultClientOptions(address));
        if (!c.ok()) {
          std::this_thread::sleep_for(milliseconds(20));
          continue;
        }
        client = std::move(c).value();
      }
      auto r = client->Append(o.ns, timeline, payload, ao);
      if (r.ok()) {
        ledger->Acked(timeline, id, r->seq);
        if (r->deduplicated) counters->deduplicated++;
        break;
      }
      counters->failed_attempts++;
      client.reset();  // start over on a fresh connection
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
}

// Reads the latest messages of random timelines until `stop`, logging what it saw.
void ReaderLoop(const KillRunOptions& o, const std::string& address, Ledger* ledger,
                const std::atomic<bool>* stop) {
  std::mt19937_64 rng(o.seed * 7'919);
  std::unique_ptr<Client> client;
  while (!stop->load()) {
    if (!client) {
      auto c = Client::Connect(FaultClientOptions(address));
      if (!c.ok()) {
        std::this_thread::sleep_for(milliseconds(20));
        continue;
      }
      client = std::move(c).value();
    }
    const std::string timeline = "t" + std::to_string(rng() % o.timelines);
    auto latest = client->Latest(o.ns, timeline, 20);
    if (!latest.ok()) {
      client.reset();
      continue;
    }
    for (const auto& m : *latest) ledger->Seen(timeline, m);
    std::this_thread::sleep_for(milliseconds(2));
  }
}

Status CreateNamespace(const std::string& address, const std::string& ns) {
  auto c = Client::Connect(FaultClientOptions(address));
  if (!c.ok()) return c.status();
  NamespaceOptions no;
  no.segment_bytes_max = 256u << 10;
  no.durability = Durability::kSync;
  return (*c)->CreateNamespace(ns, no);
}

Result<std::string> ServerBackend(const std::string& address) {
  auto c = Client::Connect(FaultClientOptions(address));
  if (!c.ok()) return c.status();
  auto s = (*c)->Stats();
  if (!s.ok()) return s.status();
  return s->io_backend;
}

// SIGKILL (after a SIGTERM and `shutdown_delay_us` when that is > 0), restart, wait until a
// PING is answered; returns the recovery time in ms, from the SIGKILL (or the exit).
Result<double> KillAndRecover(ServerProcess& server, uint32_t shutdown_delay_us = 0,
                              bool* in_shutdown = nullptr) {
  if (shutdown_delay_us > 0) {
    bool running = false;
    if (auto s = server.KillDuringShutdown(shutdown_delay_us, &running); !s.ok()) return s;
    if (in_shutdown != nullptr) *in_shutdown = running;
  }
  const auto t0 = Clock::now();
  if (shutdown_delay_us == 0) {
    if (auto s = server.Kill(); !s.ok()) return s;
  }
  if (auto s = server.Start(); !s.ok()) return s;
  if (auto s = WaitUntilServing(server.address(), 30'000); !s.ok()) return s;
  return MsSince(t0);
}

}  // namespace

ClientOptions FaultClientOptions(const std::string& address) {
  ClientOptions o;
  o.server = address;
  o.client_name = "tldb-faults";
  o.connect_timeout_ms = 1'000;
  o.request_timeout_ms = 5'000;
  o.reconnect_attempts = 3;
  o.reconnect_backoff_ms = 20;
  return o;
}

Status WaitUntilServing(const std::string& address, uint32_t timeout_ms) {
  const auto t0 = Clock::now();
  Status last = Status::TimedOut("server not serving");
  while (MsSince(t0) < timeout_ms) {
    auto c = Client::Connect(FaultClientOptions(address));
    if (c.ok()) {
      auto p = (*c)->Ping("up");
      if (p.ok()) return Status::Ok();
      last = p.status();
    } else {
      last = c.status();
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  return last;
}

Result<StoredTimelines> ReadBack(Client& client, const std::string& ns,
                                 const std::vector<std::string>& timelines) {
  StoredTimelines out;
  for (const auto& t : timelines) {
    auto& msgs = out[t];
    ScanOptions so;
    so.limit = 1'000;
    while (true) {
      so.from_seq = msgs.empty() ? 0 : msgs.back().seq + 1;
      auto page = client.Scan(ns, t, so);
      if (!page.ok()) return page.status();
      if (page->empty()) break;
      for (auto& m : *page) msgs.push_back(std::move(m));
    }
    if (msgs.empty()) out.erase(t);
  }
  return out;
}

double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(samples.size())));
  return samples[std::min(samples.size(), std::max<size_t>(rank, 1)) - 1];
}

std::string KillRunReport::ToString() const {
  char buf[640];
  std::snprintf(buf, sizeof(buf),
                "backend %s: %u kills under load (%u during a graceful shutdown), %llu "
                "messages sent, %llu acknowledged "
                "(%llu acknowledgements), %llu failed attempts retried, %llu deduplicated "
                "retries, %llu stored, %llu seen by the reader, %zu violations, recovery p50 "
                "%.1f ms p99 %.1f ms",
                io_backend.c_str(), kills, shutdown_kills, static_cast<unsigned long long>(sent),
                static_cast<unsigned long long>(acked), static_cast<unsigned long long>(acks),
                static_cast<unsigned long long>(failed_attempts),
                static_cast<unsigned long long>(deduplicated),
                static_cast<unsigned long long>(stored), static_cast<unsigned long long>(seen),
                violations.size(), recovery_p50_ms, recovery_p99_ms);
  return buf;
}

Result<KillRunReport> RunKillSuite(const KillRunOptions& o) {
  ServerProcess server(
      FaultServerOptions(o.server_binary, o.data_dir, o.io_backend, 2, o.server_log));
  if (auto s = server.Start(); !s.ok()) return s;
  if (auto s = CreateNamespace(server.address(), o.ns); !s.ok()) return s;
  KillRunReport report;
  auto backend = ServerBackend(server.address());
  if (!backend.ok()) return backend.status();
  report.io_backend = *backend;

  Ledger ledger;
  WriterCounters counters;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (uint32_t w = 0; w < o.writers; ++w) {
    writers.emplace_back(WriterLoop, static_cast<int>(w), std::cref(o), server.address(), &ledger,
                         &stop, &counters);
  }
  writers.emplace_back(ReaderLoop, std::cref(o), server.address(), &ledger, &stop);
  std::mt19937_64 rng(o.seed);
  const auto t0 = Clock::now();
  Status failure;
  while (report.kills < o.kills && (o.duration_ms == 0 || MsSince(t0) < o.duration_ms)) {
    const uint32_t span = o.kill_after_max_ms - o.kill_after_min_ms + 1;
    std::this_thread::sleep_for(milliseconds(o.kill_after_min_ms + rng() % span));
    const uint32_t delay_us =
        o.shutdown_kill_max_us == 0 ? 0 : 1 + static_cast<uint32_t>(rng() % o.shutdown_kill_max_us);
    bool in_shutdown = false;
    auto rec = KillAndRecover(server, delay_us, &in_shutdown);
    if (!rec.ok()) {
      failure = rec.status();
      break;
    }
    report.kills++;
    if (in_shutdown) report.shutdown_kills++;
    report.recovery_ms.push_back(*rec);
    if (o.progress) {
      char line[160];
      std::snprintf(line, sizeof(line), "kill %u: recovered in %.1f ms, %llu acknowledged so far",
                    report.kills, *rec, static_cast<unsigned long long>(ledger.acked()));
      o.progress(line);
    }
  }
  // Let the writers run against the last restarted server, then stop them.
  std::this_thread::sleep_for(milliseconds(o.kill_after_min_ms));
  stop = true;
  for (auto& t : writers) t.join();
  if (!failure.ok()) return failure;
  auto rec = KillAndRecover(server);  // a final kill with no load: the read-back sees recovery
  if (!rec.ok()) return rec.status();

  auto reader = Client::Connect(FaultClientOptions(server.address()));
  if (!reader.ok()) return reader.status();
  auto stored = ReadBack(**reader, o.ns, ledger.Timelines());
  if (!stored.ok()) return stored.status();
  for (const auto& [_, msgs] : *stored) report.stored += msgs.size();
  report.violations = ledger.Check(*stored);
  report.sent = ledger.sent();
  report.acked = ledger.acked();
  report.acks = ledger.acks();
  report.seen = ledger.seen();
  report.failed_attempts = counters.failed_attempts;
  report.deduplicated = counters.deduplicated;
  report.recovery_p50_ms = Percentile(report.recovery_ms, 0.50);
  report.recovery_p99_ms = Percentile(report.recovery_ms, 0.99);
  (void)server.Stop();
  return report;
}

}  // namespace tldb::faults
