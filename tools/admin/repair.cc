#include "repair.h"

#include <algorithm>
#include <map>
#include <set>

#include "data_dir.h"
#include "index/index_check.h"
#include "index/index_model.h"
#include "json_text.h"
#include "live_model.h"
#include "log/file_names.h"
#include "log/segment_file.h"
#include "store/floors.h"

namespace tldb::admin {
namespace {

// "3..5, 9, 12..20": the SeqIds of a sorted set as ranges.
std::string FormatRanges(const std::set<Seq>& seqs) {
  std::string out;
  for (auto it = seqs.begin(); it != seqs.end();) {
    const Seq lo = *it;
    Seq hi = lo;
    for (++it; it != seqs.end() && *it == hi + 1; ++it) hi = *it;
    if (!out.empty()) out += ", ";
    out += std::to_string(lo);
    if (hi != lo) out += ".." + std::to_string(hi);
  }
  return out;
}

// What some lost bytes held: per timeline the SeqIds of its messages (and their newest
// timestamp), and the maintenance records.
struct LostData {
  struct Timeline {
    std::set<Seq> seqs;
    TimestampMs last_ts = 0;
  };
  std::map<std::string, Timeline> timelines;
  std::vector<std::string> maintenance;  // "recall of timeline 'x' seq 5"
  uint64_t messages = 0;

  void Message(std::string_view key, Seq seq, TimestampMs ts) {
    Timeline& t = timelines[std::string(key)];
    messages += t.seqs.insert(seq).second ? 1 : 0;
    t.last_ts = std::max(t.last_ts, ts);
  }
  void Maintenance(format::RecordType type, std::string_view key, Seq seq) {
    const std::string who = "timeline '" + std::string(key) + "' seq " + std::to_string(seq);
    switch (type) {
      case format::RecordType::kRecall:
        maintenance.push_back("recall of " + who +
                              " (that message is served again if it is "
                              "still stored elsewhere)");
        break;
      case format::RecordType::kEdit:
        maintenance.push_back("edit of " + who +
                              " (that message shows its previous payload, or "
                              "an older edit's, if it is still stored elsewhere)");
        break;
      default:
        maintenance.push_back("trim of timeline '" + std::string(key) + "' below seq " +
                              std::to_string(seq) +
                              " (messages below it still stored elsewhere are served again)");
        break;
    }
  }
  void Record(const RecordView& r) {
    if (IsMaintenance(r.type)) return Maintenance(r.type, r.key, r.seq);
    ForEachMessage(r, [&](std::string_view key, Seq seq) { Message(key, seq, r.timestamp_ms); });
  }
  // From a valid index: exactly the SeqIds the segment held (also those in damaged blocks).
  void FromIndex(const SegmentIndexReader& idx) {
    for (uint32_t i = 0; i < idx.timeline_count(); ++i) {
      const IndexEntry e = idx.Entry(i);
      for (uint32_t k = 0; k < e.count; ++k) {
        if (idx.Offset(e, k) != index_format::kGapOffset)
          Message(e.key, e.first_seq + k, e.last_ts);
      }
    }
    for (uint32_t i = 0; i < idx.mutation_count(); ++i) {
      const IndexMutation m = idx.Mutation(i);
      Maintenance(static_cast<format::RecordType>(m.type), idx.Entry(m.entry).key, m.seq);
    }
  }

  // One line per timeline with its unreachable SeqId ranges; SeqIds that reads already
  // answered Deleted for (recalled, trimmed, expired) are counted apart.
  void Describe(const std::string& where, const LiveModel* live,
                std::vector<std::string>* out) const {
    out->push_back(where + ": " + std::to_string(messages) + " messages in " +
                   std::to_string(timelines.size()) + " timelines, " +
                   std::to_string(maintenance.size()) + " recall/edit/trim records");
    for (const auto& [key, t] : timelines) {
      std::set<Seq> reachable, deleted;
      for (Seq s : t.seqs) {
        const bool gone = live != nullptr &&
                          live->Judge(key, s, t.last_ts, nullptr) == LiveModel::State::kDeleted;
        (gone ? deleted : reachable).insert(s);
      }
      std::string line = "  timeline '" + key + "' seq ";
      line += reachable.empty() ? std::string("none") : FormatRanges(reachable);
      if (!deleted.empty()) {
        line += " (and already deleted: " + FormatRanges(deleted) + ")";
      }
      out->push_back(line);
    }
    for (const auto& m : maintenance) out->push_back("  lost maintenance record: " + m);
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
  Status KeepLastSeqs(const NamespaceRef& before);

  FileSystem& fs_;
  const std::string& dir_;
  RepairReport* report_;
  std::unique_ptr<LiveModel> live_;  // the namespace before the repair
  LostData lost_;                    // durable data of the namespace made unreachable
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
  LostData lost;
  bool exact = false;
  if (seg.has_index) {
    TLDB_ASSIGN_OR_RETURN(auto idx, IndexFile::Load(fs_, seg.index_path, ns.entry.id, seg.id));
    if (idx->status().ok()) {
      lost.FromIndex(idx->reader());
      exact = true;
    }
  }
  if (!exact) {
    f.ForEachRecordFromAny(format::kSegmentHeaderBytes,
                           [&](uint64_t, const RecordView& r) { lost.Record(r); });
  }
  for (const auto& [key, t] : lost.timelines) {
    for (Seq s : t.seqs) lost_.Message(key, s, t.last_ts);
  }
  for (const std::string* p : {&seg.path, &seg.index_path}) {
    if (p == &seg.index_path && !seg.has_index) continue;
    TLDB_ASSIGN_OR_RETURN(std::string to, QuarantinePath(ns.name, BaseName(*p)));
    TLDB_RETURN_IF_ERROR(fs_.Rename(*p, to));
    report_->actions.push_back("moved " + *p + " to " + to + " (" + why + ")");
  }
  TLDB_RETURN_IF_ERROR(fs_.SyncDir(dir_ + "/quarantine/" + ns.name));
  TLDB_RETURN_IF_ERROR(fs_.SyncDir(ns.dir));
  lost.Describe("unreachable: quarantined " + seg.path +
                    (exact ? " (SeqIds from its index)"
                           : " (no valid index: only the records that still decode are listed)"),
                live_.get(), &report_->unreachable);
  return Status::Ok();
}

Status Repairer::CutActive(const NamespaceRef& ns, const SegmentRef& seg,
                           const SegmentFile& damaged) {
  const SegmentFile* fp = &damaged;
  SegmentFile spliced;
  if (damaged.tail == TailState::kCorrupt) {
    TLDB_ASSIGN_OR_RETURN(std::string to, QuarantinePath(ns.name, BaseName(seg.path)));
    TLDB_ASSIGN_OR_RETURN(auto copy, fs_.OpenWritable(to, /*create=*/true, /*exclusive=*/true));
    TLDB_RETURN_IF_ERROR(copy->Write(0, damaged.image));
    TLDB_RETURN_IF_ERROR(copy->Sync());
    TLDB_RETURN_IF_ERROR(copy->Close());
    TLDB_RETURN_IF_ERROR(fs_.SyncDir(DirName(to)));
    report_->actions.push_back("copied " + seg.path + " to " + to + " before repairing it");
    // Bytes inserted before the durable point: removed, as Options::salvage does, so every
    // record after them verifies again (log/segment_scan.h FindInsertion).
    uint64_t at = 0, bytes = 0;
    if (FindInsertion(damaged.image, damaged.id, damaged.scan, &at, &bytes)) {
      std::string image = damaged.image;
      image.erase(at, bytes);
      TLDB_ASSIGN_OR_RETURN(auto file, fs_.OpenWritable(seg.path, /*create=*/false, false));
      TLDB_RETURN_IF_ERROR(file->Write(at, {image.data() + at, image.size() - at}));
      TLDB_RETURN_IF_ERROR(file->Truncate(image.size()));
      TLDB_RETURN_IF_ERROR(file->Sync());
      TLDB_RETURN_IF_ERROR(file->Close());
      report_->actions.push_back("removed " + std::to_string(bytes) + " bytes inserted at " +
                                 seg.path + " offset " + std::to_string(at) + " (" +
                                 std::to_string(damaged.scan.resynced) +
                                 " records after them verify again)");
      TLDB_ASSIGN_OR_RETURN(spliced, LoadSegmentFile(fs_, seg.path, seg.id, false, seg.gen));
      if (spliced.tail == TailState::kClean) return Status::Ok();
      fp = &spliced;
    }
  }
  const SegmentFile& f = *fp;
  const uint64_t cut = f.scan.valid_end;
  LostData lost;
  f.ForEachRecordFromAny(cut + 1, [&](uint64_t, const RecordView& r) { lost.Record(r); });
  TLDB_ASSIGN_OR_RETURN(auto file, fs_.OpenWritable(seg.path, /*create=*/false, false));
  TLDB_RETURN_IF_ERROR(file->Truncate(cut));
  TLDB_RETURN_IF_ERROR(file->Sync());
  TLDB_RETURN_IF_ERROR(file->Close());
  const std::string bytes = std::to_string(f.image.size() - cut);
  if (f.tail == TailState::kTornTail) {
    report_->actions.push_back("cut torn tail of " + seg.path + " at offset " +
                               std::to_string(cut) + " (" + bytes + " bytes, never durable)");
    if (lost.messages > 0) {
      lost.Describe("not acknowledged, cut with the torn tail of " + seg.path, nullptr,
                    &report_->unreachable);
    }
    return Status::Ok();
  }
  for (const auto& [key, t] : lost.timelines) {
    for (Seq s : t.seqs) lost_.Message(key, s, t.last_ts);
  }
  report_->actions.push_back("cut damaged active segment " + seg.path + " at offset " +
                             std::to_string(cut) + " (" + bytes + " bytes)");
  report_->unreachable.push_back("unreachable: " + seg.path + " bytes " + std::to_string(cut) +
                                 ".." + std::to_string(f.image.size()) + " (damaged)");
  lost.Describe("unreachable: valid records after the damage in " + seg.path, live_.get(),
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
  if (!model.disorder.empty()) {
    report_->actions.push_back(
        "could not rebuild " + seg.index_path + ": timeline '" + model.disorder.front().key +
        "' has seq " + std::to_string(model.disorder.front().found) + " twice in the segment");
    return Status::Ok();
  }
  TLDB_RETURN_IF_ERROR(
      fs_.WriteFileAtomic(seg.index_path, SerializeIndex(model, ns.entry.id, seg.id)));
  report_->actions.push_back("rebuilt " + seg.index_path + " (" + why + ")");
  return Status::Ok();
}

Status Repairer::Segment(const NamespaceRef& ns, const SegmentRef& seg) {
  TLDB_ASSIGN_OR_RETURN(SegmentFile f,
                        LoadSegmentFile(fs_, seg.path, seg.id, !seg.active, seg.gen));
  if (seg.active && f.NeverDurable()) {
    return Status::Ok();  // never became durable: the store recreates it, nothing to save
  }
  if (!f.header_status.ok() || f.header.namespace_id != ns.entry.id) {
    const std::string why =
        f.header_status.ok() ? "header names another namespace" : f.header_status.message();
    return Quarantine(ns, seg, f, why);
  }
  if (!seg.active && f.tail == TailState::kCorrupt) {
    return Quarantine(ns, seg, f,
                      f.compressed
                          ? "damaged block at file offset " + std::to_string(f.damage_file_offset)
                          : "damaged record at offset " + std::to_string(f.scan.valid_end));
  }
  if (seg.active) {
    if (f.tail == TailState::kClean) return Status::Ok();
    return CutActive(ns, seg, f);
  }
  return CheckOrRebuildIndex(ns, seg, f);
}

// The newest SeqId each timeline still has in the namespace's files (messages, and trims,
// which prove the SeqIds below them were used), and whether the active segment holds any of its
// messages.
struct Remaining {
  Seq last = 0;
  bool in_active = false;
};

Status CollectRemaining(FileSystem& fs, const NamespaceRef& ns,
                        std::map<std::string, Remaining, std::less<>>* out) {
  for (const SegmentRef& seg : ns.segments) {
    TLDB_ASSIGN_OR_RETURN(SegmentFile f,
                          LoadSegmentFile(fs, seg.path, seg.id, !seg.active, seg.gen));
    f.ForEachRecord([&](uint64_t, const RecordView& r) {
      if (r.type == format::RecordType::kTrim && r.seq > 0) {
        Remaining& x = (*out)[std::string(r.key)];
        x.last = std::max(x.last, r.seq - 1);
      }
      ForEachMessage(r, [&](std::string_view key, Seq seq) {
        Remaining& x = (*out)[std::string(key)];
        x.last = std::max(x.last, seq);
        x.in_active |= seg.active;
      });
    });
  }
  return Status::Ok();
}

// SeqIds are never reused: a timeline that lost its newest durable records keeps its last SeqId
// in FLOORS (the engine's own file and codec), which the engine applies after loading the
// segments, so appends after the repair continue above it. The engine ignores the floor of a
// timeline that has messages in the active segment (they are newer than any floor it writes
// itself); such a timeline is reported instead.
Status Repairer::KeepLastSeqs(const NamespaceRef& before) {
  if (lost_.timelines.empty()) return Status::Ok();
  NamespaceRef now;
  now.name = before.name;
  now.dir = before.dir;
  now.entry = before.entry;
  now.in_catalog = before.in_catalog;
  TLDB_RETURN_IF_ERROR(ListNamespaceDir(fs_, &now));
  if (!now.floors_status.ok()) {
    report_->unreachable.push_back("cannot keep the last SeqIds of " + now.name + ": " +
                                   now.floors_status.message());
    return Status::Ok();
  }
  std::map<std::string, Remaining, std::less<>> remaining;
  TLDB_RETURN_IF_ERROR(CollectRemaining(fs_, now, &remaining));
  std::vector<Floor> floors = now.floors;
  auto floor_of = [&](const std::string& key) -> Floor* {
    for (Floor& f : floors) {
      if (f.key == key) return &f;
    }
    return nullptr;
  };
  bool changed = false;
  for (const auto& [key, t] : lost_.timelines) {
    const Seq lost_last = *t.seqs.rbegin();
    const Remaining r = remaining.count(key) != 0 ? remaining[key] : Remaining{};
    Floor* existing = floor_of(key);
    const Seq kept = std::max(r.last, existing != nullptr ? existing->last_seq : 0);
    if (kept >= lost_last) continue;  // later SeqIds already keep it
    if (r.in_active) {
      report_->unreachable.push_back(
          "timeline '" + key + "' lost SeqIds up to " + std::to_string(lost_last) +
          " but its newest message left is seq " + std::to_string(r.last) +
          " in the active segment, where the engine ignores FLOORS: its next appends will "
          "reuse seq " +
          std::to_string(r.last + 1) + ".." + std::to_string(lost_last));
      continue;
    }
    if (existing != nullptr) {
      existing->last_seq = lost_last;
      existing->last_ts = std::max(existing->last_ts, t.last_ts);
    } else {
      floors.push_back({key, lost_last, t.last_ts});
    }
    changed = true;
    report_->actions.push_back("FLOORS of " + now.name + ": timeline '" + key + "' last seq " +
                               std::to_string(lost_last) + " (its newest stored seq is now " +
                               std::to_string(r.last) + "; its SeqIds continue above the floor)");
  }
  if (!changed) return Status::Ok();
  return fs_.WriteFileAtomic(FloorsFileName(now.dir), EncodeFloors(floors));
}

Status Repairer::Namespace(const NamespaceRef& ns) {
  if (!ns.in_catalog) {
    report_->actions.push_back("left " + ns.dir + " alone: not in the CATALOG");
    return Status::Ok();
  }
  for (const auto& t : ns.orphan_indexes) {
    if (!ShadowsOutput(ns, t)) continue;
    TLDB_ASSIGN_OR_RETURN(std::string to, QuarantinePath(ns.name, BaseName(t)));
    TLDB_RETURN_IF_ERROR(fs_.Rename(t, to));
    TLDB_RETURN_IF_ERROR(fs_.SyncDir(ns.dir));
    report_->actions.push_back("moved " + t + " to " + to +
                               " (a stray index that would make the engine delete the "
                               "compaction output of the same id)");
    // The output is live again: list the namespace anew.
    NamespaceRef again;
    again.name = ns.name;
    again.dir = ns.dir;
    again.in_catalog = ns.in_catalog;
    again.entry = ns.entry;
    TLDB_RETURN_IF_ERROR(ListNamespaceDir(fs_, &again));
    return Namespace(again);
  }
  lost_ = LostData{};
  auto live = BuildLiveModel(fs_, ns, WallClockMs(), /*from_data=*/false);
  live_ = live.ok() ? std::make_unique<LiveModel>(std::move(live).value()) : nullptr;
  for (const auto& seg : ns.segments) TLDB_RETURN_IF_ERROR(Segment(ns, seg));
  return KeepLastSeqs(ns);
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
    out << "repair could not make the store sound: the errors above remain\n";
  }
}

}  // namespace tldb::admin
