// WriteBackPacer: writes a file's dirty pages back to the device in steps, at most
// `bytes_per_s` (WritableFile::WriteBack, then a sleep until the step's share of time is up).
//
// Why: a synced append's fdatasync flushes the device's write cache with whatever else was
// written into it. A background writer that leaves tens of MB dirty and then calls fdatasync
// (a rolled segment's index file, a prepared segment's zeros) sends them all at once, and the
// commits' fdatasyncs beside it wait for all of them (an 18 MB index: 12-18 ms more, here).
// Paced, a commit carries at most a step or two. Options::background_writeback_bytes_per_s
// sets the pace.
//
// Contract: one pacer per pass over one file, on a background thread only (it sleeps); never
// under a lock that appends or reads need. The caller still calls Sync() afterwards: a step
// makes nothing durable. The pace is > 0: a caller without one writes nothing back (checked).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "tldb/file_system.h"
#include "tldb/status.h"

namespace tldb {

class WriteBackPacer {
 public:
  explicit WriteBackPacer(uint64_t bytes_per_s);

  // Writes back [offset, offset+len) of `f` and waits until the bytes stepped so far have taken
  // their share of time at the pace.
  [[nodiscard]] Status Step(WritableFile& f, uint64_t offset, uint64_t len);
  // Steps over [from, to) of `f`, `step_bytes` at a time; before each step, `stop_early` (if
  // given) may end the pass (Ok: what is left is the caller's later fdatasync's to write).
  [[nodiscard]] Status Range(WritableFile& f, uint64_t from, uint64_t to, uint64_t step_bytes,
                             const std::function<bool()>& stop_early = nullptr);

 private:
  const uint64_t bytes_per_s_;
  const std::chrono::steady_clock::time_point start_;
  uint64_t stepped_bytes_ = 0;
};

}  // namespace tldb
