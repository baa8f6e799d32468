#include "verify.h"

#include <algorithm>
#include <map>

#include "data_dir.h"
#include "index_check.h"
#include "index_model.h"
#include "json_text.h"
#include "log/file_names.h"
#include "segment_file.h"

namespace tldb::admin {
namespace {

using Severity = Problem::Severity;

struct TimelineSeen {
  Seq last_seq = 0;
  TimestampMs last_ts = 0;
};

class Verifier {
 public:
  Verifier(FileSystem& fs, VerifyReport* report) : fs_(fs), report_(report) {}

  Status Namespace(const NamespaceRef& ns, const VerifyOptions& opt, uint64_t* done,
                   uint64_t total);

 private:
  void Add(Severity sev, const std::string& file, uint64_t offset, std::string what) {
    report_->problems.push_back({sev, file, offset, std::move(what)});
  }
  Status Segment(const NamespaceRef& ns, const SegmentRef& seg);
  void Header(const NamespaceRef& ns, const SegmentFile& f);
  void Tail(const SegmentFile& f);
  void Continuity(const SegmentFile& f);
  void Message(const SegmentFile& f, uint64_t off, const RecordView& r, std::string_view key,
               Seq seq);
  Status Index(const NamespaceRef& ns, const SegmentRef& seg, const SegmentFile& f);
  Status DamagedSegmentIndex(const NamespaceRef& ns, const SegmentRef& seg, const SegmentFile& f);

  FileSystem& fs_;
  VerifyReport* report_;
  std::map<std::string, TimelineSeen, std::less<>> seen_;
};

Status Verifier::Namespace(const NamespaceRef& ns, const VerifyOptions& opt, uint64_t* done,
                           uint64_t total) {
  seen_.clear();
  if (!ns.in_catalog) {
    Add(Severity::kError, ns.dir, 0,
        "namespace directory is not in the CATALOG: the store ignores its data");
  }
  for (const auto& t : ns.temp_files) {
    if (t.ends_with(".seg.tmp")) continue;  // the next segment, prepared (zeroed) ahead of time
    Add(Severity::kWarning, t, 0, "leftover temporary file (deleted when the store opens)");
  }
  for (const auto& t : ns.orphan_indexes) {
    Add(Severity::kWarning, t, 0, "index without its segment (deleted when the store opens)");
  }
  for (const auto& seg : ns.segments) {
    TLDB_RETURN_IF_ERROR(Segment(ns, seg));
    *done += seg.bytes + seg.index_bytes;
    if (opt.progress) opt.progress(*done, total, seg.path);
  }
  return Status::Ok();
}

Status Verifier::Segment(const NamespaceRef& ns, const SegmentRef& seg) {
  TLDB_ASSIGN_OR_RETURN(SegmentFile f, LoadSegmentFile(fs_, seg.path, seg.id, !seg.active));
  report_->segments++;
  report_->bytes += f.image.size();
  if (seg.active && f.NeverDurable()) {
    Add(Severity::kWarning, seg.path, 0,
        "active segment whose header never became durable (recreated when the store opens)");
    return Status::Ok();
  }
  Header(ns, f);
  Tail(f);
  Continuity(f);
  if (seg.active) return Status::Ok();
  if (f.tail == TailState::kCorrupt) return DamagedSegmentIndex(ns, seg, f);
  return Index(ns, seg, f);
}

void Verifier::Header(const NamespaceRef& ns, const SegmentFile& f) {
  if (!f.header_status.ok()) {
    Add(Severity::kError, f.path, 0, f.header_status.message());
  } else if (ns.in_catalog && f.header.namespace_id != ns.entry.id) {
    Add(Severity::kError, f.path, 12,
        "header names namespace id " + std::to_string(f.header.namespace_id) +
            ", the catalog says " + std::to_string(ns.entry.id));
  }
}

const char* StopName(DecodeOutcome o) {
  switch (o) {
    case DecodeOutcome::kBad:
      return "checksum mismatch or malformed record";
    case DecodeOutcome::kTruncated:
      return "record truncated by the end of the file";
    default:
      return "non-zero bytes after the last record";
  }
}

void Verifier::Tail(const SegmentFile& f) {
  if (f.tail == TailState::kClean) return;
  uint64_t after = 0;
  ForEachRecordFrom(f.image, f.id, f.scan.valid_end + 1,
                    [&](uint64_t, const RecordView&) { ++after; });
  const std::string lost = std::to_string(f.image.size() - f.scan.valid_end) + " bytes, " +
                           std::to_string(after) + " valid records after it";
  if (f.tail == TailState::kTornTail) {
    Add(Severity::kWarning, f.path, f.scan.valid_end,
        std::string("torn tail of the active segment (") + StopName(f.scan.stop) + "; " + lost +
            "): never durable, cut when the store opens");
  } else if (f.sealed) {
    Add(Severity::kError, f.path, f.scan.valid_end,
        std::string("sealed segment damaged: ") + StopName(f.scan.stop) + " (" + lost + ")");
  } else {
    Add(Severity::kError, f.path, f.scan.valid_end,
        std::string("active segment damaged before its durable point ") +
            std::to_string(f.scan.claim_after) + ": " + StopName(f.scan.stop) + " (" + lost +
            "); the store refuses to open without salvage");
  }
}

void Verifier::Message(const SegmentFile& f, uint64_t off, const RecordView& r,
                       std::string_view key, Seq seq) {
  report_->messages++;
  auto it = seen_.find(key);
  if (it == seen_.end()) {
    seen_.emplace(std::string(key), TimelineSeen{seq, r.timestamp_ms});
    return;
  }
  TimelineSeen& t = it->second;
  const std::string who = "timeline '" + std::string(key) + "'";
  if (seq != t.last_seq + 1) {
    Add(Severity::kError, f.path, off,
        who + " has seq " + std::to_string(seq) + " after seq " + std::to_string(t.last_seq) +
            " (SeqIds must grow by exactly 1)");
  }
  if (r.timestamp_ms < t.last_ts) {
    Add(Severity::kWarning, f.path, off,
        who + " seq " + std::to_string(seq) + ": timestamp goes back from " +
            std::to_string(t.last_ts) + " to " + std::to_string(r.timestamp_ms));
  }
  t = {seq, std::max(t.last_ts, r.timestamp_ms)};
}

void Verifier::Continuity(const SegmentFile& f) {
  auto record = [&](uint64_t off, const RecordView& r) {
    report_->records++;
    ForEachMessage(r, [&](std::string_view key, Seq seq) { Message(f, off, r, key, seq); });
  };
  // A damaged sealed segment: every record that still decodes, resynchronising past the damage,
  // so one bad record shows as one gap rather than as a break in every later segment. Otherwise
  // the records the store serves (an active segment's torn tail is cut, so not counted).
  if (f.sealed && f.tail == TailState::kCorrupt) {
    ForEachRecordFrom(f.image, f.id, format::kSegmentHeaderBytes, record);
  } else {
    f.ForEachRecord(record);
  }
}

// The segment itself is damaged (already reported): comparing every entry would only repeat
// it, but a segment shorter than its index says makes the store refuse to open.
Status Verifier::DamagedSegmentIndex(const NamespaceRef& ns, const SegmentRef& seg,
                                     const SegmentFile& f) {
  if (!seg.has_index) return Status::Ok();
  const uint32_t ns_id = ns.in_catalog ? ns.entry.id : f.header.namespace_id;
  TLDB_ASSIGN_OR_RETURN(auto idx, IndexFile::Load(fs_, seg.index_path, ns_id, seg.id));
  if (idx->status().ok() && idx->reader().summary().data_end > f.image.size()) {
    Add(Severity::kError, seg.index_path, 24,
        "index covers " + std::to_string(idx->reader().summary().data_end) +
            " bytes but the segment has " + std::to_string(f.image.size()) +
            ": the store refuses to open");
  } else {
    Add(Severity::kWarning, seg.index_path, 0,
        "not compared with its segment, which is damaged (see the error above)");
  }
  return Status::Ok();
}

Status Verifier::Index(const NamespaceRef& ns, const SegmentRef& seg, const SegmentFile& f) {
  if (!seg.has_index) {
    Add(Severity::kWarning, seg.index_path, 0,
        "sealed segment has no index file (rebuilt when the store opens, or by tldb repair)");
    return Status::Ok();
  }
  const uint32_t ns_id = ns.in_catalog ? ns.entry.id : f.header.namespace_id;
  TLDB_ASSIGN_OR_RETURN(auto idx, IndexFile::Load(fs_, seg.index_path, ns_id, seg.id));
  if (!idx->status().ok()) {
    Add(Severity::kError, seg.index_path, 0,
        idx->status().message() + " (the store rebuilds it at open; tldb repair rebuilds it now)");
    return Status::Ok();
  }
  report_->index_entries +=
      CheckIndex(*idx, seg.index_path, BuildIndexModel(f), f.path, &report_->problems);
  return Status::Ok();
}

}  // namespace

uint64_t VerifyReport::errors() const {
  return std::count_if(problems.begin(), problems.end(),
                       [](const Problem& p) { return p.severity == Severity::kError; });
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
    const char* sev = p.severity == Severity::kError ? "error" : "warning";
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
  const uint64_t warnings = r.problems.size() - errors;
  if (json) {
    out << JsonObject()
               .Str("type", "result")
               .Str("dir", r.dir)
               .Bool("sound", r.sound())
               .Uint("errors", errors)
               .Uint("warnings", warnings)
               .Uint("namespaces", r.namespaces)
               .Uint("segments", r.segments)
               .Uint("records", r.records)
               .Uint("messages", r.messages)
               .Uint("bytes", r.bytes)
               .Uint("index_entries", r.index_entries)
               .Done()
        << '\n';
    return;
  }
  out << "checked " << r.namespaces << " namespaces, " << r.segments << " segments, " << r.records
      << " records, " << r.messages << " messages, " << r.index_entries << " index entries, "
      << r.bytes << " bytes\n";
  out << "result: " << (r.sound() ? "SOUND" : "UNSOUND") << " (" << errors << " errors, "
      << warnings << " warnings)\n";
}

}  // namespace tldb::admin
