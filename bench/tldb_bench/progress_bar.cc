#include "progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace tldb::peerbench {
namespace {

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ProgressBar::ProgressBar(bool enabled) : enabled_(enabled && ::isatty(2)) {
  if (enabled_) thread_ = std::thread([this] { Loop(); });
}

ProgressBar::~ProgressBar() {
  if (!enabled_) return;
  {
    std::lock_guard l(mu_);
    quit_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void ProgressBar::Begin(const std::string& target, const std::string& phase, double seconds,
                        uint64_t total) {
  std::lock_guard l(mu_);
  label_ = target + "  " + phase;
  seconds_ = seconds;
  total_ = total;
  done_ = 0;
  start_ns_ = Now();
  active_ = true;
}

void ProgressBar::End() {
  std::lock_guard l(mu_);
  if (active_ && enabled_) std::fprintf(stderr, "\r\033[K");
  active_ = false;
}

void ProgressBar::Loop() {
  std::unique_lock l(mu_);
  while (!quit_) {
    cv_.wait_for(l, std::chrono::milliseconds(200));
    if (active_ && !quit_) Draw(false);
  }
}

void ProgressBar::Draw(bool) {
  const double elapsed = static_cast<double>(Now() - start_ns_) / 1e9;
  const uint64_t done = done_.load(std::memory_order_relaxed);
  double frac = seconds_ > 0
                    ? elapsed / seconds_
                    : (total_ ? static_cast<double>(done) / static_cast<double>(total_) : 0);
  frac = std::clamp(frac, 0.0, 1.0);
  constexpr int kWidth = 24;
  char bar[kWidth + 1];
  const int fill = static_cast<int>(frac * kWidth);
  for (int i = 0; i < kWidth; ++i) bar[i] = i < fill ? '#' : '.';
  bar[kWidth] = 0;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  std::fprintf(stderr, "\r\033[K[%s] %-40s %5.1f s  %9.0f ops/s", bar, label_.c_str(), elapsed,
               rate);
  std::fflush(stderr);
}

}  // namespace tldb::peerbench
