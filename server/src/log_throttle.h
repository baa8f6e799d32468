// LogThrottle: at most one log line per interval about a kind of event, carrying how many such
// events happened since the previous line (Loop's refusals). A flood must not turn into a flood
// of log lines, nor spend on formatting them the CPU that refusing it saves.
// Not thread-safe: its owner (one loop) uses it from one thread.
#pragma once

#include <cstdint>

namespace tldb::server {

class LogThrottle {
 public:
  explicit LogThrottle(int64_t interval_ms) : interval_ms_(interval_ms) {}

  // Counts one event at `now_ms` (monotonic). Returns the number of events since the last line,
  // this one included, when a line is due now (and starts a new count); 0 when none is.
  [[nodiscard]] uint64_t Count(int64_t now_ms) {
    ++since_line_;
    if (now_ms - line_ms_ < interval_ms_) return 0;
    line_ms_ = now_ms;
    const uint64_t n = since_line_;
    since_line_ = 0;
    return n;
  }

 private:
  const int64_t interval_ms_;
  int64_t line_ms_ = INT64_MIN / 2;  // the last line (none yet: the first event logs)
  uint64_t since_line_ = 0;          // events since that line
};

}  // namespace tldb::server
