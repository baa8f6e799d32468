#include "verify.h"

#include <algorithm>
#include <map>
#include <optional>

#include "data_dir.h"
#include "index/sealed_check.h"
#include "json_text.h"
#include "log/file_names.h"

namespace tldb::admin {
namespace {

using Severity = Problem::Severity;

struct TimelineSeen {
  Seq last_seq = 0;
  TimestampMs last_ts = 0;
};

// The messages of one timeline found in one segment: (seq, record offset, timestamp).
struct SeqAt {
  Seq seq;
  uint64_t offset;
  TimestampMs ts;
};

// "3..5, 9, 12..20" for at most `max` ranges of missing SeqIds.
std::string FormatMissing(const std::vector<std::pair<Seq, Seq>>& ranges, size_t max) {
  std::string out;
  for (size_t i = 0; i < ranges.size() && i < max; ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(ranges[i].first);
    if (ranges[i].second != ranges[i].first) out += ".." + std::to_string(ranges[i].second);
  }
  if (ranges.size() > max) out += ", ...";
  return out;
}

}  // namespace

// An index without its segment whose id also has a higher generation among the stale files:
// ListNamespaceFiles takes the lowest generation of an id as live, so recovery deletes the
// (committed) compaction output of that id.
bool ShadowsOutput(const NamespaceRef& ns, const std::string& orphan_index) {
  uint64_t id = 0, other = 0;
  uint32_t gen = 0, other_gen = 0;
  const std::string name = orphan_index.substr(orphan_index.find_last_of('/') + 1);
  if (ParseFileName(name, &id, &gen) != FileKind::kIndex) return false;
  if (ns.compact_commit) return false;  // a COMPACT record decides instead
  for (const auto& f : ns.stale_files) {
    const std::string n = f.substr(f.find_last_of('/') + 1);
    if (ParseFileName(n, &other, &other_gen) == FileKind::kSegment && other == id &&
        other_gen > gen) {
      return true;
    }
  }
  return false;
}

namespace {

class Verifier {
 public:
  Verifier(FileSystem& fs, VerifyReport* report) : fs_(fs), report_(report) {}

  Status Namespace(const NamespaceRef& ns, const VerifyOptions& opt, uint64_t* done,
                   uint64_t total);

 private:
  void Add(Severity sev, const std::string& file, uint64_t offset, std::string what) {
    report_->problems.push_back({sev, file, offset, std::move(what)});
  }
  void Files(const NamespaceRef& ns);
  Status Segment(const NamespaceRef& ns, const SegmentRef& seg);
  void Tail(const SegmentFile& f);
  void Continuity(const SegmentFile& f);
  void Timeline(const SegmentFile& f, const std::string& key, std::vector<SeqAt>& seqs);
  Status Index(const NamespaceRef& ns, const SegmentRef& seg, const SegmentFile& f);

  FileSystem& fs_;
  VerifyReport* report_;
  std::map<std::string, TimelineSeen, std::less<>> seen_;
};

Status Verifier::Namespace(const NamespaceRef& ns, const VerifyOptions& opt, uint64_t* done,
                           uint64_t total) {
  seen_.clear();
  Files(ns);
  for (const auto& seg : ns.segments) {
    TLDB_RETURN_IF_ERROR(Segment(ns, seg));
    *done += seg.bytes + seg.index_bytes;
    if (opt.progress) opt.progress(*done, total, seg.path);
  }
  return Status::Ok();
}

// Everything in the namespace directory besides the live segments and indexes.
void Verifier::Files(const NamespaceRef& ns) {
  if (!ns.in_catalog) {
    Add(Severity::kError, ns.dir, 0,
        "namespace directory is not in the CATALOG: the store ignores its data");
  }
  for (const auto& t : ns.temp_files) {
    if (t.ends_with(".seg.tmp")) continue;  // the next segment, prepared (zeroed) ahead of time
    Add(Severity::kWarning, t, 0, "leftover temporary file (deleted when the store opens)");
  }
  for (const auto& t : ns.orphan_indexes) {
    if (ShadowsOutput(ns, t)) {
      Add(Severity::kError, t, 0,
          "index without its segment beside a compaction output of the same id: the engine takes "
          "this generation as the live one and deletes the output at open (tldb repair moves "
          "this file to the quarantine)");
      continue;
    }
    Add(Severity::kWarning, t, 0, "index without its segment (deleted when the store opens)");
  }
  for (const auto& t : ns.stale_files) {
    Add(Severity::kInfo, t, 0,
        ns.compact_commit ? "replaced by a committed compaction (deleted when the store opens)"
                          : "output of a compaction that did not commit (deleted when the store "
                            "opens)");
  }
  if (ns.compact_commit) {
    Add(Severity::kInfo, CompactCommitFileName(ns.dir), 0,
        "a committed compaction's record: its inputs are removed and it is deleted when the "
        "store opens");
  }
  if (!ns.floors_status.ok()) {
    Add(Severity::kError, FloorsFileName(ns.dir), 0,
        ns.floors_status.message() + " (the store refuses to open)");
  }
  // FLOORS are applied after the segments (a maximum): nothing to check against them.
}

Status Verifier::Segment(const NamespaceRef& ns, const SegmentRef& seg) {
  TLDB_ASSIGN_OR_RETURN(SegmentFile f,
                        LoadSegmentFile(fs_, seg.path, seg.id, !seg.active, seg.gen));
  report_->segments++;
  report_->bytes += f.image.size();
  for (const BlockInfo& b : f.blocks) report_->blocks += b.ok ? 1 : 0;
  if (seg.active && f.NeverDurable()) {
    Add(Severity::kWarning, seg.path, 0,
        "active segment whose header never became durable (recreated when the store opens)");
    return Status::Ok();
  }
  // Sealed segments by the engine's rule (index/sealed_check.h), which the scrub applies too.
  CheckSegmentHeader(f, ns.in_catalog ? std::optional<uint32_t>(ns.entry.id) : std::nullopt,
                     &report_->problems);
  if (f.sealed) {
    CheckSealedRecords(f, &report_->problems);
  } else {
    Tail(f);
  }
  Continuity(f);
  if (seg.active) return Status::Ok();
  return Index(ns, seg, f);
}

// The active segment's tail (sealed segments: CheckSealedRecords).
void Verifier::Tail(const SegmentFile& f) {
  if (f.tail == TailState::kClean) return;
  uint64_t after = 0;
  f.ForEachRecordFromAny(f.scan.valid_end + 1, [&](uint64_t, const RecordView&) { ++after; });
  const std::string lost = std::to_string(f.image.size() - f.scan.valid_end) + " bytes, " +
                           std::to_string(after) + " valid records after it";
  if (f.tail == TailState::kTornTail) {
    Add(Severity::kWarning, f.path, f.scan.valid_end,
        std::string("torn tail of the active segment (") + DescribeStop(f.scan.stop) + "; " + lost +
            "): never durable, cut when the store opens");
  } else {
    // The engine's own description (log/segment_scan.h): the text recovery refuses with.
    Add(Severity::kError, f.path, f.scan.copy_at != 0 ? f.scan.copy_at : f.scan.valid_end,
        "active segment damaged before its durable point: " + DescribeActiveDamage(f.path, f.scan) +
            " (" + lost + "); the store refuses to open without salvage");
  }
}

// The engine's rules at open: in the active segment a timeline's SeqIds grow by exactly 1; in a
// sealed segment they only grow (a compaction output skips deleted ones); a segment's first
// SeqId of a timeline must be above its last one before; a trim record proves the SeqIds below
// it were used.
void Verifier::Timeline(const SegmentFile& f, const std::string& key, std::vector<SeqAt>& seqs) {
  const std::string who = "timeline '" + key + "'";
  TimelineSeen& t = seen_[key];
  if (!f.sealed) {
    for (size_t i = 1; i < seqs.size(); ++i) {
      if (seqs[i].seq != seqs[i - 1].seq + 1) {
        Add(Severity::kError, f.path, seqs[i].offset,
            who + " has seq " + std::to_string(seqs[i].seq) + " after seq " +
                std::to_string(seqs[i - 1].seq) +
                " in the active segment (SeqIds must grow by exactly 1 there)");
      }
    }
  }
  std::stable_sort(seqs.begin(), seqs.end(),
                   [](const SeqAt& a, const SeqAt& b) { return a.seq < b.seq; });
  std::vector<std::pair<Seq, Seq>> missing;
  uint64_t missing_count = 0, first_gap_at = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const SeqAt& m = seqs[i];
    const Seq prev = i == 0 ? t.last_seq : seqs[i - 1].seq;
    if (m.seq <= prev) {
      Add(Severity::kError, f.path, m.offset,
          who + " has seq " + std::to_string(m.seq) + (i == 0 ? " after seq " : " again after ") +
              std::to_string(prev) +
              (i == 0 ? " in an earlier segment (SeqIds must increase; the store refuses to "
                        "open)"
                      : " in this segment (SeqIds must increase)"));
      continue;
    }
    if (m.seq > prev + 1 && (i > 0 || prev > 0)) {
      if (missing.empty()) first_gap_at = m.offset;
      missing.push_back({prev + 1, m.seq - 1});
      missing_count += m.seq - 1 - prev;
    }
    if (m.ts < t.last_ts) {
      Add(Severity::kWarning, f.path, m.offset,
          who + " seq " + std::to_string(m.seq) + ": timestamp goes back from " +
              std::to_string(t.last_ts) + " to " + std::to_string(m.ts));
    }
    t.last_ts = std::max(t.last_ts, m.ts);
  }
  if (!missing.empty()) {
    Add(Severity::kInfo, f.path, first_gap_at,
        who + " skips " + std::to_string(missing_count) +
            " SeqIds up to this segment: " + FormatMissing(missing, 5) +
            " (deleted: recalled and compacted, trimmed, expired, or lost with a quarantined "
            "segment)");
  }
  if (!seqs.empty()) t.last_seq = std::max(t.last_seq, seqs.back().seq);
}

void Verifier::Continuity(const SegmentFile& f) {
  std::map<std::string, std::vector<SeqAt>, std::less<>> by_timeline;
  std::vector<std::pair<std::string, Seq>> trims;
  auto record = [&](uint64_t off, const RecordView& r) {
    report_->records++;
    if (IsMaintenance(r.type)) {
      report_->maintenance_records++;
      if (r.type == format::RecordType::kTrim) trims.emplace_back(std::string(r.key), r.seq);
    }
    ForEachMessage(r, [&](std::string_view key, Seq seq) {
      report_->messages++;
      auto it = by_timeline.find(key);
      if (it == by_timeline.end()) it = by_timeline.emplace(std::string(key), 0).first;
      it->second.push_back({seq, off, r.timestamp_ms});
    });
  };
  // A damaged sealed segment: every record that still decodes, resynchronising past the damage,
  // so one bad record shows as one gap rather than as a break in every later segment. Otherwise
  // the records the store serves (an active segment's torn tail is cut, so not counted).
  if (f.sealed && f.tail == TailState::kCorrupt) {
    f.ForEachRecordFromAny(format::kSegmentHeaderBytes, record);
  } else {
    f.ForEachRecord(record);
  }
  for (auto& [key, seqs] : by_timeline) Timeline(f, key, seqs);
  for (const auto& [key, seq] : trims) {
    TimelineSeen& t = seen_[key];
    if (seq > 0) t.last_seq = std::max(t.last_seq, seq - 1);
  }
}

Status Verifier::Index(const NamespaceRef& ns, const SegmentRef& seg, const SegmentFile& f) {
  std::unique_ptr<IndexFile> idx;
  if (seg.has_index) {
    const uint32_t ns_id = ns.in_catalog ? ns.entry.id : f.header.namespace_id;
    TLDB_ASSIGN_OR_RETURN(idx, IndexFile::Load(fs_, seg.index_path, ns_id, seg.id));
  }
  report_->index_entries += CheckSealedIndex(f, idx.get(), seg.index_path, &report_->problems);
  return Status::Ok();
}

}  // namespace

uint64_t VerifyReport::Count(Severity s) const {
  return std::count_if(problems.begin(), problems.end(),
                       [s](const Problem& p) { return p.severity == s; });
}

uint64_t VerifyReport::errors() const {
  return Count(Severity::kError);
}

Result<VerifyReport> Verify(FileSystem& fs, const std::string& dir, const VerifyOptions& options) {
  TLDB_ASSIGN_OR_RETURN(StoreLayout layout, ReadStoreLayout(fs, dir));
  VerifyReport report;
  report.dir = dir;
  if (!layout.catalog_status.ok()) {
    report.problems.push_back({Severity::kError, CatalogFileName(dir), 0,
                               layout.catalog_status.message() + " (the store cannot open)"});
  }
  uint64_t total = 0, done = 0;
  for (const auto& ns : layout.namespaces) {
    for (const auto& s : ns.segments) total += s.bytes + s.index_bytes;
  }
  Verifier v(fs, &report);
  for (const auto& ns : layout.namespaces) {
    report.namespaces++;
    TLDB_RETURN_IF_ERROR(v.Namespace(ns, options, &done, total));
  }
  return report;
}

void PrintVerifyReport(const VerifyReport& r, bool json, std::ostream& out) {
  for (const auto& p : r.problems) {
    const char* sev = p.severity == Severity::kError     ? "error"
                      : p.severity == Severity::kWarning ? "warning"
                                                         : "info";
    if (json) {
      out << JsonObject()
                 .Str("type", "problem")
                 .Str("severity", sev)
                 .Str("file", p.file)
                 .Uint("offset", p.offset)
                 .Str("what", p.what)
                 .Done()
          << '\n';
    } else {
      out << sev << ": " << p.file << " offset " << p.offset << ": " << p.what << '\n';
    }
  }
  const uint64_t errors = r.errors();
  const uint64_t warnings = r.Count(Severity::kWarning);
  const uint64_t notes = r.Count(Severity::kInfo);
  if (json) {
    out << JsonObject()
               .Str("type", "result")
               .Str("dir", r.dir)
               .Bool("sound", r.sound())
               .Uint("errors", errors)
               .Uint("warnings", warnings)
               .Uint("info", notes)
               .Uint("namespaces", r.namespaces)
               .Uint("segments", r.segments)
               .Uint("records", r.records)
               .Uint("maintenance_records", r.maintenance_records)
               .Uint("messages", r.messages)
               .Uint("blocks", r.blocks)
               .Uint("bytes", r.bytes)
               .Uint("index_entries", r.index_entries)
               .Done()
        << '\n';
    return;
  }
  out << "checked " << r.namespaces << " namespaces, " << r.segments << " segments, " << r.records
      << " records (" << r.maintenance_records << " recall/edit/trim), " << r.messages
      << " messages, " << r.blocks << " compressed blocks, " << r.index_entries
      << " index entries, " << r.bytes << " bytes\n";
  out << "result: " << (r.sound() ? "SOUND" : "UNSOUND") << " (" << errors << " errors, "
      << warnings << " warnings, " << notes << " info)\n";
}

}  // namespace tldb::admin
