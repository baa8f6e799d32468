// StripedCounter (util/striped_counter.h): adds from many threads, more threads than stripes
// included, are all counted.
#include "util/striped_counter.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

namespace tldb {
namespace {

TEST(StripedCounterTest, StartsAtZeroAndCountsOneThread) {
  StripedCounter c;
  EXPECT_EQ(c.Load(), 0u);
  c.Add();
  c.Add(41);
  EXPECT_EQ(c.Load(), 42u);
}

TEST(StripedCounterTest, CountsEveryAddOfMoreThreadsThanStripes) {
  StripedCounter c;
  constexpr int kThreads = 40;  // more than the stripes: some threads share one
  constexpr uint64_t kAdds = 20'000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&c, t] {
      for (uint64_t i = 0; i < kAdds; ++i) c.Add(static_cast<uint64_t>(t) + 1);
    });
  }
  for (auto& th : threads) th.join();
  // Sum over t of (t + 1) * kAdds.
  EXPECT_EQ(c.Load(), kAdds * kThreads * (kThreads + 1) / 2);
}

}  // namespace
}  // namespace tldb
