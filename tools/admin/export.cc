#include "export.h"

#include <algorithm>

#include "data_dir.h"
#include "export_line.h"
#include "live_model.h"
#include "log/segment_file.h"

namespace tldb::admin {
namespace {

bool Wanted(const ExportOptions& opt, std::string_view key) {
  return opt.timelines.empty() ||
         std::find(opt.timelines.begin(), opt.timelines.end(), key) != opt.timelines.end();
}

Status ExportSegment(FileSystem& fs, const NamespaceRef& ns, const SegmentRef& seg,
                     const LiveModel& live, const ExportOptions& opt, std::ostream& out,
                     uint64_t* exported, std::string* damage) {
  TLDB_ASSIGN_OR_RETURN(SegmentFile f, LoadSegmentFile(fs, seg.path, seg.id, !seg.active, seg.gen));
  // A compaction output stores a fan-out at its first target's place, so the other targets'
  // SeqIds are out of order there: its lines are sorted by (timeline, SeqId) before they go out.
  std::vector<std::pair<std::pair<std::string, Seq>, std::string>> sorted;
  f.ForEachRecord([&](uint64_t, const RecordView& r) {
    ForEachMessage(r, [&](std::string_view key, Seq seq) {
      if (!Wanted(opt, key)) return;
      std::string_view payload = r.payload;
      if (live.Judge(key, seq, r.timestamp_ms, &payload) == LiveModel::State::kDeleted) return;
      std::string line =
          FormatExportLine(ns.name, key, seq, r.timestamp_ms, r.client_msg_id, payload);
      if (f.compressed) {
        sorted.push_back({{std::string(key), seq}, std::move(line)});
      } else {
        out << line << '\n';
      }
      ++*exported;
    });
  });
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [k, line] : sorted) out << line << '\n';
  if (f.tail == TailState::kCorrupt || !f.header_status.ok()) {
    const uint64_t at = !f.header_status.ok() ? 0
                        : f.compressed        ? f.damage_file_offset
                                              : f.scan.valid_end;
    *damage += (damage->empty() ? "" : "; ") + seg.path + " offset " + std::to_string(at);
  }
  return Status::Ok();
}

}  // namespace

Status ExportDir(FileSystem& fs, const std::string& dir, const ExportOptions& options,
                 std::ostream& out, uint64_t* exported) {
  TLDB_ASSIGN_OR_RETURN(StoreLayout layout, ReadStoreLayout(fs, dir));
  if (!layout.catalog_status.ok()) return layout.catalog_status;
  if (!options.ns.empty() && layout.Find(options.ns) == nullptr) {
    return Status::NotFound("no namespace '" + options.ns + "' in " + dir);
  }
  std::string damage;
  for (const auto& ns : layout.namespaces) {
    if (!ns.in_catalog || (!options.ns.empty() && ns.name != options.ns)) continue;
    const TimestampMs now = options.now_ms != 0 ? options.now_ms : WallClockMs();
    TLDB_ASSIGN_OR_RETURN(LiveModel live, BuildLiveModel(fs, ns, now, /*from_data=*/true));
    for (const auto& seg : ns.segments) {
      TLDB_RETURN_IF_ERROR(ExportSegment(fs, ns, seg, live, options, out, exported, &damage));
    }
  }
  if (!damage.empty()) {
    return Status::Corruption("exported the readable records, but segments are damaged at " +
                              damage + " (run tldb verify)");
  }
  return Status::Ok();
}

Status CheckServerExport(const ExportOptions& options) {
  if (options.timelines.empty() || options.ns.empty()) {
    return Status::NotSupported(
        "online export needs --ns and --timeline: the server protocol has no call that lists "
        "timelines; export a whole store offline from its data directory instead");
  }
  return Status::Ok();
}

Status ExportServer(Client& client, const ExportOptions& options, std::ostream& out,
                    uint64_t* exported) {
  TLDB_RETURN_IF_ERROR(CheckServerExport(options));
  for (const auto& t : options.timelines) {
    ScanOptions scan;
    scan.limit = 1000;
    for (;;) {
      TLDB_ASSIGN_OR_RETURN(auto page, client.Scan(options.ns, t, scan));
      for (const Message& m : page) {
        out << FormatExportLine(options.ns, t, m.seq, m.timestamp_ms, m.client_msg_id, m.payload)
            << '\n';
        ++*exported;
      }
      if (page.empty()) break;
      scan.from_seq = page.back().seq + 1;
    }
  }
  return Status::Ok();
}

}  // namespace tldb::admin
