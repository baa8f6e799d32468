// ZipfSampler: draws ranks in [0, n) with P(k) proportional to 1 / (k+1)^s (s = 0: uniform),
// by binary search over a precomputed CDF (n doubles of memory; built once, shared read-only
// by all threads). Draw() takes a uniform double in [0, 1) so the caller owns the randomness.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace tldb::peerbench {

class ZipfSampler {
 public:
  ZipfSampler(uint32_t n, double s) : cdf_(n) {
    double sum = 0;
    for (uint32_t k = 0; k < n; ++k) cdf_[k] = (sum += 1.0 / std::pow(k + 1.0, s));
    for (double& c : cdf_) c /= sum;
  }
  uint32_t Draw(double u) const {
    auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    if (it == cdf_.end()) return static_cast<uint32_t>(cdf_.size() - 1);
    return static_cast<uint32_t>(it - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

}  // namespace tldb::peerbench
