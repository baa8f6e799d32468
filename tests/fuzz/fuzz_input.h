// FuzzInput: turns a fuzzer's byte string into typed choices (integers in ranges, flags,
// strings) for the structure-aware targets. Compiler-independent, so the regression-replay test
// builds with gcc too.
//
// Contract: never reads outside the input; once the bytes run out every call returns the
// smallest allowed value (0, false, lo, an empty string), so any input, however short, is a
// complete and deterministic program for a target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tldb::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t remaining() const { return size_ - pos_; }
  bool empty() const { return pos_ >= size_; }

  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool Bool() { return (Byte() & 1) != 0; }
  // Little-endian from up to 8 bytes.
  uint64_t U64(int bytes = 8) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t{Byte()} << (8 * i);
    return v;
  }
  uint32_t U32() { return static_cast<uint32_t>(U64(4)); }
  // Uniform-ish in [lo, hi] (both inclusive); uses as few bytes as the range needs.
  uint64_t Range(uint64_t lo, uint64_t hi) {
    if (hi <= lo) return lo;
    const uint64_t span = hi - lo;
    int bytes = 1;
    while (bytes < 8 && (span >> (8 * bytes)) != 0) ++bytes;
    const uint64_t v = U64(bytes);
    return span == UINT64_MAX ? v : lo + v % (span + 1);
  }
  // Exactly n bytes (fewer if the input ends).
  std::string Bytes(size_t n) {
    const size_t take = n < remaining() ? n : remaining();
    std::string s(reinterpret_cast<const char*>(data_ + pos_), take);
    pos_ += take;
    return s;
  }
  // A length in [0, max_len] followed by that many bytes.
  std::string String(size_t max_len) { return Bytes(static_cast<size_t>(Range(0, max_len))); }
  // Everything that is left.
  std::string Rest() { return Bytes(remaining()); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace tldb::fuzz
