#include "inspect.h"

#include <algorithm>
#include <set>
#include <unordered_set>

#include "json_text.h"
#include "segment_file.h"
#include "text_table.h"

namespace tldb::admin {
namespace {

const char* DurabilityName(Durability d) {
  return d == Durability::kBuffered ? "buffered" : "sync";
}

void Widen(SegmentStats* s, Seq lo, Seq hi, TimestampMs ts_lo, TimestampMs ts_hi) {
  s->min_seq = s->min_seq == 0 ? lo : std::min(s->min_seq, lo);
  s->max_seq = std::max(s->max_seq, hi);
  s->min_ts = s->min_ts == 0 ? ts_lo : std::min(s->min_ts, ts_lo);
  s->max_ts = std::max(s->max_ts, ts_hi);
}

void StatsFromIndex(const SegmentIndexReader& idx, SegmentStats* s) {
  std::unordered_set<uint32_t> offsets;
  for (uint32_t i = 0; i < idx.timeline_count(); ++i) {
    const IndexEntry e = idx.Entry(i);
    for (uint32_t k = 0; k < e.count; ++k) offsets.insert(idx.Offset(e, k));
    Widen(s, e.first_seq, e.first_seq + e.count - 1, idx.summary().min_ts, idx.summary().max_ts);
  }
  s->records = offsets.size();
  s->messages = idx.offset_count();
  s->timelines = idx.timeline_count();
  s->from_index = true;
}

void StatsFromData(const SegmentFile& f, SegmentStats* s) {
  std::set<std::string_view> timelines;
  f.ForEachRecord([&](uint64_t, const RecordView& r) {
    ++s->records;
    ForEachMessage(r, [&](std::string_view key, Seq seq) {
      ++s->messages;
      timelines.insert(key);
      Widen(s, seq, seq, r.timestamp_ms, r.timestamp_ms);
    });
  });
  s->timelines = timelines.size();
  if (f.tail == TailState::kTornTail) {
    s->note = "torn tail at offset " + std::to_string(f.scan.valid_end) + " (" +
              std::to_string(f.image.size() - f.scan.valid_end) + " bytes, cut at next open)";
  } else if (f.tail == TailState::kCorrupt) {
    s->note = "CORRUPT at offset " + std::to_string(f.scan.valid_end) + " (run tldb verify)";
  }
  if (!f.header_status.ok()) s->note = "bad header: " + f.header_status.message();
}

std::string StatsJson(const SegmentStats& s) {
  JsonObject o;
  o.Str("type", "segment").Str("ns", s.ns).Uint("id", s.id).Str("path", s.path);
  o.Str("state", s.active ? "active" : "sealed").Uint("bytes", s.bytes);
  o.Uint("index_bytes", s.index_bytes).Uint("records", s.records).Uint("messages", s.messages);
  o.Uint("timelines", s.timelines).Uint("min_seq", s.min_seq).Uint("max_seq", s.max_seq);
  o.Int("min_ts", s.min_ts).Int("max_ts", s.max_ts).Double("live_fraction", s.live_fraction);
  o.Double("compression_ratio", s.compression_ratio).Bool("from_index", s.from_index);
  if (!s.note.empty()) o.Str("note", s.note);
  return o.Done();
}

std::vector<std::string> StatsRow(const SegmentStats& s, const std::string& name) {
  char live[16], ratio[16];
  std::snprintf(live, sizeof live, "%.2f", s.live_fraction);
  std::snprintf(ratio, sizeof ratio, "%.2f", s.compression_ratio);
  return {name,
          s.active ? "active" : "sealed",
          std::to_string(s.bytes),
          std::to_string(s.records),
          std::to_string(s.messages),
          std::to_string(s.timelines),
          FormatRange(s.min_seq, s.max_seq),
          FormatTime(s.min_ts),
          FormatTime(s.max_ts),
          live,
          ratio,
          s.note};
}

TextTable SegmentTable() {
  return TextTable({"segment", "state", "bytes", "records", "messages", "timelines", "seq",
                    "first_ts", "last_ts", "live", "ratio", "note"});
}

std::string NamespaceJson(const NamespaceRef& ns, uint64_t bytes, uint64_t messages) {
  JsonObject o;
  o.Str("type", "namespace").Str("ns", ns.name).Bool("in_catalog", ns.in_catalog);
  o.Uint("id", ns.entry.id).Uint("ttl_ms", ns.entry.options.ttl_ms);
  o.Uint("segment_bytes_max", ns.entry.options.segment_bytes_max);
  o.Str("durability", DurabilityName(ns.entry.options.durability));
  o.Uint("segments", ns.segments.size()).Uint("bytes", bytes).Uint("messages", messages);
  return o.Done();
}

// Collects the namespace and segment tables (and JSON lines) of a whole store.
class StoreInspector {
 public:
  StoreInspector(FileSystem& fs, const InspectOptions& opt, std::ostream& out)
      : fs_(fs), opt_(opt), out_(out) {}
  Status Namespace(const NamespaceRef& ns);
  void Finish(const std::string& dir);

 private:
  FileSystem& fs_;
  const InspectOptions& opt_;
  std::ostream& out_;
  TextTable ns_table_{{"namespace", "id", "ttl_ms", "segment_bytes_max", "durability", "segments",
                       "timelines_max", "messages", "bytes"}};
  TextTable seg_table_ = SegmentTable();
  uint64_t segments_ = 0, bytes_ = 0, records_ = 0, messages_ = 0;
};

Status StoreInspector::Namespace(const NamespaceRef& ns) {
  uint64_t bytes = 0, messages = 0, timelines_max = 0;
  for (const auto& seg : ns.segments) {
    TLDB_ASSIGN_OR_RETURN(SegmentStats s, ComputeSegmentStats(fs_, seg, ns.entry.id));
    s.ns = ns.name;
    bytes += s.bytes + s.index_bytes;
    messages += s.messages;
    timelines_max = std::max(timelines_max, s.timelines);
    records_ += s.records;
    if (opt_.json) out_ << StatsJson(s) << '\n';
    seg_table_.Add(StatsRow(s, ns.name + "/" + seg.path.substr(ns.dir.size() + 1)));
  }
  segments_ += ns.segments.size();
  bytes_ += bytes;
  messages_ += messages;
  if (opt_.json) out_ << NamespaceJson(ns, bytes, messages) << '\n';
  const NamespaceOptions& o = ns.entry.options;
  ns_table_.Add({ns.name + (ns.in_catalog ? "" : " (not in catalog)"), std::to_string(ns.entry.id),
                 std::to_string(o.ttl_ms), std::to_string(o.segment_bytes_max),
                 DurabilityName(o.durability), std::to_string(ns.segments.size()),
                 std::to_string(timelines_max), std::to_string(messages), std::to_string(bytes)});
  return Status::Ok();
}

void StoreInspector::Finish(const std::string& dir) {
  if (opt_.json) {
    JsonObject o;
    o.Str("type", "totals").Str("dir", dir).Uint("segments", segments_).Uint("records", records_);
    out_ << o.Uint("messages", messages_).Uint("bytes", bytes_).Done() << '\n';
    return;
  }
  out_ << "store " << dir << "\n\n";
  ns_table_.Print(out_);
  out_ << '\n';
  seg_table_.Print(out_);
  out_ << "\ntotal: " << segments_ << " segments, " << records_ << " records, " << messages_
       << " messages, " << bytes_ << " bytes (" << FormatBytes(bytes_) << ")\n";
}

Status InspectStore(FileSystem& fs, const std::string& dir, const InspectOptions& opt,
                    std::ostream& out) {
  TLDB_ASSIGN_OR_RETURN(StoreLayout layout, ReadStoreLayout(fs, dir));
  if (!layout.catalog_status.ok()) return layout.catalog_status;
  if (!opt.ns.empty() && layout.Find(opt.ns) == nullptr) {
    return Status::NotFound("no namespace '" + opt.ns + "' in " + dir);
  }
  StoreInspector inspector(fs, opt, out);
  for (const auto& ns : layout.namespaces) {
    if (opt.ns.empty() || ns.name == opt.ns) TLDB_RETURN_IF_ERROR(inspector.Namespace(ns));
  }
  inspector.Finish(dir);
  return Status::Ok();
}

void PrintHeader(const SegmentFile& f, bool json, std::ostream& out) {
  if (json) {
    JsonObject o;
    o.Str("type", "header").Bool("ok", f.header_status.ok());
    if (!f.header_status.ok()) o.Str("error", f.header_status.message());
    o.Uint("namespace_id", f.header.namespace_id).Uint("segment_id", f.header.segment_id);
    o.Int("created_ms", f.header.created_ms).Uint("flags", f.header.flags);
    o.Uint("valid_end", f.scan.valid_end).Uint("file_bytes", f.image.size());
    out << o.Done() << '\n';
    return;
  }
  out << "header: " << (f.header_status.ok() ? "ok" : f.header_status.message())
      << "\n  format_version 1, namespace_id " << f.header.namespace_id << ", segment_id "
      << f.header.segment_id << ", created " << FormatTime(f.header.created_ms) << ", flags "
      << f.header.flags << "\n  records end at offset " << f.scan.valid_end << " of "
      << f.image.size() << " bytes\n";
}

void PrintIndexSummary(const IndexFile& idx, const std::string& path, bool json,
                       std::ostream& out) {
  const SegmentIndexReader& r = idx.reader();
  if (json) {
    JsonObject o;
    o.Str("type", "index").Str("path", path).Bool("ok", idx.status().ok());
    if (!idx.status().ok()) {
      out << o.Str("error", idx.status().message()).Done() << '\n';
      return;
    }
    o.Uint("bytes", idx.bytes().size()).Uint("data_end", r.summary().data_end);
    o.Uint("timelines", r.timeline_count()).Uint("offsets", r.offset_count());
    o.Uint("dedupe_entries", r.dedupe_count()).Int("min_ts", r.summary().min_ts);
    out << o.Int("max_ts", r.summary().max_ts).Done() << '\n';
    return;
  }
  out << "index: " << path << " (" << idx.bytes().size() << " bytes): ";
  if (!idx.status().ok()) {
    out << idx.status().message() << '\n';
    return;
  }
  out << "ok\n  data_end " << r.summary().data_end << ", " << r.timeline_count() << " timelines, "
      << r.offset_count() << " offsets, " << r.dedupe_count() << " dedupe entries, time "
      << FormatTime(r.summary().min_ts) << " .. " << FormatTime(r.summary().max_ts) << '\n';
  TextTable t({"timeline", "first_seq", "count", "last_ts"});
  const uint32_t shown = std::min<uint32_t>(r.timeline_count(), 10);
  for (uint32_t i = 0; i < shown; ++i) {
    const IndexEntry e = r.Entry(i);
    t.Add({std::string(e.key), std::to_string(e.first_seq), std::to_string(e.count),
           FormatTime(e.last_ts)});
  }
  t.Print(out);
  if (shown < r.timeline_count()) out << "  ... " << r.timeline_count() - shown << " more\n";
}

Status InspectOneSegment(FileSystem& fs, const std::string& path, uint64_t id,
                         const InspectOptions& opt, std::ostream& out) {
  SegmentRef ref;
  ref.id = id;
  ref.path = path;
  ref.index_path = path.substr(0, path.size() - 3) + "idx";
  TLDB_ASSIGN_OR_RETURN(ref.has_index, fs.Exists(ref.index_path));
  ref.active = !ref.has_index;
  TLDB_ASSIGN_OR_RETURN(ref.bytes, fs.FileSize(path));
  if (ref.has_index) {
    TLDB_ASSIGN_OR_RETURN(ref.index_bytes, fs.FileSize(ref.index_path));
  }
  TLDB_ASSIGN_OR_RETURN(SegmentFile f, LoadSegmentFile(fs, path, id, ref.has_index));
  TLDB_ASSIGN_OR_RETURN(SegmentStats s, ComputeSegmentStats(fs, ref, f.header.namespace_id));
  if (opt.json) {
    out << StatsJson(s) << '\n';
  } else {
    out << "segment " << path << " (" << (ref.active ? "active" : "sealed") << ")\n";
    PrintHeader(f, false, out);
    out << '\n';
    TextTable t = SegmentTable();
    t.Add(StatsRow(s, path.substr(path.find_last_of('/') + 1)));
    t.Print(out);
    out << '\n';
  }
  if (opt.json) PrintHeader(f, true, out);
  if (!ref.has_index) {
    if (!opt.json) out << "index: none (active segment: indexed in memory)\n";
    return Status::Ok();
  }
  TLDB_ASSIGN_OR_RETURN(auto idx, IndexFile::Load(fs, ref.index_path, f.header.namespace_id, id));
  PrintIndexSummary(*idx, ref.index_path, opt.json, out);
  return Status::Ok();
}

}  // namespace

Result<SegmentStats> ComputeSegmentStats(FileSystem& fs, const SegmentRef& seg,
                                         uint32_t namespace_id) {
  SegmentStats s;
  s.id = seg.id;
  s.path = seg.path;
  s.active = seg.active;
  s.bytes = seg.bytes;
  s.index_bytes = seg.index_bytes;
  if (seg.has_index) {
    TLDB_ASSIGN_OR_RETURN(auto idx, IndexFile::Load(fs, seg.index_path, namespace_id, seg.id));
    if (idx->status().ok()) {
      StatsFromIndex(idx->reader(), &s);
      return s;
    }
    s.note = "index damaged (" + idx->status().message() + ")";
  }
  TLDB_ASSIGN_OR_RETURN(SegmentFile f, LoadSegmentFile(fs, seg.path, seg.id, !seg.active));
  const std::string index_note = s.note;
  StatsFromData(f, &s);
  if (!index_note.empty()) s.note = index_note + (s.note.empty() ? "" : "; " + s.note);
  return s;
}

Status Inspect(FileSystem& fs, const std::string& path, const InspectOptions& options,
               std::ostream& out) {
  uint64_t id = 0;
  if (IsSegmentPath(path, &id)) return InspectOneSegment(fs, path, id, options, out);
  return InspectStore(fs, path, options, out);
}

}  // namespace tldb::admin
