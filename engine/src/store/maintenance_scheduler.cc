#include "store/maintenance_scheduler.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <string>

#include "io/errno_status.h"
#include "store/namespace_log.h"

namespace tldb {

void MaintenanceScheduler::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void MaintenanceScheduler::Stop() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void MaintenanceScheduler::Wake() {
  std::lock_guard l(mu_);
  wake_ = true;
  cv_.notify_all();
}

std::chrono::milliseconds MaintenanceScheduler::PassOnce() {
  int64_t sleep_ms = kIdleMs;
  for (NamespaceLog* log : list_()) {
    CompactionProgress p;
    Status s = log->Compact(CompactOptions{}, &p);  // drops expired segments first
    if (!s.ok() && options_.on_event) {
      options_.on_event("maintenance of '" + log->entry().name + "': " + s.ToString());
    }
    const TimestampMs due = log->NextExpiryMs();
    if (due != INT64_MAX) {
      sleep_ms = std::min<int64_t>(sleep_ms, std::max<int64_t>(due - log->TtlNowMs(), 1));
    }
  }
  return std::chrono::milliseconds(sleep_ms);
}

// Linux: a thread id names one thread. Raising a nice value needs no privilege, so a failure is
// only reported.
void MaintenanceScheduler::LowerPriority() {
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

void MaintenanceScheduler::Loop() {
  LowerPriority();
  for (;;) {
    {
      std::lock_guard l(mu_);
      if (stop_) return;
      wake_ = false;
    }
    const auto sleep = PassOnce();
    std::unique_lock l(mu_);
    cv_.wait_for(l, sleep, [&] { return stop_ || wake_; });
    if (stop_) return;
  }
}

}  // namespace tldb
