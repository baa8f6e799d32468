// BatchWaiter: waits for n asynchronous completions (callbacks on other threads) and keeps the
// first error. Used by the pipelined paths of the tldb targets.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>

namespace tldb::peerbench {

class BatchWaiter {
 public:
  explicit BatchWaiter(size_t n) : left_(n) {}
  void Done(bool ok, const std::string& err) {
    std::lock_guard l(mu_);
    if (!ok && error_.empty()) error_ = err.empty() ? "failed" : err;
    if (--left_ == 0) cv_.notify_one();
  }
  // Blocks until every completion arrived; returns the first error ("" if none).
  std::string Wait() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return left_ == 0; });
    return error_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t left_;
  std::string error_;
};

}  // namespace tldb::peerbench
