// Completion: a one-shot signal from one thread (Signal) to one waiting thread (Wait), for a
// blocking caller of the group commit.
//
// Why not std::binary_semaphore: libstdc++'s acquire spins and then calls sched_yield four times
// before it sleeps, whatever it waits for, and its release always makes a futex system call.
// With more appending threads than cores, a waiter for an fdatasync yields in vain: each yield is
// a context switch, and synced appends from 16 threads on 2 vCPUs cost 34-54 us of CPU each
// with it against 20-25 us without (docs/benchmarks.md "Waiting for a group"). Here the caller
// says how many yields a wait is worth, and Signal makes the wake-up system call only when the
// waiter is asleep.
//
// Contract: Wait is called at most once, by one thread; Signal at most once. Once Signal has
// stored "done", the waiter may return and free the object: Signal touches nothing of it after
// that store except the futex wake on its address (a spurious wake-up for whatever reuses the
// address, which every futex user tolerates).
#pragma once

#include <atomic>
#include <cstdint>

namespace tldb {

class Completion {
 public:
  // Returns once Signal was called (at once if it already was). Before it sleeps, it checks
  // `yields_max` times, giving its CPU to another thread (sched_yield) between checks: for a
  // wait expected to end within a few other threads' time slices (a buffered group's write),
  // that is cheaper than a futex sleep and wake-up; for a wait on a disk flush, pass 0.
  void Wait(uint32_t yields_max);
  void Signal();
  bool signalled() const { return state_.load(std::memory_order_acquire) == kDone; }

 private:
  static constexpr uint32_t kIdle = 0;
  static constexpr uint32_t kSleeping = 1;  // the waiter is (about to be) in FUTEX_WAIT
  static constexpr uint32_t kDone = 2;
  std::atomic<uint32_t> state_{kIdle};
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t),
                "the futex word is the atomic itself");
};

}  // namespace tldb
