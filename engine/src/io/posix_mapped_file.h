// PosixMappedFile: mmap(PROT_READ, MAP_SHARED) of a whole file, unmapped on destruction (the
// POSIX and io_uring backends). Registered with MapFaultRegistry, so a disk read error under it
// marks it failed() instead of killing the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "io/map_fault_registry.h"
#include "tldb/file_system.h"

namespace tldb {

class PosixMappedFile : public MappedFile {
 public:
  PosixMappedFile(void* addr, size_t len);
  ~PosixMappedFile() override;
  PosixMappedFile(const PosixMappedFile&) = delete;
  PosixMappedFile& operator=(const PosixMappedFile&) = delete;

  std::span<const char> data() const override { return {static_cast<const char*>(addr_), len_}; }
  void WillNeed() const override;
  void AdviseRandom() const override;
  bool failed() const override {
    return failed_ != nullptr && failed_->load(std::memory_order_relaxed);
  }

 private:
  void* addr_;
  size_t len_;
  int32_t slot_ = MapFaultRegistry::kNoSlot;
  const std::atomic<bool>* failed_ = nullptr;  // the registry's flag for slot_
};

}  // namespace tldb
