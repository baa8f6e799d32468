#include "util/large_buffer.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <utility>

#include "util/check.h"

namespace tldb {

LargeBuffer::LargeBuffer(size_t bytes, Pages pages) : size_(bytes) {
  if (bytes == 0) return;
  if (pages == Pages::kHeap) {
    data_ = static_cast<char*>(std::malloc(bytes));
    TLDB_CHECK(data_ != nullptr);
    return;
  }
  if (bytes < kHugePageBytes) {
    data_ = static_cast<char*>(std::calloc(1, bytes));
    TLDB_CHECK(data_ != nullptr);
    return;
  }
  // Map one huge page more than needed, then unmap the ends so that the buffer starts on a
  // 2 MiB boundary and spans whole huge pages.
  const size_t rounded = (bytes + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  const size_t span = rounded + kHugePageBytes;
  void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  TLDB_CHECK(p != MAP_FAILED);
  char* const base = static_cast<char*>(p);
  const size_t lead =
      (kHugePageBytes - reinterpret_cast<uintptr_t>(base) % kHugePageBytes) % kHugePageBytes;
  if (lead > 0) ::munmap(base, lead);
  char* const aligned = base + lead;
  const size_t tail = span - lead - rounded;  // at least 0: lead < kHugePageBytes
  if (tail > 0) ::munmap(aligned + rounded, tail);
  data_ = aligned;
  mapped_ = rounded;
  (void)::madvise(data_, mapped_, MADV_HUGEPAGE);  // only a hint
}

LargeBuffer::~LargeBuffer() {
  Release();
}

LargeBuffer::LargeBuffer(LargeBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      mapped_(std::exchange(o.mapped_, 0)) {}

LargeBuffer& LargeBuffer::operator=(LargeBuffer&& o) noexcept {
  if (this != &o) {
    Release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, 0);
  }
  return *this;
}

void LargeBuffer::Release() {
  if (mapped_ != 0) {
    ::munmap(data_, mapped_);
  } else {
    std::free(data_);
  }
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
}

}  // namespace tldb
