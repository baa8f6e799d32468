#include "store/maintenance_scheduler.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <string>

#include "tldb/errno_status.h"
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
    CompactOptions co;
    co.expire_only = !options_.background_compaction;
    Status s = log->Compact(co, &p);  // drops expired segments first
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

std::chrono::milliseconds MaintenanceScheduler::ScrubOnce() {
  if (options_.scrub_period_ms == 0) return std::chrono::milliseconds(kIdleMs);
  std::vector<NamespaceLog*> due;
  int64_t wait_ms = kIdleMs;
  for (NamespaceLog* log : list_()) {
    const int64_t in = log->ScrubDueInMs();
    if (in == 0) {
      due.push_back(log);
    } else {
      wait_ms = std::min(wait_ms, in);
    }
  }
  if (due.empty()) return std::chrono::milliseconds(wait_ms);
  // The budget is the Db's: namespaces scrubbing at once share it.
  const uint64_t budget =
      std::max<uint64_t>(ScrubTickBytes(options_.scrub_bytes_per_s) / due.size(), 1);
  for (NamespaceLog* log : due) {
    ScrubStepResult r;
    Status s = log->Scrub(budget, false, &r);
    if (!s.ok() && s.code() != Status::Code::kClosed && options_.on_event) {
      options_.on_event("maintenance of '" + log->entry().name + "': scrub: " + s.ToString());
    }
  }
  return std::chrono::milliseconds(kScrubTickMs);
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
  using Clock = std::chrono::steady_clock;
  Clock::time_point next_pass = Clock::now();
  for (;;) {
    {
      std::lock_guard l(mu_);
      if (stop_) return;
      if (wake_) next_pass = Clock::now();
      wake_ = false;
    }
    if (Clock::now() >= next_pass) next_pass = Clock::now() + PassOnce();
    const Clock::time_point until = std::min(next_pass, Clock::now() + ScrubOnce());
    std::unique_lock l(mu_);
    cv_.wait_until(l, until, [&] { return stop_ || wake_; });
    if (stop_) return;
  }
}

}  // namespace tldb
