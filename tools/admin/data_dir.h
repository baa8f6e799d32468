// StoreLayout: what a data directory holds, listed without opening the store (no LOCK taken,
// nothing written): the catalog, each namespace directory and its segment and index files
// (the live generation of each id, as recovery resolves it with ListNamespaceFiles), the files
// a compaction replaced or left behind, its COMPACT commit record and the FLOORS file
// (docs/format.md "Data directory").
//
// Contract: ReadStoreLayout only lists directories and reads CATALOG; it fails when DIR is not a
// tldb data directory. A damaged catalog is not an error here (catalog_status says so): verify
// reports it and the other commands refuse with it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tldb/file_system.h"
#include "store/catalog.h"
#include "store/floors.h"

namespace tldb::admin {

struct SegmentRef {
  uint64_t id = 0;
  uint32_t gen = 0;        // 0: written by appends; > 0: a compaction output
  std::string path;        // DIR/ns/<ns>/<id>[-<gen>].seg
  std::string index_path;  // DIR/ns/<ns>/<id>[-<gen>].idx (exists iff has_index)
  bool has_index = false;
  bool active = false;  // the highest id, generation 0 and no index: takes appends
  uint64_t bytes = 0;
  uint64_t index_bytes = 0;
};

struct NamespaceRef {
  std::string name;
  std::string dir;
  bool in_catalog = false;
  CatalogEntry entry;                       // valid when in_catalog
  std::vector<SegmentRef> segments;         // by id
  std::vector<std::string> temp_files;      // *.tmp: deleted when the store opens
  std::vector<std::string> orphan_indexes;  // .idx without its .seg: deleted at open
  // Files a committed compaction replaced, or outputs of one that never committed: ignored by
  // readers, deleted when the store opens.
  std::vector<std::string> stale_files;
  bool compact_commit = false;  // a COMPACT file is present (removed when the store opens)
  bool has_floors = false;      // a FLOORS file is present
  Status floors_status;         // what is wrong with it (the store then refuses to open)
  std::vector<Floor> floors;
};

struct StoreLayout {
  std::string dir;
  Status catalog_status;
  std::vector<CatalogEntry> catalog;
  std::vector<NamespaceRef> namespaces;  // catalog order, then directories not in the catalog

  const NamespaceRef* Find(std::string_view ns) const;
  uint64_t SegmentCount() const;
};

Result<StoreLayout> ReadStoreLayout(FileSystem& fs, const std::string& dir);
// Lists one namespace directory (segments, indexes, leftovers).
Status ListNamespaceDir(FileSystem& fs, NamespaceRef* ns);

}  // namespace tldb::admin

namespace tldb::admin {
// True when the last path component is a segment file name (<16 hex>[-<8 hex>].seg); sets *id
// (and *gen).
bool IsSegmentPath(const std::string& path, uint64_t* id, uint32_t* gen = nullptr);
}  // namespace tldb::admin
