#include "io/posix_mapped_file.h"

#include <sys/mman.h>

namespace tldb {

PosixMappedFile::PosixMappedFile(void* addr, size_t len) : addr_(addr), len_(len) {
  if (len_ > 0) slot_ = MapFaultRegistry::Register(addr_, len_);
  failed_ = MapFaultRegistry::FailedFlag(slot_);
}

PosixMappedFile::~PosixMappedFile() {
  MapFaultRegistry::Unregister(slot_);
  if (len_ > 0) ::munmap(addr_, len_);
}

void PosixMappedFile::WillNeed() const {
  if (len_ == 0) return;
  (void)::madvise(addr_, len_, MADV_WILLNEED);  // only a hint
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif
  // The caller reads it all: map every page now, in one call, instead of taking a page fault
  // per 64 KiB (costly in a virtual machine). Older kernels refuse it; a read error here is
  // met again, and reported, when the page is read (MapFaultRegistry).
  (void)::madvise(addr_, len_, MADV_POPULATE_READ);
}

void PosixMappedFile::AdviseRandom() const {
  if (len_ > 0) (void)::madvise(addr_, len_, MADV_RANDOM);  // only a hint
}

}  // namespace tldb
