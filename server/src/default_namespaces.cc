// CreateDefaultNamespaces (declared in tldb/server.h).
#include "tldb/server.h"

namespace tldb {

std::vector<std::pair<std::string, NamespaceOptions>> DefaultNamespaces() {
  NamespaceOptions store, sync, cursors;
  sync.ttl_ms = kSyncNamespaceTtlMs;
  // A cursor is the newest record of its timeline (server/src/cursor_handler.cc): older
  // ones are dead the moment the next is written, so the engine keeps only the newest.
  cursors.messages_per_timeline_max = 1;
  return {{"store", store}, {"sync", sync}, {std::string(kCursorNamespace), cursors}};
}

Status CreateDefaultNamespaces(Db& db) {
  for (const auto& [name, opts] : DefaultNamespaces()) {
    auto existing = db.DescribeNamespace(name);
    // A damaged namespace refused at open (Options::refuse_damaged_namespaces) exists: its
    // requests answer the Corruption, the others serve.
    if (existing.status().IsCorruption()) continue;
    if (!existing.ok()) {
      TLDB_RETURN_IF_ERROR(db.CreateNamespace(name, opts));
      continue;
    }
    // An operator may have changed a user namespace's options: keep them. The cursor
    // namespace is the server's own; one created by an older server grew without bound.
    if (name == kCursorNamespace && existing->options.messages_per_timeline_max != 1) {
      NamespaceOptions fixed = existing->options;
      fixed.messages_per_timeline_max = 1;
      TLDB_RETURN_IF_ERROR(db.SetNamespaceOptions(name, fixed));
    }
  }
  return Status::Ok();
}

}  // namespace tldb
