// SteadyMs: milliseconds on the monotonic clock, for the cluster code's deadlines and polls
// (never wall-clock time: a clock step must not shorten or stretch a lease or a wait).
#pragma once

#include <chrono>
#include <cstdint>

namespace tldb::cluster {

inline int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace tldb::cluster
