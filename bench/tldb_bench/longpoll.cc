#include "longpoll.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "progress_bar.h"
#include "rng.h"

namespace tldb::peerbench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t Ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The time each message was acknowledged (or, at a fixed rate, meant to be sent), by SeqId.
// Written by the pair's writer, read by its waiter; a slot is reused every kSlots messages.
class StampRing {
 public:
  static constexpr size_t kSlots = 1 << 16;
  StampRing() : slots_(kSlots) {}
  // ns: the latency's origin (acknowledged, or the intended send time); send_ns: the Append
  // call's actual start.
  void Put(uint64_t seq, int64_t ns, int64_t send_ns) {
    Slot& s = slots_[seq % kSlots];
    s.ns.store(ns, std::memory_order_relaxed);
    s.send_ns.store(send_ns, std::memory_order_relaxed);
    s.seq.store(seq, std::memory_order_release);
  }
  // The SeqId whose stamp the slot of `seq` holds (and its stamp): `seq` itself, an older
  // one (not stamped yet) or a newer one (overwritten).
  uint64_t Get(uint64_t seq, int64_t* ns, int64_t* send_ns) const {
    const Slot& s = slots_[seq % kSlots];
    const uint64_t held = s.seq.load(std::memory_order_acquire);
    *ns = s.ns.load(std::memory_order_relaxed);
    *send_ns = s.send_ns.load(std::memory_order_relaxed);
    return held;
  }

 private:
  struct Slot {
    std::atomic<uint64_t> seq{0};
    std::atomic<int64_t> ns{0};
    std::atomic<int64_t> send_ns{0};
  };
  std::vector<Slot> slots_;
};

struct Pair {
  const TimelineRef* tl = nullptr;
  uint64_t base = 0;                  // the timeline's last SeqId before the workload
  std::atomic<uint64_t> appended{0};  // messages appended (the last one's SeqId: base + appended)
  std::atomic<bool> writer_done{false};
  std::atomic<bool> writer_failed{false};
  uint64_t received = 0;  // messages the waiter has (guarded by mu)
  std::mutex mu;
  std::condition_variable cv;  // the writer waits here for the waiter (closed loop)
  StampRing stamps;
  // Results.
  uint64_t delivered = 0, early = 0, payload_bytes = 0;
  int64_t writer_end_ns = 0, last_receipt_ns = 0;
  LatencyHistogram latency, send_to_receipt, start_lag;
  std::string writer_error, waiter_error;
};

struct Shared {
  const Dataset& ds;
  const Workload& w;
  const BenchConfig& cfg;
  std::atomic<bool> stop{false};
  Clock::time_point t0;
  uint32_t pairs = 1;
  double interval_ns = 0;  // fixed rate: between two appends of one writer
  ProgressBar* progress = nullptr;
};

void Writer(Shared& sh, Pair& p, Session& s, uint32_t index) {
  Rng rng(sh.cfg.seed, 7'000'000 + index);
  uint64_t payload = rng.Next();
  const uint64_t max = std::max<uint64_t>(1, sh.cfg.ops_max / sh.pairs);
  for (uint64_t i = 0; i < max && !sh.stop.load(std::memory_order_relaxed); ++i) {
    Clock::time_point stamp;
    if (sh.interval_ns > 0) {
      stamp = sh.t0 + std::chrono::nanoseconds(
                          static_cast<int64_t>(sh.interval_ns * static_cast<double>(i)));
      std::this_thread::sleep_until(stamp);
      p.start_lag.Add(static_cast<uint64_t>(std::max<int64_t>(0, Ns(Clock::now()) - Ns(stamp))));
    } else {
      std::unique_lock l(p.mu);
      while (p.received < i && !sh.stop.load()) p.cv.wait_for(l, std::chrono::milliseconds(10));
      if (p.received < i) break;  // stopped
    }
    const std::string& m = sh.ds.payload(payload++);
    const int64_t send = Ns(Clock::now());
    if (!s.Append(*p.tl, m, sh.w.dur)) {
      p.writer_error = s.error();
      p.writer_failed = true;
      sh.stop = true;
      break;
    }
    if (sh.interval_ns <= 0) stamp = Clock::now();
    p.stamps.Put(p.base + i + 1, Ns(stamp), send);
    p.payload_bytes += m.size();
    p.appended.store(i + 1, std::memory_order_release);
  }
  p.writer_end_ns = Ns(Clock::now());
  p.writer_done.store(true, std::memory_order_release);
}

// Records the latency of messages base+from+1 .. base+to received at `now`.
void Record(Shared& sh, Pair& p, uint64_t from, uint64_t to, Clock::time_point now) {
  for (uint64_t k = from + 1; k <= to; ++k) {
    const uint64_t seq = p.base + k;
    int64_t sent = 0, send = 0;
    // The writer stamps a message right after its Append returns, which can be after the
    // waiter already has it: wait for the stamp (bounded by the writer finishing).
    uint64_t held = p.stamps.Get(seq, &sent, &send);
    while (held < seq && !p.writer_done.load(std::memory_order_acquire)) {
      std::this_thread::yield();
      held = p.stamps.Get(seq, &sent, &send);
    }
    if (held < seq) held = p.stamps.Get(seq, &sent, &send);
    if (held != seq) continue;  // never stamped (its append failed) or overwritten: no sample
    int64_t d = Ns(now) - sent;
    if (d < 0) {
      ++p.early;
      d = 0;
    }
    p.latency.Add(static_cast<uint64_t>(d));
    p.send_to_receipt.Add(static_cast<uint64_t>(std::max<int64_t>(0, Ns(now) - send)));
    ++p.delivered;
  }
  if (sh.progress && to > from) sh.progress->Add(to - from);
}

void Waiter(Shared& sh, Pair& p, Session& s) {
  const WaitSpec spec{sh.cfg.wait_timeout_ms, sh.cfg.poll_us};
  uint64_t got = 0;  // messages received, relative to base
  int idle_after_end = 0;
  for (;;) {
    if (p.writer_done.load(std::memory_order_acquire)) {
      if (got >= p.appended.load(std::memory_order_acquire) || p.writer_failed.load()) break;
      // Everything appended must arrive; a store that loses a message fails the workload.
      if (++idle_after_end > 50) {
        p.waiter_error = "longpoll: message " + std::to_string(p.base + got + 1) + " of " +
                         p.tl->name + " never delivered";
        sh.stop = true;
        break;
      }
    }
    ReadResult r;
    if (!s.WaitAfter(*p.tl, p.base + got, 100, spec, &r)) {
      p.waiter_error = s.error();
      sh.stop = true;
      break;
    }
    if (r.count == 0) continue;
    const Clock::time_point now = Clock::now();
    const uint64_t to = r.last_seq - p.base;
    Record(sh, p, got, to, now);
    got = to;
    p.last_receipt_ns = Ns(now);
    {
      std::lock_guard l(p.mu);
      p.received = got;
    }
    p.cv.notify_one();
  }
}

}  // namespace

WorkloadRun RunLongPoll(Target& target, const Dataset& ds, const Workload& w,
                        const BenchConfig& cfg, ProgressBar* progress) {
  WorkloadRun run;
  if (!target.SetDurability(w.dur, &run.error)) return run;
  const uint32_t pairs = std::max<uint32_t>(1, cfg.clients / 2);
  const auto& users = ds.sync_timelines();
  std::vector<std::unique_ptr<Pair>> ps;
  std::vector<std::unique_ptr<Session>> writers, waiters;
  for (uint32_t i = 0; i < pairs; ++i) {
    auto p = std::make_unique<Pair>();
    p->tl = &users[static_cast<size_t>(i) * users.size() / pairs];
    writers.push_back(target.Connect(&run.error));
    waiters.push_back(target.Connect(&run.error));
    if (!writers.back() || !waiters.back()) return run;
    ReadResult last;
    if (!waiters.back()->Latest(*p->tl, 1, &last)) {
      run.error = waiters.back()->error();
      return run;
    }
    p->base = last.last_seq;
    ps.push_back(std::move(p));
  }
  Shared sh{ds, w, cfg};
  sh.pairs = pairs;
  sh.interval_ns = cfg.rate > 0 ? 1e9 * pairs / cfg.rate : 0;
  sh.progress = progress;
  std::latch ready(2 * pairs + 1);
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < pairs; ++i) {
    threads.emplace_back([&, i] {
      ready.arrive_and_wait();
      Writer(sh, *ps[i], *writers[i], i);
    });
    threads.emplace_back([&, i] {
      ready.arrive_and_wait();
      Waiter(sh, *ps[i], *waiters[i]);
    });
  }
  if (progress) progress->Begin(target.Name(), w.Name(), cfg.seconds, 0);
  run.before = SampleAll(target, cfg);
  sh.t0 = Clock::now();
  ready.arrive_and_wait();
  const auto deadline = sh.t0 + std::chrono::duration<double>(cfg.seconds);
  while (!sh.stop.load() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  sh.stop = true;
  for (auto& t : threads) t.join();
  run.after = SampleAll(target, cfg);
  if (progress) progress->End();
  int64_t end_ns = Ns(sh.t0);
  for (const auto& p : ps) {
    run.ops += p->delivered;
    run.deliveries += p->delivered;
    run.read_messages += p->delivered;
    run.messages += p->appended.load();
    run.payload_bytes += p->payload_bytes;
    run.early += p->early;
    run.latency.Merge(p->latency);
    run.send_to_receipt.Merge(p->send_to_receipt);
    run.start_lag.Merge(p->start_lag);
    end_ns = std::max({end_ns, p->writer_end_ns, p->last_receipt_ns});
    if (run.error.empty()) run.error = !p->writer_error.empty() ? p->writer_error : p->waiter_error;
  }
  // Until the last delivery (or the last writer's end), not until the waiters' last timeout.
  run.seconds = static_cast<double>(end_ns - Ns(sh.t0)) / 1e9;
  return run;
}

}  // namespace tldb::peerbench
