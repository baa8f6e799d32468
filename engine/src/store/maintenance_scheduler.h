// MaintenanceScheduler: the Db's background maintenance thread. Each pass runs every open
// namespace's maintenance (TTL drops, then compaction: NamespaceLog::Compact) one namespace
// after another. Between passes it ticks the scrub (NamespaceLog::Scrub) every kScrubTickMs
// while one is due, with a budget of scrub_bytes_per_s × kScrubTickMs bytes per tick spread
// over the namespaces that scrub; a tick is short, so TTL drops and compaction wait at most one.
//
// Scheduling (docs/design.md "TTL"): the thread sleeps until the oldest sealed segment of any
// namespace with a TTL becomes due (its newest record's time + ttl_ms, on the TTL clock), or
// until Wake() (a segment was sealed, options changed), but at most kIdleMs, so that live
// fractions lowered by recalls and trims are noticed.
//
// Contract: Start and Stop are called once each, by the Db (Stop before the namespaces close).
// `list` returns the namespaces to maintain (none once the Db is closing); it is called on the
// maintenance thread without mu_ held. Wake is thread-safe and never blocks on maintenance.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tldb/options.h"

namespace tldb {

class NamespaceLog;

class MaintenanceScheduler {
 public:
  // Longest sleep between passes. 60 s: compaction of segments thinned by recalls can wait that
  // long; TTL drops are scheduled exactly and do not depend on it.
  static constexpr int64_t kIdleMs = 60'000;
  // The scrub's tick: its byte budget is spent in slices this far apart, so it reads in small
  // bursts (about 800 KiB at the default 8 MiB/s) rather than one large one per second.
  static constexpr int64_t kScrubTickMs = 100;
  // Bytes the scrub may read in one tick.
  static uint64_t ScrubTickBytes(uint64_t bytes_per_s) {
    return std::max<uint64_t>(bytes_per_s * kScrubTickMs / 1000, 1);
  }

  using ListFn = std::function<std::vector<NamespaceLog*>()>;
  MaintenanceScheduler(const Options& options, ListFn list)
      : options_(options), list_(std::move(list)) {}
  ~MaintenanceScheduler() { Stop(); }
  MaintenanceScheduler(const MaintenanceScheduler&) = delete;
  MaintenanceScheduler& operator=(const MaintenanceScheduler&) = delete;

  void Start();
  // Ends the thread after its current pass (the caller makes a running compaction give up with
  // NamespaceLog::AbortMaintenance first).
  void Stop();
  void Wake();

 private:
  void Loop();
  // One pass over every namespace; returns how long to sleep.
  std::chrono::milliseconds PassOnce();
  // One scrub tick of the namespaces whose scrub is due; returns how long until the next.
  std::chrono::milliseconds ScrubOnce();
  // Lowers the thread's CPU priority by Options::maintenance_nice.
  void LowerPriority();

  const Options& options_;
  const ListFn list_;
  std::mutex mu_;  // guards the fields below
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_ = false;
  std::thread thread_;
};

}  // namespace tldb
