#include "runner.h"

#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "longpoll.h"
#include "process_stats.h"
#include "progress_bar.h"

namespace tldb::peerbench {
namespace {

using Clock = std::chrono::steady_clock;

struct ThreadResult {
  uint64_t ops = 0, messages = 0, payload_bytes = 0, deliveries = 0, read_messages = 0;
  LatencyHistogram latency, start_lag;
  std::string error;
};

}  // namespace

ResourceSample SampleAll(Target& target, const BenchConfig& cfg) {
  ResourceSample s = target.Sample();
  s.device_write_bytes = DeviceWriteBytes(cfg.data_dir);
  return s;
}

WorkloadRun RunWorkload(Target& target, const Dataset& ds, const Workload& w,
                        const BenchConfig& cfg, ProgressBar* progress) {
  if (w.kind == WorkloadKind::kLongPoll) return RunLongPoll(target, ds, w, cfg, progress);
  WorkloadRun run;
  const uint32_t threads = std::max<uint32_t>(1, w.pipelined ? cfg.pipeline_clients : cfg.clients);
  if (w.writes && !target.SetDurability(w.dur, &run.error)) return run;

  std::vector<std::unique_ptr<Session>> sessions;
  for (uint32_t t = 0; t < threads; ++t) {
    sessions.push_back(target.Connect(&run.error));
    if (!sessions.back()) return run;
  }
  std::vector<std::unique_ptr<ThreadResult>> results;
  for (uint32_t t = 0; t < threads; ++t) results.push_back(std::make_unique<ThreadResult>());
  const uint64_t ops_per_thread = std::max<uint64_t>(1, cfg.ops_max / threads);
  const double interval_ns = cfg.rate > 0 ? 1e9 * threads / cfg.rate : 0;
  std::atomic<bool> stop{false};
  std::latch ready(threads + 1);
  Clock::time_point t0;

  std::vector<std::thread> workers;
  for (uint32_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      WorkloadThread gen(ds, w, t, threads);
      ThreadResult& res = *results[t];
      Session& s = *sessions[t];
      ready.arrive_and_wait();
      const Clock::time_point start = t0;
      // `sent`: requests issued so far; a pipelined batch takes `depth` slots of the schedule.
      for (uint64_t sent = 0; sent < ops_per_thread && !stop.load(std::memory_order_relaxed);) {
        Clock::time_point begin = Clock::now();
        if (interval_ns > 0) {
          const auto intended = start + std::chrono::nanoseconds(static_cast<int64_t>(
                                            interval_ns * static_cast<double>(sent)));
          if (intended > begin) {
            std::this_thread::sleep_until(intended);
            begin = Clock::now();
          }
          res.start_lag.Add(static_cast<uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(begin - intended).count()));
          begin = intended;  // latency counts from the intended start
        }
        StepOutcome o;
        if (!gen.Step(s, &o)) {
          res.error = s.error();
          stop = true;
          break;
        }
        const uint64_t ns = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - begin).count());
        res.latency.Add(ns, o.requests);
        res.ops += o.requests;
        sent += o.requests;
        res.messages += o.messages;
        res.payload_bytes += o.payload_bytes;
        res.deliveries += o.deliveries;
        res.read_messages += o.read_messages;
        if (progress) progress->Add(o.requests);
      }
    });
  }
  if (progress) progress->Begin(target.Name(), w.Name(), cfg.seconds, 0);
  run.before = SampleAll(target, cfg);
  t0 = Clock::now();
  ready.arrive_and_wait();
  std::thread timer([&] {
    const auto deadline = t0 + std::chrono::duration<double>(cfg.seconds);
    while (!stop.load() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop = true;
  });
  for (auto& th : workers) th.join();
  run.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  stop = true;
  timer.join();
  run.after = SampleAll(target, cfg);
  if (progress) progress->End();
  for (const auto& r : results) {
    run.ops += r->ops;
    run.messages += r->messages;
    run.payload_bytes += r->payload_bytes;
    run.deliveries += r->deliveries;
    run.read_messages += r->read_messages;
    run.latency.Merge(r->latency);
    run.start_lag.Merge(r->start_lag);
    if (run.error.empty() && !r->error.empty()) run.error = r->error;
  }
  return run;
}

}  // namespace tldb::peerbench
