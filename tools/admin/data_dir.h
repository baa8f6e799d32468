// StoreLayout: what a data directory holds, listed without opening the store (no LOCK taken,
// nothing written): the catalog, each namespace directory and its segment and index files,
// classified the way recovery does (docs/format.md "Data directory").
//
// Contract: ReadStoreLayout only lists directories and reads CATALOG; it fails when DIR is not a
// tldb data directory. A damaged catalog is not an error here (catalog_status says so): verify
// reports it and the other commands refuse with it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/file_system.h"
#include "store/catalog.h"

namespace tldb::admin {

struct SegmentRef {
  uint64_t id = 0;
  std::string path;        // DIR/ns/<ns>/<id>.seg
  std::string index_path;  // DIR/ns/<ns>/<id>.idx (exists iff has_index)
  bool has_index = false;
  bool active = false;  // the highest id and no index: takes appends
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
// True when the last path component is a segment file name (<16 hex>.seg); sets *id.
bool IsSegmentPath(const std::string& path, uint64_t* id);
}  // namespace tldb::admin
