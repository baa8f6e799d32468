// MapFaultRegistry: makes a disk read error under a memory mapping a Status instead of a crash.
// Sealed segments and index files are read through read-only mappings (fast: no syscall per
// read). When the disk fails under one, the kernel sends SIGBUS, which would kill the server.
// Every mapping is registered here; a SIGBUS handler (installed once) looks the faulting
// address up and, if it lies in a registered mapping, replaces the faulting page with a page of
// zeros, marks the mapping failed and counts a fault on the faulting thread, then returns: the
// read goes on and sees zeros, which fail every checksum. Readers check Failed() before reading
// a mapping and compare ThreadFaults() before and after a request (MapFaultScope) to answer
// IOError for the requests that touched the bad pages. A SIGBUS at any other address keeps its
// default action (the process dies, as before).
//
// Thread-safety: Register and Unregister take a mutex; the handler reads the slots through
// atomics only (async-signal-safe: no lock, no allocation). A mapping stays failed until it is
// unregistered (unmapped): its zeroed pages never show the disk's bytes again.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tldb {

class MapFaultRegistry {
 public:
  // Mappings protected at once (a sealed segment takes two: data and index). Past it a mapping
  // is not protected (Register returns kNoSlot) and a read error under it is a crash, as before.
  static constexpr uint32_t kSlotsMax = 1u << 17;
  static constexpr int32_t kNoSlot = -1;

  // Protects [addr, addr + len); returns its slot.
  static int32_t Register(const void* addr, size_t len);
  // Before the mapping is unmapped.
  static void Unregister(int32_t slot);
  // A read under the mapping of `slot` hit a disk error.
  static bool Failed(int32_t slot);
  // The flag behind Failed(slot), for a mapping to read inline (null for kNoSlot).
  static const std::atomic<bool>* FailedFlag(int32_t slot);
  // Faults handled on the calling thread so far.
  static uint64_t ThreadFaults();
};

namespace internal {
// The counter behind ThreadFaults (the SIGBUS handler increments it). An inline variable with a
// constant initializer: every reader reaches it without a TLS wrapper call.
inline thread_local uint64_t map_faults __attribute__((tls_model("initial-exec"))) = 0;
}  // namespace internal

inline uint64_t MapFaultRegistry::ThreadFaults() {
  return internal::map_faults;
}

// Counts the mapping faults of the calling thread from construction on.
class MapFaultScope {
 public:
  MapFaultScope() : start_(MapFaultRegistry::ThreadFaults()) {}
  bool Faulted() const { return MapFaultRegistry::ThreadFaults() != start_; }

 private:
  uint64_t start_;
};

}  // namespace tldb
