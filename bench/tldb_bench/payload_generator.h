// PayloadGenerator: realistic chat messages, JSON-like, seeded. Sizes follow a skewed
// distribution between payload_min and payload_max bytes (most messages are short texts),
// plus a `large_fraction` of 2-8 KiB messages (long texts, link previews, rich cards).
// The same seed gives byte-identical messages, so every target stores the same data.
// Pool() builds a fixed pool once; workloads pick messages from it by index.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_config.h"
#include "rng.h"

namespace tldb::peerbench {

class PayloadGenerator {
 public:
  explicit PayloadGenerator(const BenchConfig& cfg) : cfg_(cfg) {}
  // One message drawn from `rng`.
  std::string Next(Rng& rng) const;
  // `count` messages from a generator seeded with `seed`.
  std::vector<std::string> Pool(size_t count, uint64_t seed) const;

 private:
  size_t DrawSize(Rng& rng) const;
  const BenchConfig& cfg_;
};

}  // namespace tldb::peerbench
