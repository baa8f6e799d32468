// CreateDefaultNamespaces (declared in tldb/server.h).
#include "tldb/server.h"

namespace tldb {

Status CreateDefaultNamespaces(Db& db) {
  NamespaceOptions store, sync, cursors;
  sync.ttl_ms = kSyncNamespaceTtlMs;
  const std::pair<std::string_view, NamespaceOptions> wanted[] = {
      {"store", store}, {"sync", sync}, {kCursorNamespace, cursors}};
  for (const auto& [name, opts] : wanted) {
    if (db.DescribeNamespace(name).ok()) continue;  // an operator may have changed its options
    TLDB_RETURN_IF_ERROR(db.CreateNamespace(name, opts));
  }
  return Status::Ok();
}

}  // namespace tldb
