// Completion (util/completion.h): the one-shot wake-up of a blocking group-commit caller.
#include "util/completion.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace tldb {
namespace {

TEST(CompletionTest, SignalBeforeWaitReturnsAtOnce) {
  for (uint32_t yields : {0u, 4u}) {
    Completion c;
    EXPECT_FALSE(c.signalled());
    c.Signal();
    EXPECT_TRUE(c.signalled());
    c.Wait(yields);  // would hang if the signal were lost
  }
}

// The waiter is asleep on the futex when the signal comes (the signal follows a delay): it is
// woken, and not before the signal. A lost wake-up fails within 10 s instead of hanging.
TEST(CompletionTest, ASleepingWaiterIsWoken) {
  for (uint32_t yields : {0u, 4u}) {
    struct Shared {
      Completion c;
      std::atomic<bool> signalled{false};
      std::atomic<bool> returned{false};
      std::atomic<bool> early{false};
    };
    auto* sh = new Shared;  // leaked if the waiter never returns (the test then fails)
    std::thread waiter([sh, yields] {
      sh->c.Wait(yields);
      if (!sh->signalled.load()) sh->early.store(true);
      sh->returned.store(true);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    sh->signalled.store(true);
    sh->c.Signal();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!sh->returned.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!sh->returned.load()) {
      waiter.detach();
      FAIL() << "the waiter was not woken (yields " << yields << ")";
    }
    waiter.join();
    EXPECT_FALSE(sh->early.load()) << "returned before the signal";
    delete sh;
  }
}

// Many waits racing their signals, each completion freed by the waiter as soon as it returns
// (as a blocking caller's request on its stack is): none is lost, none returns early.
TEST(CompletionTest, RacingSignalsAreNeverLost) {
  constexpr int kRounds = 20000;
  std::vector<std::unique_ptr<Completion>> cs(kRounds);
  for (auto& c : cs) c = std::make_unique<Completion>();
  std::atomic<int> published{0};
  std::thread signaller([&] {
    for (int i = 0; i < kRounds; ++i) {
      while (published.load(std::memory_order_acquire) <= i) {
      }
      cs[static_cast<size_t>(i)]->Signal();
    }
  });
  int returned = 0;
  for (int i = 0; i < kRounds; ++i) {
    Completion* c = cs[static_cast<size_t>(i)].get();
    published.store(i + 1, std::memory_order_release);
    c->Wait(i % 2 == 0 ? 0 : 4);
    ASSERT_TRUE(c->signalled()) << "round " << i;
    cs[static_cast<size_t>(i)].reset();
    ++returned;
  }
  signaller.join();
  EXPECT_EQ(returned, kRounds);
}

TEST(CompletionDeathTest, ASecondSignalIsABug) {
  Completion c;
  c.Signal();
  EXPECT_DEATH(c.Signal(), "was != kDone");
}

}  // namespace
}  // namespace tldb
