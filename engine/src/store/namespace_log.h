// NamespaceLog: everything one namespace stores — its segments, its timelines, its group commit.
//
// Write path: appends are queued; one thread at a time (the "leader": a blocking caller, or the
// namespace's committer thread for async appends) takes a group, assigns SeqIds and timestamps,
// encodes records into the active segment's image, writes the group with one call and, if any
// request asked for kSync, one fdatasync; then it publishes the group to readers and completes
// the requests. Readers take a shared lock only while they copy records out; they are never
// blocked by the fdatasync.
//
// Errors: space is reserved before data is written (the active segment's blocks, the next
// segment, the sealed segment's index): a NoSpace while reserving fails the group with NoSpace
// and changes nothing, and a later group tries again. A failed write or sync of the log's data
// (or any other failure of a roll) makes the log read-only with that error (sticky); nothing of
// the failed group is acknowledged or becomes visible.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "index/segment_index.h"
#include "index/timeline_table.h"
#include "io/file_system.h"
#include "log/active_segment.h"
#include "log/file_names.h"
#include "log/record.h"
#include "log/segment_header.h"
#include "store/append_request.h"
#include "store/block_cache.h"
#include "store/catalog.h"
#include "store/dedupe_window.h"
#include "store/mutation_overlay.h"
#include "tldb/clock.h"
#include "tldb/db.h"

namespace tldb {

// A sealed, immutable segment: its data and index, both mapped read-only. A compaction output
// (gen > 0) stores its records in zstd blocks; offsets then address its uncompressed record
// space.
struct SealedSegment {
  uint64_t id = 0;
  uint32_t gen = 0;
  bool compressed = false;
  uint64_t checksum_id() const { return ChecksumId(id, gen); }
  // Compaction planning's cached live percentage (maint_mu_ guards these).
  uint32_t live_pct = 0;
  uint64_t live_epoch = ~uint64_t{0};
  int64_t live_mono_ms = 0;
  std::unique_ptr<MappedFile> data;
  std::unique_ptr<MappedFile> index_file;
  SegmentIndexReader index;
  uint64_t bytes = 0;  // data + index file bytes
};

struct NamespaceCounters {
  std::atomic<uint64_t> appends{0}, deduplicated{0}, groups{0}, syncs{0}, bytes_written{0};
  std::atomic<uint64_t> gets{0}, scans{0}, mutations{0};
  std::atomic<uint64_t> segments_expired{0}, compactions{0}, compaction_bytes_read{0},
      compaction_bytes_written{0};
  std::atomic<uint64_t> prezero_skipped{0};
};

class NamespaceLog {
 public:
  // Opens (recovering the active segment) or creates the namespace's directory.
  static Result<std::unique_ptr<NamespaceLog>> Open(const std::string& db_dir,
                                                    const CatalogEntry& entry,
                                                    const Options& db_options,
                                                    std::shared_ptr<FileSystem> fs,
                                                    std::shared_ptr<Clock> clock);
  ~NamespaceLog();

  // Queues `r` (already validated). Blocking requests return once completed.
  void Submit(AppendRequest* r);

  // NotFound: never existed; Deleted: recalled, trimmed, deleted or expired.
  Result<Message> Get(std::string_view key, Seq seq);
  Result<std::vector<Message>> Scan(std::string_view key, const ScanOptions& o);
  Seq LastSeq(std::string_view key);

  Status Sync();
  Status Close();

  // Called (on the writing thread, must not block) after the active segment was sealed.
  void set_on_seal(std::function<void()> fn) { on_seal_ = std::move(fn); }
  // The Db's shared cache of decompressed blocks; set right after Open, before any read.
  void set_block_cache(std::shared_ptr<BlockCache> c) { block_cache_ = std::move(c); }
  // Makes a running compaction give up before its commit point (Db::Close).
  void AbortMaintenance() { maint_abort_ = true; }

  // Run-time options (Db::SetNamespaceOptions); the catalog is written by the caller.
  void SetOptions(const NamespaceOptions& o);
  NamespaceOptions options() const;
  // Drops expired segments, then compacts (namespace_compact.cc). Adds to `total`.
  Status Compact(const CompactOptions& o, CompactionProgress* total);

  const CatalogEntry& entry() const { return entry_; }
  Durability default_durability() const { return durability_.load(); }
  NamespaceInfo Info();
  const NamespaceCounters& counters() const { return counters_; }
  void AddMemoryStats(DbStats* s);

  // ---- maintenance (namespace_ttl.cc, namespace_compact.cc) ----
  // When the next TTL drop is due, in TTL-clock ms (INT64_MAX: nothing to expire).
  TimestampMs NextExpiryMs();
  // Drops every sealed segment whose newest record is older than the TTL.
  Status DropExpired(CompactionProgress* progress);
  // The TTL clock (docs/design.md "Time"): never ahead of the wall clock and never advancing
  // faster than the monotonic clock since open.
  TimestampMs TtlNowMs() const;

 private:
  NamespaceLog(const std::string& db_dir, const CatalogEntry& entry, const Options& db_options,
               std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock);

  // ---- recovery (namespace_recovery.cc) ----
  Status Recover();
  Status LoadSealed(uint64_t id, uint32_t gen, bool has_index);
  Status RebuildIndex(const SealedSegment& seg);
  Status FoldIndex(const SealedSegment& seg);
  Status RecoverActive(uint64_t id);
  Status IndexActiveRecord(const RecordView& r, uint64_t offset, std::string* problem);
  std::string SegmentName(uint64_t id) const;
  Status ResolveCompaction(const NamespaceFiles& listing);
  Status LoadFloors();
  void ForgetOrphanEdits();
  // Rewrites FLOORS: every timeline without a record, plus `also` (timelines about to lose
  // their last records).
  Status WriteFloors(const std::vector<uint32_t>& also);
  // ---- compaction (namespace_compact.cc) ----
  uint32_t LivePercent(const SealedSegment& seg) const;
  uint32_t CachedLivePercent(SealedSegment& seg);
  std::vector<std::vector<const SealedSegment*>> PlanCompaction(bool full);
  friend class DbImpl;
  void ForgetSegment(const SealedSegment& seg);
  Status FoldMutations(const SealedSegment& seg, const std::vector<uint32_t>& timeline_of);

  // ---- write path (namespace_write.cc) ----
  void LeadUntil(AppendRequest* mine);
  void CommitterLoop();
  bool RunOneGroup();  // false when the queue was empty
  void WaitForStragglers(std::unique_lock<std::mutex>& l);
  struct Assigned {
    uint32_t timeline;
    Seq seq;              // message: its SeqId; maintenance record: the SeqId acted on
    uint8_t type = 0;     // 0: a message; else the maintenance record's format::RecordType
    uint32_t offset = 0;  // maintenance record: its offset in the active segment
  };
  void AssignGroup(std::vector<AppendRequest*>& group, std::vector<Assigned>* assigned);
  Status Assign(AppendRequest* r, std::vector<Assigned>* assigned);
  bool TryDedupe(AppendRequest* r);
  Status CheckImport(AppendRequest* r, bool* done);
  Status CheckExpected(const AppendRequest* r);
  void EncodeInto(AppendRequest* r, std::vector<Assigned>* assigned, TimestampMs ts);
  void IndexRecord(uint32_t timeline, Seq seq, uint64_t offset, TimestampMs ts,
                   std::string_view cmid);

  // ---- maintenance records (namespace_mutate.cc) ----
  Status AssignMutation(AppendRequest* r, std::vector<Assigned>* assigned);
  // Applies a recall/edit/trim record to the overlay and the timeline (run time and recovery).
  void ApplyMutation(uint32_t timeline, format::RecordType type, Seq seq, uint32_t segment,
                     uint32_t offset);
  // First SeqId of `timeline` that reads may return (trim point, messages_per_timeline_max).
  Seq FirstKept(uint32_t timeline) const;
  bool Expired(TimestampMs ts) const;
  // Makes room for a group of up to `group_bytes`: rolls to the next segment when the group
  // would not fit (or `force`), then makes sure the active segment's blocks for the group are
  // allocated. On failure *intact tells whether the log is unchanged (a NoSpace while reserving:
  // the group fails and a later one retries) or must become read-only (sticky).
  Status MakeRoom(size_t group_bytes, bool force, bool* intact);
  // Seals the active segment through the write queue (ordered with appends); no-op if empty.
  Status Roll();
  // Seals the active segment. *intact as for MakeRoom: only a NoSpace writing the index, before
  // it was renamed into place, leaves the segment active and the log writable.
  Status Seal(bool* intact);
  // Creates "<id>.seg" for recovery (a new namespace, or after a sealed last segment).
  Status CreateActive(uint64_t id);
  // The next segment, reserved before the active one is sealed: its blocks allocated (prepared
  // zeros or fallocate), its header written and synced, under a *.tmp name until promoted.
  Status ReserveNext(uint64_t id);
  // Renames the reserved next segment into place and makes it the active segment.
  Status PromoteNext();
  void DiscardNext();
  void Complete(std::vector<AppendRequest*>& group);
  void FailGroup(std::vector<AppendRequest*>& group, const Status& s);

  // ---- segment preparation (namespace_prepare.cc) ----
  void RequestPrepare(uint64_t id);
  void MaybePrepareNext(uint64_t end);
  void PreparerLoop();
  Status PrepareSegment(uint64_t id);
  // True if "<id>.seg.tmp" is fully prepared; the caller renames it into place.
  bool TakePrepared(uint64_t id);
  std::string PreparedName(uint64_t id) const;

  // ---- read path (namespace_read.cc) ----
  // Finds the record holding (timeline, seq) as stored (no deletion rules); r stays valid while
  // mu_ is held and until this thread's next read of a compressed block.
  Status LocateLocked(uint32_t timeline, Seq seq, RecordView* r);
  // The same, applying the deletion rules: Deleted for a recalled, trimmed or expired message,
  // the edit record for an edited one.
  Status LocateLive(uint32_t timeline, Seq seq, RecordView* r);
  // Decodes the record of (key, seq) at `offset` of segment `segment` (active or sealed).
  Status RecordAt(uint32_t segment, uint64_t offset, std::string_view key, Seq seq, RecordView* r);
  // Bytes from record-space offset `off` of a sealed segment to the end of its block or data.
  Status SealedBytes(const SealedSegment& seg, uint64_t off, std::span<const char>* out);
  Status DecodeAt(std::span<const char> bytes, uint64_t segment_id, uint32_t gen, uint64_t offset,
                  std::string_view key, Seq seq, RecordView* r);

  const SealedSegment* Sealed(uint32_t id) const;
  static Message ToMessage(const RecordView& r, Seq seq);

  const std::string dir_;
  const CatalogEntry entry_;
  const Options& db_options_;
  std::shared_ptr<FileSystem> fs_;
  std::shared_ptr<Clock> clock_;

  // Guarded by mu_ (shared for readers, exclusive for the leader's assign and publish steps).
  mutable std::shared_mutex mu_;
  TimelineTable table_;
  std::unique_ptr<ActiveSegment> active_;
  std::map<uint64_t, std::unique_ptr<SealedSegment>> sealed_;
  DedupeWindow dedupe_;
  uint64_t published_end_ = 0;  // readers see active records below this offset
  struct NextSegment {          // ReserveNext's result, kept until a roll promotes it
    uint64_t id = 0;            // 0: none
    bool prepared = false;      // from the preparer (zeros written ahead)
    std::string tmp_path;
    std::string header;      // written and synced at offset 0
    uint64_t allocated = 0;  // blocks [0, allocated) reserved
    std::unique_ptr<WritableFile> file;
  };
  NextSegment next_;
  MutationOverlay overlay_;

  // Run-time options (SetOptions); the hot ones are atomics.
  mutable std::mutex opt_mu_;
  NamespaceOptions opts_;
  std::atomic<uint64_t> ttl_ms_{0}, per_timeline_max_{0}, segment_bytes_max_{0};
  std::atomic<Durability> durability_{Durability::kSync};
  int64_t ttl_anchor_wall_ms_ = 0, ttl_anchor_mono_ms_ = 0;  // the TTL clock at open

  // Maintenance (TTL drops, compaction): one at a time.
  std::mutex maint_mu_;
  uint32_t next_gen_ = 1;  // generation of the next compaction output
  Status maint_sticky_;    // a compaction failed after committing: no more until reopened
  std::atomic<bool> maint_abort_{false};
  std::atomic<uint64_t> mutation_epoch_{0};  // bumped by every recall/edit/trim applied
  std::function<void()> on_seal_;
  std::shared_ptr<BlockCache> block_cache_;
  // Unique among every NamespaceLog of the process: cached blocks of another store (or of this
  // namespace before a reopen) never match.
  const uint32_t instance_id_;

  // Guarded by q_mu_.
  std::mutex q_mu_;
  std::condition_variable committer_cv_;
  std::deque<AppendRequest*> queue_;
  uint64_t pending_bytes_ = 0;
  bool leader_busy_ = false;
  bool leader_waiting_ = false;        // the leader waits in WaitForStragglers
  std::condition_variable queue_cv_;   // signalled on enqueue while leader_waiting_
  size_t last_synced_group_size_ = 0;  // leader only
  bool no_space_ = false;              // leader only: the last group failed to reserve space
  uint64_t prepare_requested_ = 0;     // leader only: highest segment id asked to prepare
  bool handoff_ = false;
  bool stopping_ = false;
  Status sticky_;  // first write/sync error; every later append fails with it
  std::thread committer_;

  // Guarded by prep_mu_.
  std::mutex prep_mu_;
  std::condition_variable prep_cv_;
  uint64_t prep_request_ = 0;  // next segment id to prepare (0: none)
  uint64_t prepared_id_ = 0;   // "<id>.seg.tmp" is complete
  uint64_t created_id_ = 0;    // highest segment id created
  bool prep_stop_ = false;
  std::thread preparer_;

  NamespaceCounters counters_;

  friend class TimelineReader;  // namespace_read.cc: walks one timeline's segments
  friend class Compactor;       // namespace_compact.cc
};

}  // namespace tldb
