// StripedCounter: a statistics counter that many threads bump, each on a cache line of its own
// (mostly): a single std::atomic counter bumped by every get moved its line between the cores
// on each one, a stall per read (docs/benchmarks.md "Engine reads"). Reading it sums the
// stripes.
//
// Contract: Add and Load are thread-safe; a Load that runs beside Adds returns a sum that each
// stripe contributed to at some moment of the Load (a statistic, not a snapshot). A thread keeps
// its stripe for life (assigned in order of first use); threads beyond kStripes share stripes,
// which costs speed and never a count.
#pragma once

#include <atomic>
#include <cstdint>

namespace tldb {

class StripedCounter {
 public:
  void Add(uint64_t n = 1) { stripes_[ThreadStripe()].n.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Load() const {
    uint64_t sum = 0;
    for (const Stripe& s : stripes_) sum += s.n.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  // Enough that the reader threads of a machine with a few cores rarely share one (1 KiB each).
  static constexpr uint32_t kStripes = 16;
  static_assert((kStripes & (kStripes - 1)) == 0, "a stripe is picked by masking");
  struct alignas(64) Stripe {
    std::atomic<uint64_t> n{0};
  };
  static uint32_t ThreadStripe();  // this thread's stripe, < kStripes

  Stripe stripes_[kStripes];
};

}  // namespace tldb
