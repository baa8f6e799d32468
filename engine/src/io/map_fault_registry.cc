#include "io/map_fault_registry.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <vector>

namespace tldb {
namespace {

struct Slot {
  std::atomic<uintptr_t> start{0};  // 0: free
  std::atomic<size_t> len{0};
  std::atomic<bool> failed{false};
};

Slot slots[MapFaultRegistry::kSlotsMax];
std::atomic<uint32_t> slots_used{0};  // high-water mark: the handler scans [0, slots_used)
std::mutex slots_mu;                  // Register/Unregister, and the two below
std::vector<uint32_t> free_slots;     // unregistered slots below slots_used
uintptr_t page_bytes = 4096;
struct sigaction previous {};
std::once_flag install_once;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  const uint32_t used = slots_used.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < used; ++i) {
    const uintptr_t start = slots[i].start.load(std::memory_order_acquire);
    if (start == 0 || addr < start || addr - start >= slots[i].len.load()) continue;
    void* page = reinterpret_cast<void*>(addr & ~(page_bytes - 1));
    // A private page of zeros over the bad one: the read resumes and fails its checksum.
    if (::mmap(page, page_bytes, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
        MAP_FAILED) {
      break;
    }
    slots[i].failed.store(true);
    ++internal::map_faults;
    return;
  }
  // Not a registered mapping: what would have happened without us.
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN &&
      previous.sa_handler != nullptr) {
    previous.sa_handler(sig);
    return;
  }
  ::signal(SIGBUS, SIG_DFL);  // the faulting access repeats and the default action applies
}

void Install() {
  page_bytes = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  struct sigaction sa {};
  sa.sa_sigaction = OnSigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, &previous);
}

}  // namespace

int32_t MapFaultRegistry::Register(const void* addr, size_t len) {
  std::call_once(install_once, Install);
  if (addr == nullptr || len == 0) return kNoSlot;
  std::lock_guard l(slots_mu);
  uint32_t i = 0;
  if (!free_slots.empty()) {
    i = free_slots.back();
    free_slots.pop_back();
  } else if (slots_used.load() < kSlotsMax) {
    i = slots_used.load();
  } else {
    return kNoSlot;
  }
  slots[i].failed.store(false);
  slots[i].len.store(len);
  slots[i].start.store(reinterpret_cast<uintptr_t>(addr), std::memory_order_release);
  if (i >= slots_used.load()) slots_used.store(i + 1, std::memory_order_release);
  return static_cast<int32_t>(i);
}

void MapFaultRegistry::Unregister(int32_t slot) {
  if (slot == kNoSlot) return;
  std::lock_guard l(slots_mu);
  slots[slot].start.store(0, std::memory_order_release);
  free_slots.push_back(static_cast<uint32_t>(slot));
}

bool MapFaultRegistry::Failed(int32_t slot) {
  return slot != kNoSlot && slots[slot].failed.load(std::memory_order_relaxed);
}

const std::atomic<bool>* MapFaultRegistry::FailedFlag(int32_t slot) {
  return slot == kNoSlot ? nullptr : &slots[slot].failed;
}

}  // namespace tldb
