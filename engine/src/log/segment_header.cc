#include "log/segment_header.h"

#include <cstring>
#include <string>

#include "util/checksum.h"
#include "util/coding.h"

namespace tldb {

using format::kSegmentHeaderBytes;
using format::kSegmentHeaderChecksumOffset;

std::string SegmentHeaderBytes(uint32_t namespace_id, uint64_t segment_id, TimestampMs created_ms) {
  SegmentHeader h;
  h.namespace_id = namespace_id;
  h.segment_id = segment_id;
  h.created_ms = created_ms;
  char bytes[kSegmentHeaderBytes];
  EncodeSegmentHeader(h, bytes);
  return std::string(bytes, sizeof bytes);
}

void EncodeSegmentHeader(const SegmentHeader& h, char (&dst)[kSegmentHeaderBytes]) {
  std::memset(dst, 0, kSegmentHeaderBytes);
  std::memcpy(dst, format::kSegmentMagic, 8);
  EncodeFixed32(dst + 8, format::kFormatVersion);
  EncodeFixed32(dst + 12, h.namespace_id);
  EncodeFixed64(dst + 16, h.segment_id);
  EncodeFixed64(dst + 24, static_cast<uint64_t>(h.created_ms));
  EncodeFixed32(dst + 32, h.flags);
  EncodeFixed32(dst + 36, h.gen);
  EncodeFixed32(dst + kSegmentHeaderChecksumOffset,
                static_cast<uint32_t>(Hash64(dst, kSegmentHeaderChecksumOffset)));
}

Result<SegmentHeader> DecodeSegmentHeader(std::span<const char> bytes, std::string_view what) {
  const std::string where(what);
  if (bytes.size() < kSegmentHeaderBytes) {
    return Status::Corruption(where + ": segment header truncated");
  }
  const char* p = bytes.data();
  if (std::memcmp(p, format::kSegmentMagic, 8) != 0) {
    return Status::Corruption(where + ": not a tldb segment (bad magic)");
  }
  if (DecodeFixed32(p + kSegmentHeaderChecksumOffset) !=
      static_cast<uint32_t>(Hash64(p, kSegmentHeaderChecksumOffset))) {
    return Status::Corruption(where + ": segment header checksum mismatch");
  }
  if (DecodeFixed32(p + 8) != format::kFormatVersion) {
    return Status::Corruption(where + ": unsupported segment format version " +
                              std::to_string(DecodeFixed32(p + 8)));
  }
  SegmentHeader h;
  h.namespace_id = DecodeFixed32(p + 12);
  h.segment_id = DecodeFixed64(p + 16);
  h.created_ms = static_cast<TimestampMs>(DecodeFixed64(p + 24));
  h.flags = DecodeFixed32(p + 32);
  h.gen = DecodeFixed32(p + 36);
  if ((h.flags & ~kSegmentCompressed) != 0 ||
      ((h.flags & kSegmentCompressed) != 0) != (h.gen != 0)) {
    return Status::Corruption(where + ": unknown segment flags " + std::to_string(h.flags));
  }
  return h;
}

}  // namespace tldb
