#include "import.h"

#include <set>

#include "export_line.h"
#include "json_text.h"

namespace tldb::admin {
namespace {

Status EnsureNamespace(Db& db, const std::string& ns, std::set<std::string>* known,
                       ImportStats* stats) {
  if (known->count(ns) != 0) return Status::Ok();
  auto d = db.DescribeNamespace(ns);
  if (d.status().IsNotFound()) {
    TLDB_RETURN_IF_ERROR(db.CreateNamespace(ns, NamespaceOptions{}));
    stats->namespaces_created++;
  } else if (!d.ok()) {
    return d.status();
  }
  known->insert(ns);
  return Status::Ok();
}

}  // namespace

Result<ImportStats> ImportLines(Db& db, std::istream& in) {
  ImportStats stats;
  std::set<std::string> known;
  std::string line;
  while (std::getline(in, line)) {
    stats.lines++;
    if (line.empty()) continue;
    const std::string where = "line " + std::to_string(stats.lines) + ": ";
    auto parsed = ParseExportLine(line);
    if (!parsed.ok()) return Status::InvalidArgument(where + parsed.status().message());
    Status s = EnsureNamespace(db, parsed->ns, &known, &stats);
    if (!s.ok()) return Status(s.code(), where + s.message());
    auto r = db.Import(parsed->ns, parsed->timeline, parsed->message, Durability::kBuffered);
    if (!r.ok()) return Status(r.status().code(), where + r.status().message());
    (r->deduplicated ? stats.already_present : stats.imported)++;
  }
  TLDB_RETURN_IF_ERROR(db.Sync());
  return stats;
}

Result<ImportStats> ImportIntoDir(const std::string& dir, std::istream& in) {
  Options o;
  o.create_if_missing = true;
  TLDB_ASSIGN_OR_RETURN(auto db, Db::Open(dir, o));
  auto stats = ImportLines(*db, in);
  Status closed = db->Close();
  if (!stats.ok()) return stats;
  TLDB_RETURN_IF_ERROR(closed);
  return stats;
}

void PrintImportStats(const ImportStats& s, bool json, std::ostream& out) {
  if (json) {
    out << JsonObject()
               .Uint("lines", s.lines)
               .Uint("imported", s.imported)
               .Uint("already_present", s.already_present)
               .Uint("namespaces_created", s.namespaces_created)
               .Done()
        << '\n';
    return;
  }
  out << "imported " << s.imported << " messages, " << s.already_present << " already present, "
      << s.namespaces_created << " namespaces created (" << s.lines << " lines)\n";
}

}  // namespace tldb::admin
