#include "hostile_bench.h"

#include <sched.h>

#include <algorithm>
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
    row.refused += out->refused;
    for (auto& d : out->Deviations()) row.deviations.push_back(d);
  }
  if (!s.ok()) return s;
  return row;
}

double Median(std::vector<double> v) {
  return Percentile(std::move(v), 0.5);
}

// The idle/loaded pairs of one row on one server, folded into a row of medians at the end.
class PairedRow {
 public:
  PairedRow(std::string name, std::string server) {
    row_.name = std::move(name);
    row_.server = std::move(server);
  }
  void Add(const HostileBenchRow& idle, const HostileBenchRow& loaded) {
    a50_.push_back(loaded.append_p50_us);
    a99_.push_back(loaded.append_p99_us);
    r50_.push_back(loaded.read_p50_us);
    r99_.push_back(loaded.read_p99_us);
    ia99_.push_back(idle.append_p99_us);
    ir99_.push_back(idle.read_p99_us);
    aratio_.push_back(loaded.append_p99_us / idle.append_p99_us);
    rratio_.push_back(loaded.read_p99_us / idle.read_p99_us);
    aw_.push_back(loaded.append_tail_cpu_wait_share);
    rw_.push_back(loaded.read_tail_cpu_wait_share);
    cpu_.push_back(loaded.server_cpu_ms_per_s);
    cpuw_.push_back(loaded.server_cpu_wait_ms_per_s);
    row_.probes += loaded.probes;
    row_.rss_peak_kib = std::max(row_.rss_peak_kib, loaded.rss_peak_kib);
    row_.rounds += loaded.rounds;
    row_.as_expected += loaded.as_expected;
    row_.refused += loaded.refused;
    row_.server_alive = row_.server_alive && loaded.server_alive;
    for (auto& d : loaded.deviations) row_.deviations.push_back(d);
  }
  HostileBenchRow Fold() const {
    HostileBenchRow row = row_;
    row.append_p50_us = Median(a50_);
    row.append_p99_us = Median(a99_);
    row.read_p50_us = Median(r50_);
    row.read_p99_us = Median(r99_);
    row.idle_append_p99_us = Median(ia99_);
    row.idle_read_p99_us = Median(ir99_);
    row.append_p99_ratio = Median(aratio_);
    row.read_p99_ratio = Median(rratio_);
    row.append_ratio_min = *std::min_element(aratio_.begin(), aratio_.end());
    row.append_ratio_max = *std::max_element(aratio_.begin(), aratio_.end());
    row.read_ratio_min = *std::min_element(rratio_.begin(), rratio_.end());
    row.read_ratio_max = *std::max_element(rratio_.begin(), rratio_.end());
    row.append_tail_cpu_wait_share = Median(aw_);
    row.read_tail_cpu_wait_share = Median(rw_);
    row.server_cpu_ms_per_s = Median(cpu_);
    row.server_cpu_wait_ms_per_s = Median(cpuw_);
    return row;
  }

 private:
  HostileBenchRow row_;
  std::vector<double> a50_, a99_, r50_, r99_, ia99_, ir99_, aratio_, rratio_, aw_, rw_, cpu_, cpuw_;
};

// One server under test: its process and its probe client.
struct BenchServer {
  std::string binary;
  std::unique_ptr<ServerProcess> process;
  std::unique_ptr<Client> probe;
};

Status StartBenchServer(const HostileBenchOptions& o, const std::string& binary,
                        const std::string& data_dir, BenchServer* out) {
  ServerProcessOptions so;
  so.binary = binary;
  so.data_dir = data_dir;
  so.extra_args = HostileServerArgs();
  so.extra_args.insert(so.extra_args.end(), {"--io-backend", o.io_backend});
  if (o.server_threads) {
    so.extra_args.insert(so.extra_args.end(), {"--threads", std::to_string(o.server_threads)});
  }
  so.log_path = o.server_log;
  out->binary = binary;
  out->process = std::make_unique<ServerProcess>(so);
  if (auto s = out->process->Start(); !s.ok()) return s;
  if (o.pin_cpus) {
    if (auto s = PinTo(out->process->pid(), 0); !s.ok()) return s;
  }
  if (auto s = PrepareHostileTarget(out->process->address()); !s.ok()) return s;
  ClientOptions co = FaultClientOptions(out->process->address());
  co.token = kHostileAdminToken;
  auto probe = Client::Connect(co);
  if (!probe.ok()) return probe.status();
  out->probe = std::move(probe).value();
  return Status::Ok();
}

}  // namespace

Result<std::vector<HostileBenchRow>> RunHostileBench(const HostileBenchOptions& o) {
  // The compared server first, so that each pair of it runs just before the same pair of the
  // server under test.
  std::vector<BenchServer> servers(o.compare_server_binary.empty() ? 1 : 2);
  if (!o.compare_server_binary.empty()) {
    if (auto s =
            StartBenchServer(o, o.compare_server_binary, o.data_dir + "-compared", &servers[0]);
        !s.ok()) {
      return s;
    }
  }
  if (auto s = StartBenchServer(o, o.server_binary, o.data_dir, &servers.back()); !s.ok()) {
    return s;
  }
  if (o.pin_cpus) {  // before any thread of ours starts: they inherit CPU 1
    if (auto s = PinTo(0, 1); !s.ok()) return s;
  }

  std::vector<HostileBenchRow> rows;
  const auto cases = HostileCases(o.cases);
  std::vector<std::pair<std::string, std::vector<HostileCase>>> runs;
  for (const auto& hc : cases) runs.push_back({hc.name, {hc}});
  runs.push_back({"all at once", cases});
  for (const auto& [name, load] : runs) {
    if (!o.only.empty() && name != o.only) continue;
    std::vector<PairedRow> paired;
    for (const auto& srv : servers) paired.emplace_back(name, srv.binary);
    for (uint32_t rep = 0; rep < std::max(1u, o.repeats); ++rep) {
      for (size_t i = 0; i < servers.size(); ++i) {
        ServerProcess& server = *servers[i].process;
        auto idle = MeasureUnder("idle", {}, *servers[i].probe, server, o);
        if (!idle.ok()) return idle.status();
        auto loaded = MeasureUnder(name, load, *servers[i].probe, server, o);
        if (!loaded.ok()) return loaded.status();
        paired[i].Add(*idle, *loaded);
      }
    }
    for (const auto& p : paired) rows.push_back(p.Fold());
  }
  for (auto& srv : servers) {
    srv.probe.reset();
    (void)srv.process->Stop();
  }
  return rows;
}

}  // namespace tldb::faults
