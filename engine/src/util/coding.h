// Little-endian fixed-width integer and varint coding. All on-disk and on-wire integers are
// little-endian (docs/format.md, docs/protocol.md).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tldb {

inline void EncodeFixed32(char* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}
inline void EncodeFixed64(char* p, uint64_t v) {
  std::memcpy(p, &v, 8);
}
inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tldb assumes a little-endian host");

inline void PutFixed32(std::string* dst, uint32_t v) {
  char b[4];
  EncodeFixed32(b, v);
  dst->append(b, 4);
}
inline void PutFixed64(std::string* dst, uint64_t v) {
  char b[8];
  EncodeFixed64(b, v);
  dst->append(b, 8);
}

// Varint (LEB128, at most 10 bytes for 64 bits).
inline size_t PutVarint64(uint8_t* p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  p[n++] = static_cast<uint8_t>(v);
  return n;
}
// Returns bytes consumed, 0 if malformed or truncated.
inline size_t GetVarint64(const uint8_t* p, const uint8_t* end, uint64_t* v) {
  uint64_t result = 0;
  for (uint32_t shift = 0, i = 0; shift <= 63 && p + i < end; shift += 7, ++i) {
    uint64_t byte = p[i];
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return i + 1;
    }
  }
  return 0;
}

}  // namespace tldb
