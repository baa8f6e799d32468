// LargeBuffer: zero-filled memory (but see Pages::kHeap) for a big, long-lived array (timeline
// states, key bytes, slot arrays, the active segment's image). From kHugePageBytes up it is an
// anonymous mapping aligned to 2 MiB and advised for transparent huge pages (MADV_HUGEPAGE), so
// filling it takes a page fault per 2 MiB instead of one per 4 KiB: a fault costs about 10 µs in a
// virtual machine, and opening 1M timelines touches ~150 MiB (docs/benchmarks.md "Open time and
// RAM"). Smaller buffers come from calloc. Where the kernel has no huge pages to give, it is
// ordinary memory. Pages::kHeap is the exception: uninitialised heap memory (malloc), for a buffer
// whose bytes are always written before they are read. Allocation failure aborts, as `new` would.
// Move-only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tldb {

class LargeBuffer {
 public:
  static constexpr size_t kHugePageBytes = size_t{2} << 20;

  enum class Pages : uint8_t {
    kHuge,  // from kHugePageBytes up: 2 MiB-aligned and advised for huge pages
    kHeap,  // uninitialised, from malloc: an active segment's chunk. Chunks come and go with
            // every 8 MiB of appends; glibc hands a freed one back with its pages resident,
            // where a fresh mapping faults in every 4 KiB page again (~10 µs each in a virtual
            // machine: ~20 ms per chunk, on the leader's thread). Never a huge page: a quiet
            // namespace should not hold 2 MiB for its first message.
  };
  LargeBuffer() = default;
  explicit LargeBuffer(size_t bytes, Pages pages = Pages::kHuge);
  ~LargeBuffer();
  LargeBuffer(LargeBuffer&& o) noexcept;
  LargeBuffer& operator=(LargeBuffer&& o) noexcept;
  LargeBuffer(const LargeBuffer&) = delete;
  LargeBuffer& operator=(const LargeBuffer&) = delete;

  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void Release();

  char* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // bytes mapped (0: calloc'd)
};

}  // namespace tldb
