#include "import.h"

#include <map>
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

// The timeline's last SeqId in the store, cached for the run.
Result<Seq> LastSeqOf(Db& db, const ExportLine& l,
                      std::map<std::pair<std::string, std::string>, Seq>* last) {
  auto it = last->find({l.ns, l.timeline});
  if (it != last->end()) return it->second;
  const std::string_view tl = l.timeline;
  TLDB_ASSIGN_OR_RETURN(auto seqs, db.LastSeq(l.ns, std::span<const std::string_view>(&tl, 1)));
  const Seq s = seqs.empty() ? 0 : seqs.front();
  last->emplace(std::make_pair(l.ns, l.timeline), s);
  return s;
}

// SeqIds last+1 .. l.message.seq-1 become recalled placeholders (see import.h).
Status KeepGap(Db& db, const ExportLine& l, Seq last, ImportStats* stats) {
  for (Seq s = last + 1; s < l.message.seq; ++s) {
    Message m;
    m.seq = s;
    m.timestamp_ms = l.message.timestamp_ms;
    auto r = db.Import(l.ns, l.timeline, m, Durability::kBuffered);
    if (!r.ok()) return r.status();
    if (!r->deduplicated) {
      auto recalled = db.Recall(l.ns, l.timeline, s);
      if (!recalled.ok()) return recalled.status();
    }
    stats->gaps_kept++;
  }
  return Status::Ok();
}

}  // namespace

Result<ImportStats> ImportLines(Db& db, std::istream& in) {
  ImportStats stats;
  std::set<std::string> known;
  std::map<std::pair<std::string, std::string>, Seq> last_seq;
  std::string line;
  while (std::getline(in, line)) {
    stats.lines++;
    if (line.empty()) continue;
    const std::string where = "line " + std::to_string(stats.lines) + ": ";
    auto parsed = ParseExportLine(line);
    if (!parsed.ok()) return Status::InvalidArgument(where + parsed.status().message());
    Status s = EnsureNamespace(db, parsed->ns, &known, &stats);
    if (!s.ok()) return Status(s.code(), where + s.message());
    auto last = LastSeqOf(db, *parsed, &last_seq);
    if (!last.ok()) return Status(last.status().code(), where + last.status().message());
    if (*last != 0 && parsed->message.seq > *last + 1) {
      s = KeepGap(db, *parsed, *last, &stats);
      if (!s.ok()) return Status(s.code(), where + s.message());
    }
    auto r = db.Import(parsed->ns, parsed->timeline, parsed->message, Durability::kBuffered);
    if (!r.ok()) return Status(r.status().code(), where + r.status().message());
    Seq& cached = last_seq[{parsed->ns, parsed->timeline}];
    cached = std::max(cached, parsed->message.seq);
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
               .Uint("gaps_kept", s.gaps_kept)
               .Done()
        << '\n';
    return;
  }
  out << "imported " << s.imported << " messages, " << s.already_present << " already present, "
      << s.namespaces_created << " namespaces created, " << s.gaps_kept
      << " skipped SeqIds kept as recalled placeholders (" << s.lines << " lines)\n";
}

}  // namespace tldb::admin
