// CompactionJobs: the compactions requested through COMPACT, run one at a time on their own
// thread (Db::Compact blocks for as long as the rewrite takes), with their progress kept for
// COMPACT_STATUS.
//
// Contract: thread-safe. Start() queues a job and returns its id at once; a request equal to a
// job still queued (same namespace and `full`) returns that job's id instead of queuing a
// second one. At most kQueuedMax jobs wait (Busy beyond). The newest kJobsKept jobs can be
// looked up; older finished ones are forgotten (NotFound). Stop() fails the jobs still queued
// ("server stopping") and waits for the running one: the engine has no way to cancel a
// compaction other than Db::Close, which the server does not own.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "protocol/messages.h"
#include "task_thread.h"
#include "tldb/db.h"

namespace tldb::server {

class CompactionJobs {
 public:
  static constexpr size_t kQueuedMax = 8;  // a backlog beyond this is an operator mistake
  static constexpr size_t kJobsKept = 32;  // status history (each entry is ~150 bytes)

  explicit CompactionJobs(Db* db) : db_(db) {}
  ~CompactionJobs() { Stop(); }

  Result<uint64_t> Start(std::string_view ns, bool full);
  // `id` 0: the newest job.
  Result<proto::CompactStatusResponse> Get(uint64_t id) const;
  void Stop();

  // Server-lifetime totals for STATS.
  struct Totals {
    uint64_t started = 0, done = 0, failed = 0;
    uint64_t bytes_read = 0, bytes_written = 0, records_dropped = 0, segments_expired = 0;
  };
  Totals totals() const;

 private:
  void Run(uint64_t id);
  proto::CompactStatusResponse* FindLocked(uint64_t id);
  void Finish(uint64_t id, const Result<CompactionProgress>& r);

  Db* db_;
  mutable std::mutex mu_;
  std::deque<proto::CompactStatusResponse> jobs_;  // oldest first
  uint64_t next_id_ = 1;
  Totals totals_;
  std::atomic<bool> stopping_{false};
  TaskThread thread_;  // last: joined first on destruction
};

}  // namespace tldb::server
