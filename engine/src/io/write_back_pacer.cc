#include "io/write_back_pacer.h"

#include <thread>

#include "util/check.h"

namespace tldb {

WriteBackPacer::WriteBackPacer(uint64_t bytes_per_s)
    : bytes_per_s_(bytes_per_s), start_(std::chrono::steady_clock::now()) {
  TLDB_CHECK(bytes_per_s_ > 0);
}

Status WriteBackPacer::Step(WritableFile& f, uint64_t offset, uint64_t len) {
  TLDB_RETURN_IF_ERROR(f.WriteBack(offset, len));
  stepped_bytes_ += len;
  std::this_thread::sleep_until(
      start_ + std::chrono::microseconds(stepped_bytes_ * 1'000'000 / bytes_per_s_));
  return Status::Ok();
}

}  // namespace tldb
