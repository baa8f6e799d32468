#include "replication/catalog_record.h"

#include <set>

#include "protocol/wire.h"

namespace tldb::repl {
namespace {

constexpr uint8_t kVersion = 1;
// A catalog of more namespaces than this is refused as damaged. 100,000: far beyond any
// partition's (each namespace has its own log, threads and files).
constexpr uint32_t kNamespacesMax = 100'000;

}  // namespace

NamespaceOptions CatalogNamespaceOptions() {
  NamespaceOptions o;
  o.segment_bytes_max = 64u << 10;
  o.messages_per_timeline_max = 64;
  o.durability = Durability::kSync;
  return o;
}

std::string EncodeCatalogRecord(const std::vector<CatalogRecordEntry>& entries) {
  std::string out;
  proto::WireWriter w(&out);
  w.U8(kVersion);
  w.U32(static_cast<uint32_t>(entries.size()));
  for (const CatalogRecordEntry& e : entries) {
    const NamespaceOptions& o = e.options;
    w.U32(e.id);
    w.Str16(e.name);
    w.U64(o.ttl_ms);
    w.U64(o.messages_per_timeline_max);
    w.U32(o.compact_live_pct);
    w.U32(o.compress_block_bytes);
    w.I32(o.compress_level);
    w.U64(o.segment_bytes_max);
    w.U8(static_cast<uint8_t>(o.durability));
  }
  return out;
}

Result<std::vector<CatalogRecordEntry>> DecodeCatalogRecord(std::string_view bytes) {
  proto::WireReader r(bytes);
  uint8_t version = 0;
  uint32_t n = 0;
  if (!r.U8(&version) || !r.U32(&n)) return Status::Corruption("catalog record truncated");
  if (version != kVersion) {
    return Status::Corruption("catalog record version " + std::to_string(version));
  }
  if (n > kNamespacesMax) return Status::Corruption("catalog record: too many namespaces");
  std::vector<CatalogRecordEntry> out(n);
  std::set<std::string_view> names;
  for (uint32_t i = 0; i < n; ++i) {
    CatalogRecordEntry& e = out[i];
    NamespaceOptions& o = e.options;
    std::string_view name;
    uint8_t durability = 0;
    if (!(r.U32(&e.id) && r.Str16(&name) && r.U64(&o.ttl_ms) &&
          r.U64(&o.messages_per_timeline_max) && r.U32(&o.compact_live_pct) &&
          r.U32(&o.compress_block_bytes) && r.I32(&o.compress_level) &&
          r.U64(&o.segment_bytes_max) && r.U8(&durability))) {
      return Status::Corruption("catalog record truncated in namespace " + std::to_string(i));
    }
    e.name = std::string(name);
    if (durability > static_cast<uint8_t>(Durability::kBuffered)) {
      return Status::Corruption("catalog record: namespace '" + e.name + "' has durability " +
                                std::to_string(durability));
    }
    o.durability = static_cast<Durability>(durability);
    if (i > 0 && e.id <= out[i - 1].id) {
      return Status::Corruption("catalog record: ids out of order at '" + e.name + "'");
    }
    if (!names.insert(out[i].name).second) {
      return Status::Corruption("catalog record: namespace '" + e.name + "' twice");
    }
  }
  if (r.remaining() != 0) return Status::Corruption("catalog record has trailing bytes");
  return out;
}

}  // namespace tldb::repl
