// Rng: splitmix64, seeded; benchmarks need reproducible streams, not cryptographic ones.
// Every thread of every target derives its own Rng from (run seed, stream id), so each target
// sees the same sequence of operations and payloads.
#pragma once

#include <cstdint>

namespace tldb::peerbench {

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  Rng(uint64_t seed, uint64_t stream) : Rng(seed ^ (stream * 0xD1B54A32D192ED03ull)) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Uniform(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  uint64_t s_;
};

}  // namespace tldb::peerbench
