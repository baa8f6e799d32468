#include "util/completion.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "util/check.h"

namespace tldb {
namespace {

long Futex(std::atomic<uint32_t>* word, int op, uint32_t val) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op | FUTEX_PRIVATE_FLAG, val,
                 nullptr, nullptr, 0);
}

}  // namespace

void Completion::Wait(uint32_t yields_max) {
  for (uint32_t i = 0; i < yields_max; ++i) {
    if (state_.load(std::memory_order_acquire) == kDone) return;
    sched_yield();
  }
  uint32_t expected = kIdle;
  if (!state_.compare_exchange_strong(expected, kSleeping, std::memory_order_acquire)) {
    TLDB_CHECK(expected == kDone);  // one waiter only
    return;
  }
  while (state_.load(std::memory_order_acquire) != kDone) {
    // Sleeps only while the word is still kSleeping: a Signal in between returns at once.
    if (Futex(&state_, FUTEX_WAIT, kSleeping) != 0) {
      TLDB_CHECK(errno == EAGAIN || errno == EINTR);
    }
  }
}

void Completion::Signal() {
  const uint32_t was = state_.exchange(kDone, std::memory_order_acq_rel);
  TLDB_CHECK(was != kDone);  // one signal only
  if (was == kSleeping) (void)Futex(&state_, FUTEX_WAKE, 1);
}

}  // namespace tldb
