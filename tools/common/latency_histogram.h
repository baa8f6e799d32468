// LatencyHistogram: log-linear histogram of nanosecond latencies (32 sub-buckets per power of
// two, ~3% resolution, 2048 buckets, no allocation on Add). Not thread-safe: one per thread,
// then Merge. Quantile() and Cdf() read it; Cdf() gives the points plotted as latency CDFs.
// The histogram of every benchmark (bench/*_bench.cc, tldb-bench). The server keeps its own
// (server/src/server_stats.h): fixed microsecond buckets of relaxed atomics, written by a loop
// thread and read by STATS on any thread, whose percentiles STATS reports as they are.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

namespace tldb::common {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = 64 * kSub;

  void Clear() {
    counts_.fill(0);
    total_ = 0;
    max_ = 0;
  }
  void Add(uint64_t ns, uint64_t times = 1) {
    counts_[Bucket(ns)] += times;
    total_ += times;
    max_ = std::max(max_, ns);
  }
  void Merge(const LatencyHistogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
  }
  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  // Latency (ns) at quantile q in [0, 1]: the middle of the bucket holding that rank.
  double Quantile(double q) const {
    if (total_ == 0) return 0;
    const uint64_t rank =
        std::min<uint64_t>(total_ - 1, static_cast<uint64_t>(q * static_cast<double>(total_)));
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return std::min<double>(Mid(i), static_cast<double>(max_));
    }
    return static_cast<double>(max_);
  }
  // (latency ns, fraction of samples <= it) for every non-empty bucket, ascending.
  std::vector<std::pair<double, double>> Cdf() const {
    std::vector<std::pair<double, double>> out;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      if (counts_[i] == 0) continue;
      seen += counts_[i];
      out.emplace_back(Low(i + 1), static_cast<double>(seen) / static_cast<double>(total_));
    }
    return out;
  }

 private:
  static int Bucket(uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    const int msb = 63 - std::countl_zero(v);
    const int shift = msb - kSubBits;
    return (shift + 1) * kSub + static_cast<int>((v >> shift) & (kSub - 1));
  }
  static double Low(int b) {
    if (b < kSub) return b;
    const int shift = b / kSub - 1;
    return static_cast<double>(static_cast<uint64_t>(kSub + b % kSub) << shift);
  }
  static double Mid(int b) { return (Low(b) + Low(b + 1)) / 2.0; }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace tldb::common
