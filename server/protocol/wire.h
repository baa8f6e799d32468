// WireWriter / WireReader: little-endian primitives of the tldb protocol.
//
// Contract: WireWriter appends to a caller-owned std::string and cannot fail (length checks
// are the encoder's job). WireReader reads from a byte span it does not own; every read is
// bounds-checked, and the first failed read latches `ok() == false` so decoders can read a
// whole message and test once. Strings come back as views into the span (zero copy).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tldb::proto {

class WireWriter {
 public:
  explicit WireWriter(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Le(v, 2); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void I32(int32_t v) { Le(static_cast<uint32_t>(v), 4); }
  void I64(int64_t v) { Le(static_cast<uint64_t>(v), 8); }
  // u16 length + bytes. Callers validate size <= kStr16BytesMax first.
  void Str16(std::string_view s) {
    U16(static_cast<uint16_t>(s.size()));
    out_->append(s);
  }
  // u32 length + bytes.
  void Bytes32(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }
  std::string* out() { return out_; }

 private:
  void Le(uint64_t v, int n) {
    char b[8];
    for (int i = 0; i < n; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out_->append(b, n);
  }
  std::string* out_;
};

class WireReader {
 public:
  WireReader(const void* data, size_t size) : p_(static_cast<const uint8_t*>(data)), size_(size) {}
  explicit WireReader(std::string_view s) : WireReader(s.data(), s.size()) {}

  bool U8(uint8_t* v) { return Le(v, 1); }
  bool U16(uint16_t* v) { return Le(v, 2); }
  bool U32(uint32_t* v) { return Le(v, 4); }
  bool U64(uint64_t* v) { return Le(v, 8); }
  bool I32(int32_t* v) {
    uint32_t u = 0;
    if (!Le(&u, 4)) return false;
    *v = static_cast<int32_t>(u);
    return true;
  }
  bool I64(int64_t* v) {
    uint64_t u = 0;
    if (!Le(&u, 8)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Str16(std::string_view* s) {
    uint16_t n = 0;
    return U16(&n) && Take(n, s);
  }
  bool Bytes32(std::string_view* s) {
    uint32_t n = 0;
    return U32(&n) && Take(n, s);
  }
  // A count of elements, each at least `min_elem_bytes` long: refuses counts that cannot fit
  // in what is left, so decoders never reserve memory an attacker only claims to send.
  bool Count(uint32_t* n, size_t min_elem_bytes) {
    if (!U32(n)) return false;
    if (min_elem_bytes > 0 && *n > remaining() / min_elem_bytes) return Fail();
    return true;
  }

  bool ok() const { return ok_; }
  size_t remaining() const { return size_ - pos_; }
  // True when every byte was consumed without error: trailing bytes are malformed.
  bool Done() const { return ok_ && pos_ == size_; }

 private:
  bool Fail() {
    ok_ = false;
    return false;
  }
  template <typename T>
  bool Le(T* v, size_t n) {
    if (!ok_ || remaining() < n) return Fail();
    uint64_t r = 0;
    for (size_t i = 0; i < n; ++i) r |= static_cast<uint64_t>(p_[pos_ + i]) << (8 * i);
    pos_ += n;
    *v = static_cast<T>(r);
    return true;
  }
  bool Take(size_t n, std::string_view* s) {
    if (!ok_ || remaining() < n) return Fail();
    *s = std::string_view(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return true;
  }

  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace tldb::proto
