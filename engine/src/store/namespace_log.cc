// NamespaceLog lifecycle: open, sync, close, info.
#include "store/namespace_log.h"

#include <algorithm>

#include "log/file_names.h"
#include "util/kill_point.h"

namespace tldb {
namespace {
uint32_t NextInstanceId() {
  static std::atomic<uint32_t> next{1};
  return next.fetch_add(1);
}
}  // namespace

NamespaceLog::NamespaceLog(const std::string& db_dir, const CatalogEntry& entry,
                           const Options& db_options, std::shared_ptr<FileSystem> fs,
                           std::shared_ptr<Clock> clock)
    : dir_(NamespaceDirName(db_dir, entry.name)),
      entry_(entry),
      db_options_(db_options),
      fs_(std::move(fs)),
      clock_(std::move(clock)),
      dedupe_(db_options.dedupe_entries_max),
      instance_id_(NextInstanceId()) {
  SetOptions(entry.options);
  ttl_anchor_wall_ms_ = clock_->NowMs();
  ttl_anchor_mono_ms_ = clock_->MonoMs();
}

void NamespaceLog::SetOptions(const NamespaceOptions& o) {
  std::lock_guard l(opt_mu_);
  opts_ = o;
  ttl_ms_ = o.ttl_ms;
  per_timeline_max_ = o.messages_per_timeline_max;
  segment_bytes_max_ = o.segment_bytes_max;
  durability_ = o.durability;
}

NamespaceOptions NamespaceLog::options() const {
  std::lock_guard l(opt_mu_);
  return opts_;
}

TimestampMs NamespaceLog::TtlNowMs() const {
  const int64_t elapsed = clock_->MonoMs() - ttl_anchor_mono_ms_;
  return std::min<TimestampMs>(clock_->NowMs(),
                               ttl_anchor_wall_ms_ + std::max<int64_t>(elapsed, 0));
}

bool NamespaceLog::Expired(TimestampMs ts) const {
  const uint64_t ttl = ttl_ms_.load(std::memory_order_relaxed);
  return ttl != 0 && ts < TtlNowMs() - static_cast<int64_t>(ttl);
}

Result<std::unique_ptr<NamespaceLog>> NamespaceLog::Open(const std::string& db_dir,
                                                         const CatalogEntry& entry,
                                                         const Options& db_options,
                                                         std::shared_ptr<FileSystem> fs,
                                                         std::shared_ptr<Clock> clock) {
  std::unique_ptr<NamespaceLog> log(
      new NamespaceLog(db_dir, entry, db_options, std::move(fs), std::move(clock)));
  TLDB_RETURN_IF_ERROR(log->Recover());
  log->committer_ = std::thread([p = log.get()] { p->CommitterLoop(); });
  if (db_options.prezero == Options::Prezero::kBackground) {
    log->preparer_ = std::thread([p = log.get()] { p->PreparerLoop(); });
  }
  return log;
}

NamespaceLog::~NamespaceLog() {
  (void)Close();
}

std::string NamespaceLog::SegmentName(uint64_t id) const {
  return SegmentFileName(dir_, id);
}

Seq NamespaceLog::FirstKept(uint32_t timeline) const {
  Seq first = overlay_.TrimmedBelow(timeline);
  const uint64_t max = per_timeline_max_.load(std::memory_order_relaxed);
  const Seq visible = table_.state(timeline).visible_seq();
  if (max != 0 && visible > max) first = std::max<Seq>(first, visible - max + 1);
  return first;
}

Status NamespaceLog::Sync() {
  // A sync-durability empty request would need a timeline; instead sync the file directly
  // while holding the leader role so no group is mid-write.
  for (;;) {
    std::unique_lock l(q_mu_);
    if (!sticky_.ok()) return sticky_;
    if (!leader_busy_) {
      leader_busy_ = true;
      break;
    }
    l.unlock();
    std::this_thread::yield();
  }
  Status s;
  {
    std::unique_lock l(mu_);
    if (active_ && active_->durable_end() < active_->end()) {
      s = active_->file()->Sync();
      counters_.syncs++;
      active_->NoteSync();
      if (s.ok()) active_->set_durable_end(active_->end());
    }
  }
  std::lock_guard l(q_mu_);
  if (!s.ok() && sticky_.ok()) sticky_ = s;
  if (queue_.empty()) {
    leader_busy_ = false;
  } else {
    handoff_ = true;
    committer_cv_.notify_one();
  }
  return s;
}

Status NamespaceLog::Close() {
  {
    std::lock_guard l(q_mu_);
    if (stopping_ && !committer_.joinable()) return Status::Ok();
    stopping_ = true;
    committer_cv_.notify_all();
  }
  if (committer_.joinable()) committer_.join();
  {
    std::lock_guard p(prep_mu_);
    prep_stop_ = true;
    prep_cv_.notify_all();
  }
  if (preparer_.joinable()) preparer_.join();
  // Wait for a blocking leader that may still be running.
  for (;;) {
    std::unique_lock l(q_mu_);
    if (!leader_busy_ && queue_.empty()) break;
    l.unlock();
    std::this_thread::yield();
  }
  std::unique_lock l(mu_);
  DiscardNext();  // a next segment reserved by a roll that failed for want of space
  if (!active_) return Status::Ok();
  Status s;
  if (active_->durable_end() < active_->end()) {
    std::lock_guard q(q_mu_);
    TLDB_KILL_POINT("close.before_sync");
    if (sticky_.ok()) s = active_->file()->Sync();
    TLDB_KILL_POINT("close.after_sync");
  }
  Status c = active_->file()->Close();
  TLDB_KILL_POINT("close.after_file_close");
  active_.reset();
  return s.ok() ? c : s;
}

NamespaceInfo NamespaceLog::Info() {
  NamespaceInfo info;
  info.name = entry_.name;
  info.id = entry_.id;
  info.options = options();
  std::shared_lock l(mu_);
  info.timelines = table_.size();
  info.segments = sealed_.size() + (active_ ? 1 : 0);
  for (const auto& [id, seg] : sealed_) info.bytes_on_disk += seg->bytes;
  if (active_) info.bytes_on_disk += active_->end();
  return info;
}

void NamespaceLog::AddMemoryStats(DbStats* s) {
  std::shared_lock l(mu_);
  s->timelines += table_.size();
  s->dedupe_entries += dedupe_.size();
  s->memory_timeline_bytes += table_.MemoryBytes();
  s->memory_active_index_bytes += active_ ? active_->MemoryBytes() : 0;
  s->memory_dedupe_bytes += dedupe_.MemoryBytes() + overlay_.MemoryBytes();
}

}  // namespace tldb
