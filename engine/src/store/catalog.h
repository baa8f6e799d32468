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

// ValidateNamespaceName and ValidateNamespaceOptions: tldb/options.h.

}  // namespace tldb
