#include "io/write_back_pacer.h"

#include <thread>

namespace tldb {

Status WriteBackPacer::Step(WritableFile& f, uint64_t offset, uint64_t len) {
  TLDB_RETURN_IF_ERROR(f.WriteBack(offset, len));
  stepped_bytes_ += len;
  if (bytes_per_s_ == 0) return Status::Ok();
  std::this_thread::sleep_until(
      start_ + std::chrono::microseconds(stepped_bytes_ * 1'000'000 / bytes_per_s_));
  return Status::Ok();
}

}  // namespace tldb
