#include "io/write_back_pacer.h"

#include <algorithm>
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

Status WriteBackPacer::Range(WritableFile& f, uint64_t from, uint64_t to, uint64_t step_bytes,
                             const std::function<bool()>& stop_early) {
  TLDB_CHECK(step_bytes > 0);
  for (uint64_t off = from; off < to; off += step_bytes) {
    if (stop_early && stop_early()) return Status::Ok();
    TLDB_RETURN_IF_ERROR(Step(f, off, std::min(step_bytes, to - off)));
  }
  return Status::Ok();
}

}  // namespace tldb
