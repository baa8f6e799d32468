// CatalogRecord: a partition's catalog as one record of the system namespace `__catalog`
// (docs/replication.md "Catalog"). In cluster mode a namespace is created, or its options
// changed, by appending the whole new catalog (every namespace: id, name, options) to the
// timeline `catalog` of `__catalog`; the record is shipped, fenced, adopted and cut like any
// frame, and each replica makes its own catalog that of the latest record it knows committed.
// A record holds the whole catalog, not a change, so that applying one never passes through an
// older state (a TTL that was shortened and lengthened again is never briefly short).
//
// Bytes (little-endian):
//   u8  version (1)
//   u32 namespaces
//   per namespace, in ascending id order:
//     u32 id, u16 name length, name bytes,
//     u64 ttl_ms, u64 messages_per_timeline_max, u32 compact_live_pct,
//     u32 compress_block_bytes, i32 compress_level, u64 segment_bytes_max, u8 durability
//
// Contract: value types and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tldb/options.h"
#include "tldb/status.h"

namespace tldb::repl {

// The system namespace and timeline that hold the catalog records.
inline constexpr std::string_view kCatalogNamespace = "__catalog";
inline constexpr std::string_view kCatalogTimeline = "catalog";

// `__catalog`'s own options: small segments (a record is a few hundred bytes; a 64 MiB
// segment would reserve 64 MiB for a few KiB), sync durability, the newest 64 records kept
// (only the newest is ever applied; older ones are history for an operator).
NamespaceOptions CatalogNamespaceOptions();

struct CatalogRecordEntry {
  uint32_t id = 0;
  std::string name;
  NamespaceOptions options;
  bool operator==(const CatalogRecordEntry&) const = default;
};

// Entries must be in strictly ascending id order with unique names (Decode checks it).
std::string EncodeCatalogRecord(const std::vector<CatalogRecordEntry>& entries);
Result<std::vector<CatalogRecordEntry>> DecodeCatalogRecord(std::string_view bytes);

}  // namespace tldb::repl
