#include "dump.h"

#include "base64.h"
#include "data_dir.h"
#include "json_text.h"
#include "log/segment_file.h"
#include "text_table.h"

namespace tldb::admin {
namespace {

// Recall and trim records carry no payload.
bool HasPayload(format::RecordType t) {
  return t != format::RecordType::kRecall && t != format::RecordType::kTrim;
}

struct Dumper {
  const DumpOptions& opt;
  std::ostream& out;
  uint64_t lines = 0;

  bool Full() const { return opt.limit != 0 && lines >= opt.limit; }

  void Line(const std::string& seg, uint64_t off, const RecordView& r, std::string_view key,
            Seq seq) {
    if (!opt.timeline.empty() && key != opt.timeline) return;
    if (seq < opt.from_seq || Full()) return;
    ++lines;
    const char* type = RecordTypeName(r.type);
    const bool maintenance = IsMaintenance(r.type);
    if (opt.json) {
      JsonObject o;
      o.Str("segment", seg)
          .Uint("offset", off)
          .Uint(maintenance ? "target_seq" : "seq", seq)
          .Int("timestamp_ms", r.timestamp_ms);
      o.Bytes("timeline", key).Str("type", type).Uint("flags", 0);
      if (r.type == format::RecordType::kFanout) o.Uint("targets", r.target_count);
      o.Bytes("client_msg_id", r.client_msg_id);
      if (HasPayload(r.type)) o.Bytes("payload", r.payload);
      out << o.Done() << '\n';
      return;
    }
    out << seg << '@' << off << (maintenance ? "\ttarget " : "\tseq ") << seq << '\t'
        << FormatTime(r.timestamp_ms) << '\t'
        << (IsPrintableText(key) ? std::string(key) : "b64:" + Base64Encode(key)) << '\t' << type;
    if (r.type == format::RecordType::kFanout) out << '/' << r.target_count;
    if (r.type == format::RecordType::kRecall) out << " of seq " << seq;
    if (r.type == format::RecordType::kEdit) out << " of seq " << seq;
    if (r.type == format::RecordType::kTrim) out << " below seq " << seq;
    out << "\tflags=0";
    if (!r.client_msg_id.empty()) out << "\tcmid=" << JsonQuote(r.client_msg_id);
    if (HasPayload(r.type)) {
      out << '\t'
          << (IsPrintableText(r.payload) ? JsonQuote(r.payload) : "b64:" + Base64Encode(r.payload));
    }
    out << '\n';
  }

  Status Segment(FileSystem& fs, const std::string& name, const std::string& path, uint64_t id,
                 uint32_t gen, bool sealed) {
    TLDB_ASSIGN_OR_RETURN(SegmentFile f, LoadSegmentFile(fs, path, id, sealed, gen));
    f.ForEachRecord([&](uint64_t off, const RecordView& r) {
      if (IsMaintenance(r.type)) return Line(name, off, r, r.key, r.seq);
      ForEachMessage(r, [&](std::string_view key, Seq seq) { Line(name, off, r, key, seq); });
    });
    if (opt.json || Full() || f.tail == TailState::kClean) return Status::Ok();
    if (f.compressed) {
      out << "# " << name << ": records stop at record offset " << f.scan.valid_end
          << " (CORRUPT block at file offset " << f.damage_file_offset << ": " << f.damage_what
          << ")\n";
      return Status::Ok();
    }
    out << "# " << name << ": records stop at offset " << f.scan.valid_end << " ("
        << (f.tail == TailState::kTornTail ? "torn tail" : "CORRUPT") << ", "
        << f.image.size() - f.scan.valid_end << " bytes follow)\n";
    return Status::Ok();
  }
};

}  // namespace

Status Dump(FileSystem& fs, const std::string& path, const DumpOptions& options,
            std::ostream& out) {
  Dumper d{options, out};
  uint64_t id = 0;
  uint32_t gen = 0;
  if (IsSegmentPath(path, &id, &gen)) {
    const std::string idx = path.substr(0, path.size() - 3) + "idx";
    TLDB_ASSIGN_OR_RETURN(bool sealed, fs.Exists(idx));
    return d.Segment(fs, path.substr(path.find_last_of('/') + 1), path, id, gen, sealed || gen > 0);
  }
  TLDB_ASSIGN_OR_RETURN(StoreLayout layout, ReadStoreLayout(fs, path));
  if (!options.ns.empty() && layout.Find(options.ns) == nullptr) {
    return Status::NotFound("no namespace '" + options.ns + "' in " + path);
  }
  for (const auto& ns : layout.namespaces) {
    if (!options.ns.empty() && ns.name != options.ns) continue;
    for (const auto& seg : ns.segments) {
      if (d.Full()) return Status::Ok();
      const std::string name = ns.name + "/" + seg.path.substr(ns.dir.size() + 1);
      TLDB_RETURN_IF_ERROR(d.Segment(fs, name, seg.path, seg.id, seg.gen, !seg.active));
    }
  }
  return Status::Ok();
}

}  // namespace tldb::admin
