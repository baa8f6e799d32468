#include "inspect.h"

#include <algorithm>
#include <set>
#include <unordered_set>

#include "index/index_file.h"
#include "json_text.h"
#include "live_model.h"
#include "log/file_names.h"
#include "log/segment_file.h"
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

void CountMutation(format::RecordType t, SegmentStats* s) {
  if (t == format::RecordType::kRecall) ++s->recalls;
  if (t == format::RecordType::kEdit) ++s->edits;
  if (t == format::RecordType::kTrim) ++s->trims;
}

// Messages whose payload an edit replaced are dead in this segment (the edit record holds the
// payload now), as the engine's compaction planner counts them.
bool IsLiveHere(const LiveModel* live, std::string_view key, Seq seq, TimestampMs ts) {
  return live == nullptr || live->Judge(key, seq, ts, nullptr) == LiveModel::State::kLive;
}

void StatsFromIndex(const SegmentIndexReader& idx, const LiveModel* live, SegmentStats* s) {
  std::unordered_set<uint32_t> offsets;
  for (uint32_t i = 0; i < idx.timeline_count(); ++i) {
    const IndexEntry e = idx.Entry(i);
    if (e.count == 0) continue;  // only maintenance records of this timeline here
    Seq lo = 0, hi = 0;
    for (uint32_t k = 0; k < e.count; ++k) {
      const uint32_t off = idx.Offset(e, k);
      if (off == index_format::kGapOffset) continue;
      const Seq seq = e.first_seq + k;
      lo = lo == 0 ? seq : lo;
      hi = seq;
      offsets.insert(off);
      ++s->messages;
      if (IsLiveHere(live, e.key, seq, e.last_ts)) ++s->live_messages;
    }
    if (lo != 0) Widen(s, lo, hi, idx.summary().min_ts, idx.summary().max_ts);
  }
  for (uint32_t i = 0; i < idx.mutation_count(); ++i) {
    CountMutation(static_cast<format::RecordType>(idx.Mutation(i).type), s);
  }
  s->records = offsets.size() + idx.mutation_count();
  s->timelines = idx.timeline_count();
  s->data_bytes = idx.summary().data_end;
  s->blocks = idx.block_count();
  s->compressed = idx.summary().compressed;
  s->from_index = true;
}

void StatsFromData(const SegmentFile& f, const LiveModel* live, SegmentStats* s) {
  std::set<std::string_view> timelines;
  f.ForEachRecord([&](uint64_t, const RecordView& r) {
    ++s->records;
    if (IsMaintenance(r.type)) {
      CountMutation(r.type, s);
      timelines.insert(r.key);
    }
    ForEachMessage(r, [&](std::string_view key, Seq seq) {
      ++s->messages;
      if (IsLiveHere(live, key, seq, r.timestamp_ms)) ++s->live_messages;
      timelines.insert(key);
      Widen(s, seq, seq, r.timestamp_ms, r.timestamp_ms);
    });
  });
  s->timelines = timelines.size();
  s->compressed = f.compressed;
  s->data_bytes = f.compressed ? f.scan.valid_end : f.image.size();
  for (const BlockInfo& b : f.blocks) s->blocks += b.ok ? 1 : 0;
  if (f.tail == TailState::kTornTail) {
    s->note = "torn tail at offset " + std::to_string(f.scan.valid_end) + " (" +
              std::to_string(f.image.size() - f.scan.valid_end) + " bytes, cut at next open)";
  } else if (f.tail == TailState::kCorrupt) {
    s->note = "CORRUPT at " +
              (f.compressed ? "block at file offset " + std::to_string(f.damage_file_offset)
                            : "offset " + std::to_string(f.scan.valid_end)) +
              " (run tldb verify)";
  }
  if (!f.header_status.ok()) s->note = "bad header: " + f.header_status.message();
}

void Finish(SegmentStats* s) {
  s->live_fraction = s->messages == 0
                         ? 1.0
                         : static_cast<double>(s->live_messages) / static_cast<double>(s->messages);
  s->compression_ratio =
      s->bytes == 0 ? 1.0 : static_cast<double>(s->data_bytes) / static_cast<double>(s->bytes);
  if (!s->compressed) s->compression_ratio = 1.0;
}

std::string Mutations(const SegmentStats& s) {
  if (s.recalls + s.edits + s.trims == 0) return "-";
  return std::to_string(s.recalls) + "/" + std::to_string(s.edits) + "/" + std::to_string(s.trims);
}

std::string StatsJson(const SegmentStats& s) {
  JsonObject o;
  o.Str("type", "segment").Str("ns", s.ns).Uint("id", s.id).Uint("gen", s.gen);
  o.Str("path", s.path).Str("state", s.active ? "active" : "sealed");
  o.Bool("compressed", s.compressed).Uint("bytes", s.bytes).Uint("data_bytes", s.data_bytes);
  o.Uint("blocks", s.blocks).Uint("recalls", s.recalls).Uint("edits", s.edits);
  o.Uint("trims", s.trims).Uint("live_messages", s.live_messages);
  o.Uint("index_bytes", s.index_bytes).Uint("records", s.records).Uint("messages", s.messages);
  o.Uint("timelines", s.timelines).Uint("min_seq", s.min_seq).Uint("max_seq", s.max_seq);
  o.Int("min_ts", s.min_ts).Int("max_ts", s.max_ts).Double("live_fraction", s.live_fraction);
  o.Double("compression_ratio", s.compression_ratio).Bool("from_index", s.from_index);
  if (!s.note.empty()) o.Str("note", s.note);
  return o.Done();
}

std::vector<std::string> StatsRow(const SegmentStats& s, const std::string& name) {
  char live[16], ratio[16];
  std::snprintf(live, sizeof live, "%.3f", s.live_fraction);
  std::snprintf(ratio, sizeof ratio, "%.3f", s.compression_ratio);
  return {name,
          s.active ? "active" : "sealed",
          std::to_string(s.gen),
          s.compressed ? "zstd" : "plain",
          std::to_string(s.bytes),
          std::to_string(s.records),
          std::to_string(s.messages),
          Mutations(s),
          std::to_string(s.timelines),
          FormatRange(s.min_seq, s.max_seq),
          FormatTime(s.min_ts),
          FormatTime(s.max_ts),
          live,
          ratio,
          s.note};
}

TextTable SegmentTable() {
  return TextTable({"segment", "state", "gen", "format", "bytes", "records", "messages",
                    "rcl/edt/trm", "timelines", "seq", "first_ts", "last_ts", "live", "ratio",
                    "note"});
}

std::string FloorsJson(const NamespaceRef& ns) {
  std::string a = "[";
  for (const Floor& f : ns.floors) {
    if (a.size() > 1) a += ",";
    a += JsonObject()
             .Bytes("timeline", f.key)
             .Uint("last_seq", f.last_seq)
             .Int("last_ts", f.last_ts)
             .Done();
  }
  return a + "]";
}

std::string NamespaceJson(const NamespaceRef& ns, uint64_t bytes, uint64_t messages,
                          uint64_t live) {
  JsonObject o;
  o.Str("type", "namespace").Str("ns", ns.name).Bool("in_catalog", ns.in_catalog);
  o.Uint("id", ns.entry.id).Uint("ttl_ms", ns.entry.options.ttl_ms);
  o.Uint("messages_per_timeline_max", ns.entry.options.messages_per_timeline_max);
  o.Uint("live_messages", live).Raw("floors", FloorsJson(ns));
  if (!ns.floors_status.ok()) o.Str("floors_error", ns.floors_status.message());
  o.Bool("compact_pending", ns.compact_commit).Uint("stale_files", ns.stale_files.size());
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
  void Notes(const NamespaceRef& ns);
  TextTable ns_table_{{"namespace", "id", "ttl_ms", "segment_bytes_max", "durability", "segments",
                       "timelines_max", "messages", "live", "floors", "bytes"}};
  TextTable seg_table_ = SegmentTable();
  std::vector<std::string> notes_;
  uint64_t segments_ = 0, bytes_ = 0, records_ = 0, messages_ = 0, live_ = 0, data_bytes_ = 0,
           file_bytes_ = 0, mutations_ = 0, floors_ = 0;
};

// FLOORS entries, a pending COMPACT and stale files, one text line each.
void StoreInspector::Notes(const NamespaceRef& ns) {
  if (!ns.floors_status.ok()) {
    notes_.push_back(ns.name + ": FLOORS damaged: " + ns.floors_status.message());
  }
  for (const Floor& f : ns.floors) {
    notes_.push_back(ns.name + ": floor: timeline '" + f.key + "' last seq " +
                     std::to_string(f.last_seq) + " at " + FormatTime(f.last_ts) +
                     " (no record left; its SeqIds continue above)");
  }
  if (ns.compact_commit) {
    notes_.push_back(ns.name +
                     ": COMPACT pending: a committed compaction's inputs are still present "
                     "(removed at the next open)");
  }
  for (const auto& f : ns.stale_files) {
    notes_.push_back(ns.name + ": stale " + f.substr(ns.dir.size() + 1) +
                     " (ignored, deleted at the next open)");
  }
}

Status StoreInspector::Namespace(const NamespaceRef& ns) {
  uint64_t bytes = 0, messages = 0, live = 0, timelines_max = 0;
  TLDB_ASSIGN_OR_RETURN(LiveModel model,
                        BuildLiveModel(fs_, ns, opt_.now_ms != 0 ? opt_.now_ms : WallClockMs(),
                                       /*from_data=*/false));
  for (const auto& seg : ns.segments) {
    TLDB_ASSIGN_OR_RETURN(SegmentStats s, ComputeSegmentStats(fs_, seg, ns.entry.id, &model));
    s.ns = ns.name;
    bytes += s.bytes + s.index_bytes;
    messages += s.messages;
    live += s.live_messages;
    data_bytes_ += s.data_bytes;
    file_bytes_ += s.bytes;
    mutations_ += s.recalls + s.edits + s.trims;
    timelines_max = std::max(timelines_max, s.timelines);
    records_ += s.records;
    if (opt_.json) out_ << StatsJson(s) << '\n';
    seg_table_.Add(StatsRow(s, ns.name + "/" + seg.path.substr(ns.dir.size() + 1)));
  }
  segments_ += ns.segments.size();
  bytes_ += bytes;
  messages_ += messages;
  live_ += live;
  floors_ += ns.floors.size();
  if (opt_.json) out_ << NamespaceJson(ns, bytes, messages, live) << '\n';
  const NamespaceOptions& o = ns.entry.options;
  ns_table_.Add({ns.name + (ns.in_catalog ? "" : " (not in catalog)"), std::to_string(ns.entry.id),
                 std::to_string(o.ttl_ms), std::to_string(o.segment_bytes_max),
                 DurabilityName(o.durability), std::to_string(ns.segments.size()),
                 std::to_string(timelines_max), std::to_string(messages), std::to_string(live),
                 std::to_string(ns.floors.size()) + (ns.compact_commit ? " +COMPACT" : ""),
                 std::to_string(bytes)});
  Notes(ns);
  return Status::Ok();
}

void StoreInspector::Finish(const std::string& dir) {
  if (opt_.json) {
    JsonObject o;
    o.Str("type", "totals").Str("dir", dir).Uint("segments", segments_).Uint("records", records_);
    o.Uint("maintenance_records", mutations_).Uint("messages", messages_);
    o.Uint("live_messages", live_).Uint("floors", floors_).Uint("data_bytes", data_bytes_);
    out_ << o.Uint("bytes", bytes_).Done() << '\n';
    return;
  }
  out_ << "store " << dir << "\n\n";
  ns_table_.Print(out_);
  for (const auto& n : notes_) out_ << n << '\n';
  out_ << '\n';
  seg_table_.Print(out_);
  char live[16], ratio[16];
  std::snprintf(live, sizeof live, "%.3f",
                messages_ == 0 ? 1.0 : static_cast<double>(live_) / static_cast<double>(messages_));
  std::snprintf(
      ratio, sizeof ratio, "%.3f",
      file_bytes_ == 0 ? 1.0 : static_cast<double>(data_bytes_) / static_cast<double>(file_bytes_));
  out_ << "\ntotal: " << segments_ << " segments, " << records_ << " records (" << mutations_
       << " recall/edit/trim), " << messages_ << " messages (" << live_ << " live, " << live
       << "), " << floors_ << " floors, " << bytes_ << " bytes (" << FormatBytes(bytes_)
       << "), record space / segment bytes " << ratio << "\n"
       << "live = messages reads still return / messages stored (by count, not bytes); "
          "rcl/edt/trm = recall/edit/trim records\n";
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
    o.Uint("gen", f.header.gen).Bool("compressed", f.compressed);
    o.Uint("valid_end", f.scan.valid_end).Uint("file_bytes", f.image.size());
    if (f.compressed) o.Uint("blocks", f.blocks.size());
    if (!f.damage_what.empty()) o.Str("damage", f.damage_what);
    out << o.Done() << '\n';
    return;
  }
  out << "header: " << (f.header_status.ok() ? "ok" : f.header_status.message())
      << "\n  format_version 1, namespace_id " << f.header.namespace_id << ", segment_id "
      << f.header.segment_id << ", generation " << f.header.gen << ", created "
      << (f.header.created_ms == 0 ? std::string("at open") : FormatTime(f.header.created_ms))
      << ", flags " << f.header.flags << (f.compressed ? " (compressed)" : "") << '\n';
  if (!f.compressed) {
    out << "  records end at offset " << f.scan.valid_end << " of " << f.image.size() << " bytes\n";
    return;
  }
  uint64_t ok = 0;
  for (const BlockInfo& b : f.blocks) ok += b.ok ? 1 : 0;
  char ratio[16];
  std::snprintf(ratio, sizeof ratio, "%.3f",
                static_cast<double>(f.scan.valid_end) / static_cast<double>(f.image.size()));
  out << "  " << f.blocks.size() << " zstd blocks (" << ok << " intact) hold record space 64.."
      << f.scan.valid_end << " in " << f.image.size() << " file bytes (ratio " << ratio << ")\n";
  if (!f.damage_what.empty()) out << "  DAMAGED: " << f.damage_what << '\n';
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
    o.Uint("generation", r.summary().generation).Bool("compressed", r.summary().compressed);
    o.Uint("mutations", r.mutation_count()).Uint("blocks", r.block_count());
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
  out << "ok\n  generation " << r.summary().generation
      << (r.summary().compressed ? ", compressed" : ", plain") << ", data_end "
      << r.summary().data_end << ", " << r.timeline_count() << " timelines, " << r.offset_count()
      << " offsets, " << r.dedupe_count() << " dedupe entries, " << r.mutation_count()
      << " maintenance records, " << r.block_count() << " blocks, time "
      << FormatTime(r.summary().min_ts) << " .. " << FormatTime(r.summary().max_ts) << '\n';
  TextTable t({"timeline", "first_seq", "count", "gaps", "last_ts"});
  const uint32_t shown = std::min<uint32_t>(r.timeline_count(), 10);
  for (uint32_t i = 0; i < shown; ++i) {
    const IndexEntry e = r.Entry(i);
    uint32_t gaps = 0;
    for (uint32_t k = 0; k < e.count; ++k) gaps += r.Offset(e, k) == index_format::kGapOffset;
    t.Add({std::string(e.key), e.count == 0 ? "-" : std::to_string(e.first_seq),
           std::to_string(e.count), std::to_string(gaps), FormatTime(e.last_ts)});
  }
  t.Print(out);
  if (shown < r.timeline_count()) out << "  ... " << r.timeline_count() - shown << " more\n";
  if (r.mutation_count() > 0) {
    TextTable m({"maintenance", "timeline", "seq", "offset"});
    const uint32_t n = std::min<uint32_t>(r.mutation_count(), 10);
    for (uint32_t i = 0; i < n; ++i) {
      const IndexMutation x = r.Mutation(i);
      m.Add({RecordTypeName(static_cast<format::RecordType>(x.type)),
             std::string(r.Entry(x.entry).key), std::to_string(x.seq), std::to_string(x.offset)});
    }
    m.Print(out);
    if (n < r.mutation_count()) out << "  ... " << r.mutation_count() - n << " more\n";
  }
  if (r.block_count() > 0) {
    TextTable b({"block", "file_offset", "stored_bytes", "raw_start", "raw_bytes"});
    const uint32_t n = std::min<uint32_t>(r.block_count(), 10);
    for (uint32_t i = 0; i < n; ++i) {
      const IndexBlock x = r.Block(i);
      b.Add({std::to_string(i), std::to_string(x.file_offset), std::to_string(x.stored_bytes),
             std::to_string(x.raw_start), std::to_string(x.raw_bytes)});
    }
    b.Print(out);
    if (n < r.block_count()) out << "  ... " << r.block_count() - n << " more\n";
  }
}

Status InspectOneSegment(FileSystem& fs, const std::string& path, uint64_t id, uint32_t gen,
                         const InspectOptions& opt, std::ostream& out) {
  SegmentRef ref;
  ref.id = id;
  ref.gen = gen;
  ref.path = path;
  ref.index_path = path.substr(0, path.size() - 3) + "idx";
  TLDB_ASSIGN_OR_RETURN(ref.has_index, fs.Exists(ref.index_path));
  ref.active = !ref.has_index && gen == 0;
  TLDB_ASSIGN_OR_RETURN(ref.bytes, fs.FileSize(path));
  if (ref.has_index) {
    TLDB_ASSIGN_OR_RETURN(ref.index_bytes, fs.FileSize(ref.index_path));
  }
  TLDB_ASSIGN_OR_RETURN(SegmentFile f, LoadSegmentFile(fs, path, id, !ref.active, gen));
  // One file alone: live fraction needs the whole namespace, so it is not judged here.
  TLDB_ASSIGN_OR_RETURN(SegmentStats s,
                        ComputeSegmentStats(fs, ref, f.header.namespace_id, nullptr));
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
    if (!opt.json) {
      out << (ref.active ? "index: none (active segment: indexed in memory)\n"
                         : "index: none (rebuilt when the store opens)\n");
    }
    return Status::Ok();
  }
  TLDB_ASSIGN_OR_RETURN(auto idx, IndexFile::Load(fs, ref.index_path, f.header.namespace_id, id));
  PrintIndexSummary(*idx, ref.index_path, opt.json, out);
  return Status::Ok();
}

}  // namespace

Result<SegmentStats> ComputeSegmentStats(FileSystem& fs, const SegmentRef& seg,
                                         uint32_t namespace_id, const LiveModel* live) {
  SegmentStats s;
  s.id = seg.id;
  s.gen = seg.gen;
  s.path = seg.path;
  s.active = seg.active;
  s.bytes = seg.bytes;
  s.index_bytes = seg.index_bytes;
  if (seg.has_index) {
    TLDB_ASSIGN_OR_RETURN(auto idx, IndexFile::Load(fs, seg.index_path, namespace_id, seg.id));
    if (idx->status().ok()) {
      StatsFromIndex(idx->reader(), live, &s);
      Finish(&s);
      return s;
    }
    s.note = "index damaged (" + idx->status().message() + ")";
  }
  TLDB_ASSIGN_OR_RETURN(SegmentFile f, LoadSegmentFile(fs, seg.path, seg.id, !seg.active, seg.gen));
  const std::string index_note = s.note;
  StatsFromData(f, live, &s);
  Finish(&s);
  if (!index_note.empty()) s.note = index_note + (s.note.empty() ? "" : "; " + s.note);
  return s;
}

Status Inspect(FileSystem& fs, const std::string& path, const InspectOptions& options,
               std::ostream& out) {
  uint64_t id = 0;
  uint32_t gen = 0;
  if (IsSegmentPath(path, &id, &gen)) return InspectOneSegment(fs, path, id, gen, options, out);
  return InspectStore(fs, path, options, out);
}

}  // namespace tldb::admin
