#include "store/catalog.h"

#include <cstring>

#include "util/checksum.h"
#include "util/coding.h"

namespace tldb {
namespace {

constexpr char kMagic[8] = {'T', 'L', 'D', 'B', 'C', 'A', 'T', '1'};
constexpr uint32_t kVersion = 2;  // version 1 (no maintenance options) is still read
constexpr size_t kEntryFixedBytes = 4 + 1 + 8 + 8 + 1;
constexpr size_t kV2ExtraBytes = 8 + 4 + 4 + 4;

}  // namespace

std::string EncodeCatalog(const std::vector<CatalogEntry>& entries) {
  std::string out(kMagic, 8);
  PutFixed32(&out, kVersion);
  PutFixed32(&out, static_cast<uint32_t>(entries.size()));
  for (const auto& e : entries) {
    PutFixed32(&out, e.id);
    out.push_back(static_cast<char>(e.name.size()));
    out += e.name;
    PutFixed64(&out, e.options.ttl_ms);
    PutFixed64(&out, e.options.segment_bytes_max);
    out.push_back(static_cast<char>(e.options.durability));
    PutFixed64(&out, e.options.messages_per_timeline_max);
    PutFixed32(&out, e.options.compact_live_pct);
    PutFixed32(&out, e.options.compress_block_bytes);
    PutFixed32(&out, static_cast<uint32_t>(e.options.compress_level));
  }
  PutFixed64(&out, Hash64(out.data(), out.size()));
  return out;
}

Result<std::vector<CatalogEntry>> DecodeCatalog(std::string_view b, std::string_view what) {
  const std::string where(what);
  if (b.size() < 24 || std::memcmp(b.data(), kMagic, 8) != 0) {
    return Status::Corruption(where + ": not a tldb catalog");
  }
  const size_t body = b.size() - 8;
  if (DecodeFixed64(b.data() + body) != Hash64(b.data(), body)) {
    return Status::Corruption(where + ": catalog checksum mismatch");
  }
  const uint32_t version = DecodeFixed32(b.data() + 8);
  if (version != 1 && version != kVersion) {
    return Status::Corruption(where + ": unsupported catalog version");
  }
  const uint32_t count = DecodeFixed32(b.data() + 12);
  std::vector<CatalogEntry> out;
  size_t pos = 16;
  for (uint32_t i = 0; i < count; ++i) {
    if (pos + kEntryFixedBytes > body) return Status::Corruption(where + ": catalog truncated");
    CatalogEntry e;
    e.id = DecodeFixed32(b.data() + pos);
    const auto name_len = static_cast<uint8_t>(b[pos + 4]);
    pos += 5;
    if (pos + name_len + 17 > body) return Status::Corruption(where + ": catalog truncated");
    e.name.assign(b.data() + pos, name_len);
    pos += name_len;
    e.options.ttl_ms = DecodeFixed64(b.data() + pos);
    e.options.segment_bytes_max = DecodeFixed64(b.data() + pos + 8);
    e.options.durability = static_cast<Durability>(b[pos + 16]);
    pos += 17;
    if (version >= 2) {
      if (pos + kV2ExtraBytes > body) return Status::Corruption(where + ": catalog truncated");
      e.options.messages_per_timeline_max = DecodeFixed64(b.data() + pos);
      e.options.compact_live_pct = DecodeFixed32(b.data() + pos + 8);
      e.options.compress_block_bytes = DecodeFixed32(b.data() + pos + 12);
      e.options.compress_level = static_cast<int32_t>(DecodeFixed32(b.data() + pos + 16));
      pos += kV2ExtraBytes;
    }
    if (!ValidateNamespaceName(e.name).ok() || !ValidateNamespaceOptions(e.options).ok()) {
      return Status::Corruption(where + ": invalid catalog entry " + std::to_string(i));
    }
    out.push_back(std::move(e));
  }
  if (pos != body) return Status::Corruption(where + ": trailing bytes in catalog");
  return out;
}

Status ValidateNamespaceName(std::string_view name) {
  if (name.empty() || name.size() > kNamespaceNameBytesMax) {
    return Status::InvalidArgument("namespace name must be 1-64 bytes, got " +
                                   std::to_string(name.size()));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidArgument("namespace name '" + std::string(name) +
                                     "' may only contain a-z, 0-9, '_' and '-'");
    }
  }
  if (name[0] == '-') return Status::InvalidArgument("namespace name may not start with '-'");
  return Status::Ok();
}

Status ValidateNamespaceOptions(const NamespaceOptions& o) {
  if (o.segment_bytes_max < kSegmentBytesMin || o.segment_bytes_max > kSegmentBytesCeiling) {
    return Status::InvalidArgument("segment_bytes_max must be between 64 KiB and 2 GiB, got " +
                                   std::to_string(o.segment_bytes_max));
  }
  if (o.durability != Durability::kSync && o.durability != Durability::kBuffered) {
    return Status::InvalidArgument("namespace durability must be sync or buffered");
  }
  if (o.compact_live_pct > 100) {
    return Status::InvalidArgument("compact_live_pct must be 0-100, got " +
                                   std::to_string(o.compact_live_pct));
  }
  if (o.compress_block_bytes < kCompressBlockBytesMin ||
      o.compress_block_bytes > kCompressBlockBytesMax) {
    return Status::InvalidArgument("compress_block_bytes must be between 4 KiB and 4 MiB, got " +
                                   std::to_string(o.compress_block_bytes));
  }
  if (o.compress_level < 1 || o.compress_level > 19) {
    return Status::InvalidArgument("compress_level must be 1-19, got " +
                                   std::to_string(o.compress_level));
  }
  return Status::Ok();
}

}  // namespace tldb
