// Checksums and hashes (xxHash XXH3 from Debian's libxxhash).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tldb {

// 64-bit XXH3 of data with a seed.
uint64_t Hash64(const void* data, size_t len, uint64_t seed = 0);
inline uint64_t Hash64(std::string_view s, uint64_t seed = 0) {
  return Hash64(s.data(), s.size(), seed);
}

// Incremental XXH3-64 over several pieces (same value as Hash64 over their concatenation).
class Hasher64 {
 public:
  explicit Hasher64(uint64_t seed = 0);
  ~Hasher64();
  Hasher64(const Hasher64&) = delete;
  Hasher64& operator=(const Hasher64&) = delete;
  void Update(const void* data, size_t len);
  uint64_t Digest() const;

 private:
  void* state_;  // XXH3_state_t*
};

}  // namespace tldb
