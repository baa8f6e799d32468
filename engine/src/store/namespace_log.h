// NamespaceLog: one namespace — a small facade over its parts, which it owns and wires up:
//
//   NamespaceState     what the parts share (table, segments, rules, options) and its lock
//   TimelineReader     Get, Scan, LastSeq (RecordFetcher, TimelineRuns, TimelineRules)
//   GroupCommit        queue, leader/committer, write + fdatasync, sticky errors
//   GroupAssigner      a group's SeqIds, records and index entries (by request kind)
//   SegmentRoller      room for the next group: reserve, seal, promote
//   SegmentPreparer    pre-zeroed next segments
//   SegmentExpirer     TTL drops of whole segments
//   CompactionPlanner  which runs of sealed segments to rewrite
//   Compactor          one run's rewrite (created per run)
//   NamespaceRecovery  open (created once)
//   FrameReader        the log read back as frames (a follower's catch-up)
//   Scrubber           the background re-verification of sealed segments
//
// Contract: every public member is thread-safe. Maintenance (DropExpired, Compact) runs one pass
// at a time under maint_mu_, the scrub one step at a time under scrub_mu_. Lock order: maint_mu_,
// then GroupCommit's queue mutex (through a roll it submits, never held across it), then
// NamespaceState::mu; scrub_mu_ before NamespaceState::mu (never together with maint_mu_).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/append_request.h"
#include "store/compaction_planner.h"
#include "store/frame_reader.h"
#include "store/group_assigner.h"
#include "store/group_commit.h"
#include "store/namespace_state.h"
#include "store/scrubber.h"
#include "store/segment_expirer.h"
#include "store/segment_preparer.h"
#include "store/segment_roller.h"
#include "store/timeline_reader.h"

namespace tldb {

class NamespaceLog {
 public:
  // Opens (recovering the active segment) or creates the namespace's directory.
  static Result<std::unique_ptr<NamespaceLog>> Open(const std::string& db_dir,
                                                    const CatalogEntry& entry,
                                                    const Options& db_options,
                                                    std::shared_ptr<FileSystem> fs,
                                                    std::shared_ptr<Clock> clock);
  ~NamespaceLog();
  NamespaceLog(const NamespaceLog&) = delete;
  NamespaceLog& operator=(const NamespaceLog&) = delete;

  // Queues `r` (already validated). Blocking requests return once completed.
  void Submit(AppendRequest* r) { commit_.Submit(r); }
  // GroupCommit::committer_parked (tests).
  bool CommitterParked() const { return commit_.committer_parked(); }

  // NotFound: never existed; Deleted: recalled, trimmed, deleted or expired.
  Result<Message> Get(std::string_view key, Seq seq) { return reader_.Get(key, seq); }
  Result<std::vector<Message>> Scan(std::string_view key, const ScanOptions& o) {
    return reader_.Scan(key, o);
  }
  Result<uint32_t> ScanVisit(std::string_view key, const ScanOptions& o,
                             const std::function<void(const MessageView&)>& visit) {
    return reader_.ScanVisit(key, o, visit);
  }
  Seq LastSeq(std::string_view key) { return reader_.LastSeq(key); }

  // Makes every acknowledged append durable (ordered with appends through the group commit).
  Status Sync();

  // ---- replication (tldb/replication.h) ----
  // Where the log ends: written (visible to readers) and durable.
  LogEnds Ends() const;
  // A follower writes a frame shipped by its primary (through the group commit, alone).
  Status ApplyFrame(const LogFrame& f);
  Result<std::vector<LogFrame>> ReadFrames(LogPosition from, uint64_t bytes_max) const {
    return frames_.Read(from, bytes_max);
  }
  void SetFollower(bool follower) { st_.follower = follower; }
  void RetainLogFrom(uint64_t segment) { st_.retain_from = segment; }
  // Which timelines compaction keeps (Db::SetTimelineOwnership); null: every timeline.
  void SetOwnership(std::shared_ptr<const TimelineOwnership> owned) {
    st_.SetOwnership(std::move(owned));
  }
  // Syncs, then copies the log as of one point into `ns_dir` (Db::Snapshot, SnapshotTaker).
  Status Snapshot(const std::string& ns_dir, const std::string& rel_dir, const SnapshotOptions& o,
                  SnapshotInfo* info);
  Status Close();

  // Called (on the writing thread, must not block) after the active segment was sealed.
  void set_on_seal(std::function<void()> fn) { st_.on_seal = std::move(fn); }
  // The Db's shared cache of decompressed blocks; set right after Open, before any read.
  void set_block_cache(std::shared_ptr<BlockCache> c) { st_.block_cache = std::move(c); }
  // Makes a running compaction give up before its commit point (Db::Close).
  void AbortMaintenance() { maint_abort_ = true; }

  // Run-time options (Db::SetNamespaceOptions); the catalog is written by the caller.
  void SetOptions(const NamespaceOptions& o) { st_.SetOptions(o); }
  NamespaceOptions options() const { return st_.options(); }
  // Drops expired segments, then compacts. Adds to `total`.
  Status Compact(const CompactOptions& o, CompactionProgress* total);

  // One step of the background scrub: reads and checks at most `bytes_budget` bytes of sealed
  // segments and index files (a new pass starts when due, or at once with `force`).
  Status Scrub(uint64_t bytes_budget, bool force, ScrubStepResult* out);
  // Milliseconds until the scrub has work (0: now; INT64_MAX: off).
  int64_t ScrubDueInMs();

  const CatalogEntry& entry() const { return st_.entry; }
  Durability default_durability() const { return st_.durability(); }
  NamespaceInfo Info();
  const NamespaceCounters& counters() const { return st_.counters; }
  // Memory, and the segments quarantined by the scrub (what needs the namespace lock).
  void AddMemoryStats(DbStats* s);

  // When the next TTL drop is due, in TTL-clock ms (INT64_MAX: nothing to expire).
  TimestampMs NextExpiryMs() const { return expirer_.NextExpiryMs(); }
  // The TTL clock (docs/design.md "Time").
  TimestampMs TtlNowMs() const { return st_.TtlNowMs(); }

 private:
  NamespaceLog(const std::string& db_dir, const CatalogEntry& entry, const Options& db_options,
               std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock);
  // Seals the active segment through the write queue (ordered with appends); no-op if empty.
  Status Roll();

  NamespaceState st_;
  TimelineReader reader_;
  GroupAssigner assigner_;
  SegmentPreparer preparer_;
  SegmentRoller roller_;
  GroupCommit commit_;
  SegmentExpirer expirer_;
  CompactionPlanner planner_;
  FrameReader frames_;

  // Maintenance (TTL drops, compaction): one at a time.
  std::mutex maint_mu_;
  uint32_t next_gen_ = 1;  // generation of the next compaction output
  Status maint_sticky_;    // a compaction failed after committing: no more until reopened
  std::atomic<bool> maint_abort_{false};
  bool closed_ = false;

  std::mutex scrub_mu_;  // one scrub step at a time; guards the two below
  Scrubber scrub_;
  bool scrub_closed_ = false;
};

}  // namespace tldb
