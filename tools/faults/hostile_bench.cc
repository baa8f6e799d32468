#include "hostile_bench.h"

#include <sched.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/server_process.h"
#include "kill_run.h"
#include "run_queue_wait.h"
#include "tldb/client.h"

namespace tldb::faults {

using common::ServerProcess;
using common::ServerProcessOptions;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double UsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// Pins every thread of process `pid` (0: this one's calling thread) to `cpu`.
Status PinTo(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pid == 0) {
    if (sched_setaffinity(0, sizeof set, &set) != 0) return Status::IOError("sched_setaffinity");
    return Status::Ok();
  }
  std::error_code ec;
  for (const auto& t :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const pid_t tid = static_cast<pid_t>(std::stol(t.path().filename().string()));
    if (sched_setaffinity(tid, sizeof set, &set) != 0) {
      return Status::IOError("sched_setaffinity of server thread " + std::to_string(tid));
    }
  }
  if (ec) return Status::IOError("listing the server's threads: " + ec.message());
  return Status::Ok();
}

// Puts the calling thread (and the threads it starts later) in SCHED_IDLE.
void BecomeIdleClass() {
  sched_param param{};
  // Best effort: refused only by a seccomp/container policy; the run then measures as before.
  (void)sched_setscheduler(0, SCHED_IDLE, &param);
}

// One probe request: its latency and how long the probe thread waited for a CPU meanwhile.
struct Sample {
  double us = 0, cpu_wait_us = 0;
};

template <typename F>
Sample Timed(const RunQueueWait& clock, F request) {
  const uint64_t w0 = clock.ThreadWaitNs();
  const auto t0 = Clock::now();
  request();
  Sample s{UsSince(t0), 0};
  s.cpu_wait_us = static_cast<double>(clock.ThreadWaitNs() - w0) / 1e3;
  return s;
}

double P(const std::vector<Sample>& v, double p) {
  std::vector<double> us;
  for (const auto& s : v) us.push_back(s.us);
  return Percentile(std::move(us), p);
}

// Of the samples at or above p99: their CPU wait over their latency.
double TailCpuWaitShare(const std::vector<Sample>& v) {
  const double p99 = P(v, 0.99);
  double wait = 0, total = 0;
  for (const auto& s : v) {
    if (s.us < p99) continue;
    wait += s.cpu_wait_us;
    total += s.us;
  }
  return total > 0 ? wait / total : 0;
}

// Probes for probe_ms while sampling the server's RSS; fills the latency fields of `row`.
Status Probe(Client& c, ServerProcess& server, uint32_t probe_ms, Durability durability,
             HostileBenchRow* row) {
  std::vector<Sample> appends, reads;
  Status failure;
  std::atomic<bool> done{false};
  const auto server0 = RunQueueWait::ProcessTimes(server.pid());
  const auto start = Clock::now();
  std::thread probe([&] {
    const RunQueueWait clock;
    const auto end = Clock::now() + milliseconds(probe_ms);
    while (Clock::now() < end) {
      Result<AppendResult> a = Status::Ok();
      appends.push_back(Timed(clock, [&] {
        a = c.Append(kHostileOpenNs, "probe", "probe message", {.durability = durability});
      }));
      Result<std::vector<Message>> r = Status::Ok();
      reads.push_back(Timed(clock, [&] { r = c.Latest(kHostileOpenNs, "chat", 20); }));
      if (!a.ok() || !r.ok()) {
        failure = a.ok() ? r.status() : a.status();
        break;
      }
    }
    done = true;
  });
  while (!done) {
    row->rss_peak_kib = std::max(row->rss_peak_kib, server.RssKib());
    std::this_thread::sleep_for(milliseconds(50));
  }
  probe.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const auto server1 = RunQueueWait::ProcessTimes(server.pid());
  row->server_cpu_ms_per_s = static_cast<double>(server1.run_ns - server0.run_ns) / 1e6 / secs;
  row->server_cpu_wait_ms_per_s =
      static_cast<double>(server1.wait_ns - server0.wait_ns) / 1e6 / secs;
  row->probes = appends.size();
  row->append_p50_us = P(appends, 0.50);
  row->append_p99_us = P(appends, 0.99);
  row->read_p50_us = P(reads, 0.50);
  row->read_p99_us = P(reads, 0.99);
  row->append_tail_cpu_wait_share = TailCpuWaitShare(appends);
  row->read_tail_cpu_wait_share = TailCpuWaitShare(reads);
  row->server_alive = server.Alive();
  return failure;
}

// Runs `cases` in threads, probes meanwhile, stops them.
Result<HostileBenchRow> MeasureUnder(const std::string& name, std::vector<HostileCase> cases,
                                     Client& probe, ServerProcess& server,
                                     const HostileBenchOptions& o) {
  HostileBenchRow row;
  row.name = name;
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<HostileOutcome>> outcomes;
  std::vector<std::thread> loads;
  for (auto& hc : cases) {
    outcomes.push_back(std::make_unique<HostileOutcome>());
    loads.emplace_back([&, run = hc.run, out = outcomes.back().get()] {
      if (o.attackers_idle) BecomeIdleClass();
      run(server.port(), stop, out);
    });
  }
  if (!cases.empty()) std::this_thread::sleep_for(milliseconds(o.warmup_ms));
  Status s = Probe(probe, server, o.probe_ms, o.probe_durability, &row);
  stop = true;
  for (auto& t : loads) t.join();
  for (auto& out : outcomes) {
    row.rounds += out->rounds;
    row.as_expected += out->as_expected;
    for (auto& d : out->Deviations()) row.deviations.push_back(d);
  }
  if (!s.ok()) return s;
  return row;
}

double Median(std::vector<double> v) {
  return Percentile(std::move(v), 0.5);
}

// `repeats` pairs of (idle, loaded) measurements folded into one row of medians.
Result<HostileBenchRow> MeasurePaired(const std::string& name, const std::vector<HostileCase>& load,
                                      Client& probe, ServerProcess& server,
                                      const HostileBenchOptions& o) {
  HostileBenchRow row;
  row.name = name;
  std::vector<double> a50, a99, r50, r99, ia99, ir99, aratio, rratio, aw, rw, cpu, cpuw;
  for (uint32_t rep = 0; rep < std::max(1u, o.repeats); ++rep) {
    auto idle = MeasureUnder("idle", {}, probe, server, o);
    if (!idle.ok()) return idle.status();
    auto loaded = MeasureUnder(name, load, probe, server, o);
    if (!loaded.ok()) return loaded.status();
    a50.push_back(loaded->append_p50_us);
    a99.push_back(loaded->append_p99_us);
    r50.push_back(loaded->read_p50_us);
    r99.push_back(loaded->read_p99_us);
    ia99.push_back(idle->append_p99_us);
    ir99.push_back(idle->read_p99_us);
    aratio.push_back(loaded->append_p99_us / idle->append_p99_us);
    rratio.push_back(loaded->read_p99_us / idle->read_p99_us);
    aw.push_back(loaded->append_tail_cpu_wait_share);
    rw.push_back(loaded->read_tail_cpu_wait_share);
    cpu.push_back(loaded->server_cpu_ms_per_s);
    cpuw.push_back(loaded->server_cpu_wait_ms_per_s);
    row.probes += loaded->probes;
    row.rss_peak_kib = std::max(row.rss_peak_kib, loaded->rss_peak_kib);
    row.rounds += loaded->rounds;
    row.as_expected += loaded->as_expected;
    row.server_alive = row.server_alive && loaded->server_alive;
    for (auto& d : loaded->deviations) row.deviations.push_back(d);
  }
  row.append_p50_us = Median(a50);
  row.append_p99_us = Median(a99);
  row.read_p50_us = Median(r50);
  row.read_p99_us = Median(r99);
  row.idle_append_p99_us = Median(ia99);
  row.idle_read_p99_us = Median(ir99);
  row.append_p99_ratio = Median(aratio);
  row.read_p99_ratio = Median(rratio);
  row.append_tail_cpu_wait_share = Median(aw);
  row.read_tail_cpu_wait_share = Median(rw);
  row.server_cpu_ms_per_s = Median(cpu);
  row.server_cpu_wait_ms_per_s = Median(cpuw);
  return row;
}

}  // namespace

Result<std::vector<HostileBenchRow>> RunHostileBench(const HostileBenchOptions& o) {
  ServerProcessOptions so;
  so.binary = o.server_binary;
  so.data_dir = o.data_dir;
  so.extra_args = HostileServerArgs();
  so.extra_args.insert(so.extra_args.end(), {"--io-backend", o.io_backend});
  if (o.server_threads) {
    so.extra_args.insert(so.extra_args.end(), {"--threads", std::to_string(o.server_threads)});
  }
  so.log_path = o.server_log;
  ServerProcess server(so);
  if (auto s = server.Start(); !s.ok()) return s;
  if (o.pin_cpus) {  // before any thread of ours starts: they inherit CPU 1
    if (auto s = PinTo(server.pid(), 0); !s.ok()) return s;
    if (auto s = PinTo(0, 1); !s.ok()) return s;
  }
  if (auto s = PrepareHostileTarget(server.address()); !s.ok()) return s;
  ClientOptions co = FaultClientOptions(server.address());
  co.token = kHostileAdminToken;
  auto probe = Client::Connect(co);
  if (!probe.ok()) return probe.status();

  std::vector<HostileBenchRow> rows;
  const auto cases = HostileCases(o.cases);
  std::vector<std::pair<std::string, std::vector<HostileCase>>> runs;
  for (const auto& hc : cases) runs.push_back({hc.name, {hc}});
  runs.push_back({"all at once", cases});
  for (const auto& [name, load] : runs) {
    if (!o.only.empty() && name != o.only) continue;
    auto row = MeasurePaired(name, load, **probe, server, o);
    if (!row.ok()) return row.status();
    rows.push_back(*row);
  }
  (void)server.Stop();
  return rows;
}

}  // namespace tldb::faults
