// Clock: the engine's only source of wall-clock time, injectable for tests.
#pragma once

#include <atomic>
#include <memory>

#include "tldb/types.h"

namespace tldb {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch. May jump forward or backward.
  virtual TimestampMs NowMs() = 0;
  // Milliseconds of a monotonic clock (arbitrary origin): never jumps, only advances.
  virtual int64_t MonoMs() = 0;
  static std::shared_ptr<Clock> System();
};

// A clock tests set by hand. Advance() lets time pass (both clocks move); Set() makes the wall
// clock jump (the monotonic clock stays).
class ManualClock : public Clock {
 public:
  explicit ManualClock(TimestampMs now_ms) : now_ms_(now_ms) {}
  TimestampMs NowMs() override { return now_ms_.load(); }
  int64_t MonoMs() override { return mono_ms_.load(); }
  void Set(TimestampMs now_ms) { now_ms_.store(now_ms); }
  void Advance(int64_t delta_ms) {
    now_ms_.fetch_add(delta_ms);
    mono_ms_.fetch_add(delta_ms);
  }

 private:
  std::atomic<TimestampMs> now_ms_;
  std::atomic<int64_t> mono_ms_{1'000'000};
};

}  // namespace tldb
