// RunQueueWait: how long a thread, or all threads of a process, waited for a CPU while runnable,
// from /proc's schedstat (second field: nanoseconds spent on a run queue, not running).
//
// Contract: ThreadWaitNs() reads the thread that constructed the object (its schedstat file stays
// open, so a read is one pread()); ProcessTimes() sums every thread of `pid` at the time of the
// call (threads that exited are missing). Both return 0 when /proc does not provide schedstat.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace tldb::faults {

class RunQueueWait {
 public:
  RunQueueWait();  // opens the calling thread's schedstat
  ~RunQueueWait();
  RunQueueWait(const RunQueueWait&) = delete;
  RunQueueWait& operator=(const RunQueueWait&) = delete;

  uint64_t ThreadWaitNs() const;

  struct Times {
    uint64_t run_ns = 0, wait_ns = 0;
  };
  static Times ProcessTimes(pid_t pid);

 private:
  int fd_ = -1;
};

}  // namespace tldb::faults
