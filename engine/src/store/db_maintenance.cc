// DbImpl background maintenance: one thread drops expired segments and compacts.
//
// Scheduling (docs/design.md "TTL"): the thread sleeps until the oldest sealed segment of any
// namespace with a TTL becomes due (its newest record's time + ttl_ms, on the TTL clock), or
// until a segment is sealed or options change (which may make new work), but at most
// kMaintenanceIdleMs, so that live fractions lowered by recalls and trims are noticed.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <string>

#include "io/errno_status.h"
#include "store/db_impl.h"

namespace tldb {
namespace {
// Longest sleep between passes. 60 s: compaction of segments thinned by recalls can wait that
// long; TTL drops are scheduled exactly and do not depend on it.
constexpr int64_t kMaintenanceIdleMs = 60'000;
}  // namespace

void DbImpl::StartMaintenance() {
  maint_ = std::thread([this] { MaintenanceLoop(); });
}

void DbImpl::StopMaintenance() {
  {
    std::lock_guard l(maint_mu_);
    maint_stop_ = true;
    maint_cv_.notify_all();
  }
  {
    std::shared_lock l(mu_);
    for (auto& [name, log] : namespaces_) log->AbortMaintenance();
  }
  if (maint_.joinable()) maint_.join();
}

void DbImpl::WakeMaintenance() {
  std::lock_guard l(maint_mu_);
  maint_wake_ = true;
  maint_cv_.notify_all();
}

std::chrono::milliseconds DbImpl::MaintainOnce() {
  std::vector<NamespaceLog*> logs;
  {
    std::shared_lock l(mu_);
    if (closed_) return std::chrono::milliseconds(kMaintenanceIdleMs);
    for (auto& [name, log] : namespaces_) logs.push_back(log.get());
  }
  int64_t sleep_ms = kMaintenanceIdleMs;
  for (NamespaceLog* log : logs) {
    CompactionProgress p;
    Status s = log->Compact(CompactOptions{}, &p);  // drops expired segments first
    if (!s.ok() && options_.on_event) {
      options_.on_event("maintenance of '" + log->entry().name + "': " + s.ToString());
    }
    const TimestampMs due = log->NextExpiryMs();
    if (due != INT64_MAX)
      sleep_ms = std::min<int64_t>(sleep_ms, std::max<int64_t>(due - log->TtlNowMs(), 1));
  }
  return std::chrono::milliseconds(sleep_ms);
}

// Lowers the calling thread's CPU priority by `nice` (Linux: a thread id names one thread).
// Raising a nice value needs no privilege, so a failure is only reported.
void DbImpl::LowerMaintenancePriority() {
  const int nice = options_.maintenance_nice;
  if (nice == 0) return;
  const auto tid = static_cast<id_t>(gettid());
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, tid);
  if ((now == -1 && errno != 0) || setpriority(PRIO_PROCESS, tid, std::min(now + nice, 19)) != 0) {
    if (options_.on_event) {
      options_.on_event(
          StatusFromErrno(errno, "maintenance: lowering the thread's priority").ToString());
    }
  }
}

void DbImpl::MaintenanceLoop() {
  LowerMaintenancePriority();
  for (;;) {
    {
      std::lock_guard l(maint_mu_);
      if (maint_stop_) return;
      maint_wake_ = false;
    }
    const auto sleep = MaintainOnce();
    std::unique_lock l(maint_mu_);
    maint_cv_.wait_for(l, sleep, [&] { return maint_stop_ || maint_wake_; });
    if (maint_stop_) return;
  }
}

}  // namespace tldb
