#include "repair.h"

#include <map>

#include "data_dir.h"
#include "index_check.h"
#include "index_model.h"
#include "json_text.h"
#include "log/file_names.h"
#include "segment_file.h"

namespace tldb::admin {
namespace {

// Per timeline, the SeqId range of the messages found in some bytes.
struct LostMessages {
  std::map<std::string, std::pair<Seq, Seq>> ranges;
  uint64_t messages = 0;

  void Add(const RecordView& r) {
    ForEachMessage(r, [&](std::string_view key, Seq seq) {
      ++messages;
      auto [it, fresh] = ranges.try_emplace(std::string(key), seq, seq);
      if (!fresh) {
        it->second.first = std::min(it->second.first, seq);
        it->second.second = std::max(it->second.second, seq);
      }
    });
  }
  void Describe(const std::string& where, std::vector<std::string>* out) const {
    out->push_back(where + ": " + std::to_string(messages) + " messages in " +
                   std::to_string(ranges.size()) + " timelines");
    size_t shown = 0;
    for (const auto& [key, r] : ranges) {
      if (++shown > 20) {
        out->push_back("  ... and " + std::to_string(ranges.size() - 20) + " more timelines");
        break;
      }
      out->push_back("  timeline '" + key + "' seq " + std::to_string(r.first) + ".." +
                     std::to_string(r.second));
    }
  }
};

class Repairer {
 public:
  Repairer(FileSystem& fs, const std::string& dir, RepairReport* report)
      : fs_(fs), dir_(dir), report_(report) {}
  Status Namespace(const NamespaceRef& ns);

 private:
  Status Segment(const NamespaceRef& ns, const SegmentRef& seg);
  Status Quarantine(const NamespaceRef& ns, const SegmentRef& seg, const SegmentFile& f,
                    const std::string& why);
  Status CutActive(const NamespaceRef& ns, const SegmentRef& seg, const SegmentFile& f);
  Status CheckOrRebuildIndex(const NamespaceRef& ns, const SegmentRef& seg, const SegmentFile& f);
  Result<std::string> QuarantinePath(const std::string& ns, const std::string& file);

  FileSystem& fs_;
  const std::string& dir_;
  RepairReport* report_;
};

Result<std::string> Repairer::QuarantinePath(const std::string& ns, const std::string& file) {
  const std::string qdir = dir_ + "/quarantine";
  TLDB_RETURN_IF_ERROR(fs_.CreateDir(qdir));
  TLDB_RETURN_IF_ERROR(fs_.CreateDir(qdir + "/" + ns));
  const std::string base = qdir + "/" + ns + "/" + file;
  std::string path = base;
  for (int n = 1;; ++n) {
    TLDB_ASSIGN_OR_RETURN(bool exists, fs_.Exists(path));
    if (!exists) return path;
    path = base + "." + std::to_string(n);
  }
}

std::string BaseName(const std::string& path) {
  return path.substr(path.find_last_of('/') + 1);
}

Status Repairer::Quarantine(const NamespaceRef& ns, const SegmentRef& seg, const SegmentFile& f,
                            const std::string& why) {
  LostMessages lost;
  ForEachRecordFrom(f.image, seg.id, format::kSegmentHeaderBytes,
                    [&](uint64_t, const RecordView& r) { lost.Add(r); });
  for (const std::string* p : {&seg.path, &seg.index_path}) {
    if (p == &seg.index_path && !seg.has_index) continue;
    TLDB_ASSIGN_OR_RETURN(std::string to, QuarantinePath(ns.name, BaseName(*p)));
    TLDB_RETURN_IF_ERROR(fs_.Rename(*p, to));
    report_->actions.push_back("moved " + *p + " to " + to + " (" + why + ")");
  }
  TLDB_RETURN_IF_ERROR(fs_.SyncDir(dir_ + "/quarantine/" + ns.name));
  TLDB_RETURN_IF_ERROR(fs_.SyncDir(ns.dir));
  lost.Describe("unreachable: quarantined " + seg.path, &report_->unreachable);
  return Status::Ok();
}

Status Repairer::CutActive(const NamespaceRef& ns, const SegmentRef& seg, const SegmentFile& f) {
  const uint64_t cut = f.scan.valid_end;
  LostMessages lost;
  ForEachRecordFrom(f.image, seg.id, cut + 1, [&](uint64_t, const RecordView& r) { lost.Add(r); });
  if (f.tail == TailState::kCorrupt) {
    TLDB_ASSIGN_OR_RETURN(std::string to, QuarantinePath(ns.name, BaseName(seg.path)));
    TLDB_ASSIGN_OR_RETURN(auto copy, fs_.OpenWritable(to, /*create=*/true, /*exclusive=*/true));
    TLDB_RETURN_IF_ERROR(copy->Write(0, f.image));
    TLDB_RETURN_IF_ERROR(copy->Sync());
    TLDB_RETURN_IF_ERROR(copy->Close());
    TLDB_RETURN_IF_ERROR(fs_.SyncDir(DirName(to)));
    report_->actions.push_back("copied " + seg.path + " to " + to + " before cutting it");
  }
  TLDB_ASSIGN_OR_RETURN(auto file, fs_.OpenWritable(seg.path, /*create=*/false, false));
  TLDB_RETURN_IF_ERROR(file->Truncate(cut));
  TLDB_RETURN_IF_ERROR(file->Sync());
  TLDB_RETURN_IF_ERROR(file->Close());
  const std::string bytes = std::to_string(f.image.size() - cut);
  if (f.tail == TailState::kTornTail) {
    report_->actions.push_back("cut torn tail of " + seg.path + " at offset " +
                               std::to_string(cut) + " (" + bytes + " bytes, never durable)");
    if (lost.messages > 0) {
      lost.Describe("not acknowledged, cut with the torn tail of " + seg.path,
                    &report_->unreachable);
    }
    return Status::Ok();
  }
  report_->actions.push_back("cut damaged active segment " + seg.path + " at offset " +
                             std::to_string(cut) + " (" + bytes + " bytes)");
  report_->unreachable.push_back("unreachable: " + seg.path + " bytes " + std::to_string(cut) +
                                 ".." + std::to_string(f.image.size()) + " (damaged)");
  lost.Describe("unreachable: valid records after the damage in " + seg.path,
                &report_->unreachable);
  return Status::Ok();
}

Status Repairer::CheckOrRebuildIndex(const NamespaceRef& ns, const SegmentRef& seg,
                                     const SegmentFile& f) {
  const IndexModel model = BuildIndexModel(f);
  std::string why = "missing";
  if (seg.has_index) {
    TLDB_ASSIGN_OR_RETURN(auto idx, IndexFile::Load(fs_, seg.index_path, ns.entry.id, seg.id));
    if (!idx->status().ok()) {
      why = idx->status().message();
    } else {
      std::vector<Problem> problems;
      CheckIndex(*idx, seg.index_path, model, seg.path, &problems);
      if (problems.empty()) return Status::Ok();
      why = "disagrees with its segment: " + problems.front().what;
    }
  }
  if (!model.gaps.empty()) {
    report_->actions.push_back("could not rebuild " + seg.index_path + ": timeline '" +
                               model.gaps.front().key + "' has a SeqId gap inside the segment");
    return Status::Ok();
  }
  TLDB_RETURN_IF_ERROR(
      fs_.WriteFileAtomic(seg.index_path, SerializeIndex(model, ns.entry.id, seg.id)));
  report_->actions.push_back("rebuilt " + seg.index_path + " (" + why + ")");
  return Status::Ok();
}

Status Repairer::Segment(const NamespaceRef& ns, const SegmentRef& seg) {
  TLDB_ASSIGN_OR_RETURN(SegmentFile f, LoadSegmentFile(fs_, seg.path, seg.id, !seg.active));
  if (seg.active && f.NeverDurable()) {
    return Status::Ok();  // never became durable: the store recreates it, nothing to save
  }
  if (!f.header_status.ok() || f.header.namespace_id != ns.entry.id) {
    const std::string why =
        f.header_status.ok() ? "header names another namespace" : f.header_status.message();
    return Quarantine(ns, seg, f, why);
  }
  if (!seg.active && f.tail == TailState::kCorrupt) {
    return Quarantine(ns, seg, f, "damaged record at offset " + std::to_string(f.scan.valid_end));
  }
  if (seg.active) {
    if (f.tail == TailState::kClean) return Status::Ok();
    return CutActive(ns, seg, f);
  }
  return CheckOrRebuildIndex(ns, seg, f);
}

Status Repairer::Namespace(const NamespaceRef& ns) {
  if (!ns.in_catalog) {
    report_->actions.push_back("left " + ns.dir + " alone: not in the CATALOG");
    return Status::Ok();
  }
  for (const auto& seg : ns.segments) TLDB_RETURN_IF_ERROR(Segment(ns, seg));
  return Status::Ok();
}

}  // namespace

Result<RepairReport> Repair(FileSystem& fs, const std::string& dir) {
  TLDB_ASSIGN_OR_RETURN(StoreLayout layout, ReadStoreLayout(fs, dir));
  auto lock = fs.Lock(LockFileName(dir));
  if (!lock.ok()) {
    return Status::Busy("cannot repair while the store is in use (" + lock.status().message() +
                        "): stop the server first");
  }
  if (!layout.catalog_status.ok()) {
    return Status::Corruption(layout.catalog_status.message() +
                              ": repair cannot rebuild a damaged CATALOG");
  }
  RepairReport report;
  Repairer r(fs, dir, &report);
  for (const auto& ns : layout.namespaces) TLDB_RETURN_IF_ERROR(r.Namespace(ns));
  TLDB_ASSIGN_OR_RETURN(report.after, Verify(fs, dir, {}));
  return report;
}

void PrintRepairReport(const RepairReport& r, bool json, std::ostream& out) {
  if (json) {
    for (const auto& a : r.actions) {
      out << JsonObject().Str("type", "action").Str("what", a).Done() << '\n';
    }
    for (const auto& u : r.unreachable) {
      out << JsonObject().Str("type", "unreachable").Str("what", u).Done() << '\n';
    }
  } else {
    if (r.actions.empty()) out << "nothing to repair\n";
    for (const auto& a : r.actions) out << "repair: " << a << '\n';
    if (r.unreachable.empty()) out << "no data became unreachable\n";
    for (const auto& u : r.unreachable) out << u << '\n';
    out << "after repair:\n";
  }
  PrintVerifyReport(r.after, json, out);
  if (!json && !r.after.sound()) {
    out << "repair could not make the store sound: the store refuses SeqId gaps, and the errors "
           "above are what the quarantined data leaves behind\n";
  }
}

}  // namespace tldb::admin
