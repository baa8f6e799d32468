// NamespaceLog: everything one namespace stores — its segments, its timelines, its group commit.
//
// Write path: appends are queued; one thread at a time (the "leader": a blocking caller, or the
// namespace's committer thread for async appends) takes a group, assigns SeqIds and timestamps,
// encodes records into the active segment's image, writes the group with one call and, if any
// request asked for kSync, one fdatasync; then it publishes the group to readers and completes
// the requests. Readers take a shared lock only while they copy records out; they are never
// blocked by the fdatasync.
//
// Errors: a failed write or sync makes the log read-only with that error (sticky); nothing of
// the failed group is acknowledged or becomes visible.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
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
#include "log/record.h"
#include "store/append_request.h"
#include "store/catalog.h"
#include "store/dedupe_window.h"
#include "tldb/clock.h"
#include "tldb/db.h"

namespace tldb {

// A sealed, immutable segment: its data and index, both mapped read-only.
struct SealedSegment {
  uint64_t id = 0;
  std::unique_ptr<MappedFile> data;
  std::unique_ptr<MappedFile> index_file;
  SegmentIndexReader index;
  uint64_t bytes = 0;  // data + index file bytes
};

struct NamespaceCounters {
  std::atomic<uint64_t> appends{0}, deduplicated{0}, groups{0}, syncs{0}, bytes_written{0};
  std::atomic<uint64_t> gets{0}, scans{0};
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

  Result<Message> Get(std::string_view key, Seq seq);
  Result<std::vector<Message>> Scan(std::string_view key, const ScanOptions& o);
  Seq LastSeq(std::string_view key);

  Status Sync();
  Status Close();

  const CatalogEntry& entry() const { return entry_; }
  NamespaceInfo Info();
  const NamespaceCounters& counters() const { return counters_; }
  void AddMemoryStats(DbStats* s);

 private:
  NamespaceLog(const std::string& db_dir, const CatalogEntry& entry, const Options& db_options,
               std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock);

  // ---- recovery (namespace_recovery.cc) ----
  Status Recover();
  Status LoadSealed(uint64_t id, bool has_index);
  Status RebuildIndex(uint64_t id);
  Status FoldIndex(const SealedSegment& seg);
  Status RecoverActive(uint64_t id);
  Status IndexActiveRecord(const RecordView& r, uint64_t offset, std::string* problem);
  Status CreateActive(uint64_t id);
  std::string SegmentName(uint64_t id) const;

  // ---- write path (namespace_write.cc) ----
  void LeadUntil(AppendRequest* mine);
  void CommitterLoop();
  bool RunOneGroup();  // false when the queue was empty
  void WaitForStragglers(std::unique_lock<std::mutex>& l);
  struct Assigned {
    uint32_t timeline;
    Seq seq;
  };
  void AssignGroup(std::vector<AppendRequest*>& group, std::vector<Assigned>* assigned);
  Status Assign(AppendRequest* r, std::vector<Assigned>* assigned);
  bool TryDedupe(AppendRequest* r);
  Status CheckImport(AppendRequest* r, bool* done);
  Status CheckExpected(const AppendRequest* r);
  void EncodeInto(AppendRequest* r, std::vector<Assigned>* assigned, TimestampMs ts);
  void IndexRecord(uint32_t timeline, Seq seq, uint64_t offset, TimestampMs ts,
                   std::string_view cmid);
  Status MaybeRoll(size_t group_bytes);
  Status Seal();
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
  // Finds the record holding (timeline, seq); r stays valid while mu_ is held.
  Status LocateLocked(uint32_t timeline, Seq seq, RecordView* r);
  Status DecodeAt(std::span<const char> bytes, uint64_t segment_id, uint64_t offset,
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

  // Guarded by q_mu_.
  std::mutex q_mu_;
  std::condition_variable committer_cv_;
  std::deque<AppendRequest*> queue_;
  uint64_t pending_bytes_ = 0;
  bool leader_busy_ = false;
  bool leader_waiting_ = false;        // the leader waits in WaitForStragglers
  std::condition_variable queue_cv_;   // signalled on enqueue while leader_waiting_
  size_t last_synced_group_size_ = 0;  // leader only
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
};

}  // namespace tldb
