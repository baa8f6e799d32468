// Catalog: the persisted list of namespaces and their options (docs/format.md "Catalog").
// Replaced atomically (write CATALOG.tmp, fdatasync, rename, fsync the directory).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tldb/options.h"
#include "tldb/status.h"

namespace tldb {

class FileSystem;

struct CatalogEntry {
  uint32_t id = 0;
  std::string name;
  NamespaceOptions options;
};

std::string EncodeCatalog(const std::vector<CatalogEntry>& entries);
Result<std::vector<CatalogEntry>> DecodeCatalog(std::string_view bytes, std::string_view what);

// Namespace names: 1-64 bytes of [a-z0-9_-], not starting with '-'. Names starting with "__"
// are for system namespaces (server cursors).
Status ValidateNamespaceName(std::string_view name);
Status ValidateNamespaceOptions(const NamespaceOptions& options);

}  // namespace tldb
