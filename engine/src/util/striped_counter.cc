#include "util/striped_counter.h"

namespace tldb {

uint32_t StripedCounter::ThreadStripe() {
  static std::atomic<uint32_t> next{0};
  thread_local const uint32_t stripe =
      next.fetch_add(1, std::memory_order_relaxed) & (kStripes - 1);
  return stripe;
}

}  // namespace tldb
