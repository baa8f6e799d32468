#include "store/namespace_log.h"

#include <mutex>
#include <shared_mutex>

#include "store/compactor.h"
#include "store/namespace_recovery.h"
#include "store/snapshot_taker.h"
#include "util/kill_point.h"

namespace tldb {

NamespaceLog::NamespaceLog(const std::string& db_dir, const CatalogEntry& entry,
                           const Options& db_options, std::shared_ptr<FileSystem> fs,
                           std::shared_ptr<Clock> clock)
    : st_(db_dir, entry, db_options, std::move(fs), std::move(clock)),
      reader_(st_),
      assigner_(st_, reader_),
      preparer_(st_),
      roller_(st_, preparer_),
      commit_(st_, assigner_, roller_, preparer_),
      expirer_(st_, [this] { return Roll(); }),
      planner_(st_),
      frames_(st_),
      scrub_(st_) {}

Result<std::unique_ptr<NamespaceLog>> NamespaceLog::Open(const std::string& db_dir,
                                                         const CatalogEntry& entry,
                                                         const Options& db_options,
                                                         std::shared_ptr<FileSystem> fs,
                                                         std::shared_ptr<Clock> clock) {
  std::unique_ptr<NamespaceLog> log(
      new NamespaceLog(db_dir, entry, db_options, std::move(fs), std::move(clock)));
  NamespaceRecovery recovery(log->st_, log->roller_, log->assigner_, log->reader_);
  TLDB_RETURN_IF_ERROR(recovery.Recover());
  log->next_gen_ = recovery.next_gen();
  TLDB_RETURN_IF_ERROR(log->scrub_.Load());  // the scrub's position and quarantines
  log->commit_.Start();
  log->preparer_.Start();
  return log;
}

NamespaceLog::~NamespaceLog() {
  (void)Close();
}

Status NamespaceLog::Sync() {
  AppendRequest r;
  r.op = FlushAppend{};
  r.sync = true;
  Submit(&r);
  if (r.status.code() == Status::Code::kClosed) return Status::Ok();  // Close syncs
  return r.status;
}

LogEnds NamespaceLog::Ends() const {
  std::shared_lock l(st_.mu);
  if (!st_.active) return {};
  const uint64_t id = st_.active->id();
  return {{id, st_.published_end}, {id, std::min(st_.active->durable_end(), st_.published_end)}};
}

Status NamespaceLog::Snapshot(const std::string& ns_dir, const std::string& rel_dir,
                              const SnapshotOptions& o, SnapshotInfo* info) {
  // Every append acknowledged before the snapshot began becomes durable, so it lies below the
  // point SnapshotTaker captures (unless the caller wants the log as durable as it is).
  if (o.sync_first) TLDB_RETURN_IF_ERROR(Sync());
  return SnapshotTaker(st_).Take(ns_dir, rel_dir, o, info);
}

Status NamespaceLog::ApplyFrame(const LogFrame& f) {
  AppendRequest r;
  r.op = ReplicaAppend{&f};
  r.sync = f.sync;
  r.bytes_estimate = f.kind == FrameKind::kRecords ? f.bytes.size() : 0;
  Submit(&r);
  return r.status;
}

// A follower never rolls on its own: its segments end where the primary's do.
Status NamespaceLog::Roll() {
  if (st_.follower) return Status::Ok();
  AppendRequest r;
  r.op = RollAppend{};
  r.sync = true;
  Submit(&r);
  return r.status;
}

Status NamespaceLog::Close() {
  if (closed_) return Status::Ok();
  closed_ = true;
  {
    std::lock_guard g(scrub_mu_);  // where the scrub stands, so that it resumes there
    scrub_closed_ = true;
    if (Status p = scrub_.Persist(); !p.ok()) {
      st_.Event("namespace '" + st_.entry.name +
                "': scrub: writing its position failed: " + p.ToString());
    }
  }
  commit_.Stop();  // no leader runs from here on: this thread owns the active segment
  preparer_.Stop();
  st_.SyncIndexes();
  roller_.DiscardNext();  // a next segment reserved by a roll that failed for want of space
  if (!st_.active) return Status::Ok();
  Status s;
  ActiveSegment& a = *st_.active;
  if (a.durable_end() < a.end()) {
    TLDB_KILL_POINT("close.before_sync");
    if (commit_.sticky().ok()) s = a.file()->Sync();
    TLDB_KILL_POINT("close.after_sync");
  }
  Status c = a.file()->Close();
  TLDB_KILL_POINT("close.after_file_close");
  {
    std::unique_lock l(st_.mu);
    st_.active.reset();
  }
  return s.ok() ? c : s;
}

Status NamespaceLog::Compact(const CompactOptions& o, CompactionProgress* total) {
  if (o.full) TLDB_RETURN_IF_ERROR(Roll());  // a full compaction includes the newest records
  st_.SyncIndexes();  // what rolls left unsynced, off the append path (a roll wakes this pass)
  std::lock_guard m(maint_mu_);
  TLDB_RETURN_IF_ERROR(expirer_.DropExpired(total));
  if (o.expire_only) return Status::Ok();
  // A run that failed after its commit record left files that only a restart sorts out.
  TLDB_RETURN_IF_ERROR(maint_sticky_);
  const auto runs = planner_.Plan(o.full);
  for (const auto& r : runs) total->segments_total += r.size();
  if (o.progress) o.progress(*total);
  for (const auto& r : runs) {
    Compactor c(st_, reader_, r, st_.options(), st_.db_options.compaction_bytes_per_s, maint_abort_,
                &next_gen_, total);
    Status s = c.Run();
    if (!s.ok()) {
      if (c.committed()) {
        maint_sticky_ = s;
      } else if (Status d = c.DiscardOutput(); !d.ok()) {
        maint_sticky_ = d;  // a stale output stays on disk: no more runs until recovery
      }
      st_.Event("namespace '" + st_.entry.name + "': compaction failed: " + s.ToString());
      return s;
    }
    if (o.progress) o.progress(*total);
  }
  return Status::Ok();
}

Status NamespaceLog::Scrub(uint64_t bytes_budget, bool force, ScrubStepResult* out) {
  std::lock_guard g(scrub_mu_);
  if (scrub_closed_) return Status::Closed("namespace closed");
  return scrub_.Step(bytes_budget, force, out);
}

int64_t NamespaceLog::ScrubDueInMs() {
  std::lock_guard g(scrub_mu_);
  return scrub_.DueInMs();
}

NamespaceInfo NamespaceLog::Info() {
  NamespaceInfo info;
  info.name = st_.entry.name;
  info.id = st_.entry.id;
  info.options = st_.options();
  std::shared_lock l(st_.mu);
  info.timelines = st_.table.size();
  info.segments = st_.sealed.size() + (st_.active ? 1 : 0);
  for (const auto& [id, seg] : st_.sealed) info.bytes_on_disk += seg->bytes;
  if (st_.active) info.bytes_on_disk += st_.active->end();
  return info;
}

void NamespaceLog::AddMemoryStats(DbStats* s) {
  std::shared_lock l(st_.mu);
  s->timelines += st_.table.size();
  s->dedupe_entries += st_.dedupe.size();
  s->memory_timeline_bytes += st_.table.MemoryBytes();
  s->memory_active_index_bytes += st_.active ? st_.active->MemoryBytes() : 0;
  s->memory_dedupe_bytes += st_.dedupe.MemoryBytes() + st_.rules.overlay().MemoryBytes();
  for (const auto& [id, seg] : st_.sealed) s->scrub_segments_quarantined += seg->quarantine ? 1 : 0;
}

}  // namespace tldb
