// ProgressBar: one status line on stderr, redrawn every 200 ms while a phase runs:
//   [#########.........] redis  chat/sync  2.1/5.0 s  61.2k ops/s
// A phase ends at a time (seconds > 0) or an operation count (total > 0). Add() is called from
// any thread. When stderr is not a terminal (or it is disabled) nothing is drawn.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace tldb::peerbench {

class ProgressBar {
 public:
  explicit ProgressBar(bool enabled);
  ~ProgressBar();
  void Begin(const std::string& target, const std::string& phase, double seconds, uint64_t total);
  void Add(uint64_t n) { done_.fetch_add(n, std::memory_order_relaxed); }
  void End();

 private:
  void Loop();
  void Draw(bool final_line);

  const bool enabled_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool active_ = false, quit_ = false;
  std::string label_;
  double seconds_ = 0;
  uint64_t total_ = 0;
  std::atomic<uint64_t> done_{0};
  int64_t start_ns_ = 0;
  std::thread thread_;
};

}  // namespace tldb::peerbench
