// Db: the embeddable timeline store.
//
// Contract:
// - A Db owns one data directory (one process at a time: a LOCK file is held).
// - Timelines live in namespaces; a timeline is created by its first append. SeqIds start at 1
//   and grow by exactly 1 per message of a timeline; timestamps never go backwards in a timeline.
// - Append is acknowledged only once it is as durable as asked (Durability). Concurrent appends
//   to a namespace share one write and one fdatasync (group commit).
// - Under kSync, a reader never sees a message before it is durable.
// - After any write or fdatasync error the namespace's log refuses all further writes with that
//   same error (sticky) and nothing of the failed group is acknowledged. Reads keep working.
// - All methods are thread-safe. Async callbacks run on an engine thread and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tldb/options.h"
#include "tldb/replication.h"
#include "tldb/status.h"
#include "tldb/types.h"

namespace tldb {

struct NamespaceInfo {
  std::string name;
  uint32_t id = 0;
  NamespaceOptions options;
  uint64_t timelines = 0;
  uint64_t segments = 0;
  uint64_t bytes_on_disk = 0;
};

struct DbStats {
  uint64_t appends = 0;  // messages appended (a fan-out counts once per timeline)
  uint64_t appends_deduplicated = 0;
  uint64_t groups_committed = 0;  // group commits (writes)
  uint64_t syncs = 0;             // fdatasync calls on segments
  uint64_t bytes_written = 0;     // segment bytes written
  uint64_t gets = 0;
  uint64_t scans = 0;
  uint64_t timelines = 0;
  uint64_t dedupe_entries = 0;
  uint64_t memory_timeline_bytes = 0;  // timeline table (keys, state, segment lists)
  uint64_t memory_active_index_bytes = 0;
  uint64_t memory_dedupe_bytes = 0;
  uint64_t mutations = 0;         // recalls, edits, trims, deletes written
  uint64_t segments_expired = 0;  // segments dropped whole by TTL
  uint64_t compactions = 0;       // compaction runs committed
  uint64_t compaction_bytes_read = 0;
  uint64_t compaction_bytes_written = 0;
  // Rolls whose next segment was fallocated instead of pre-zeroed: the records before them
  // were synced less than once per 64 KiB (docs/design.md "Pre-zeroed segments").
  uint64_t prezero_skipped = 0;
  // Bytes of zeros written ahead of the records into active segments whose blocks were not
  // pre-zeroed (a namespace's first segment, the one left active at a restart, one fallocated
  // at a roll), so that their fdatasyncs overwrite written blocks (docs/design.md).
  uint64_t prezero_ahead_bytes = 0;
  // Rolls that wrote their segment's index over a file of zeros written ahead of them (an index
  // spare, from 1 MiB indexes on), whose pages were already in the page cache.
  uint64_t index_spare_rolls = 0;
  // Rolls that built their segment's index in a buffer the preparer allocated and touched
  // ahead of them, because the one kept from the last index was too small for it.
  uint64_t index_buffer_rolls = 0;
  // Bytes of active segments' records that no commit synced (buffered appends), written back to
  // the device ahead of the roll that seals them, so that its fdatasync has little left to write.
  uint64_t records_written_back_bytes = 0;
  // Rolls of active segments, and the microseconds they took: appends in flight wait for a
  // roll, so roll_us / rolls is the stall a roll adds to them (docs/design.md).
  uint64_t rolls = 0;
  uint64_t roll_us = 0;
  uint64_t block_cache_hits = 0;  // decompressed blocks found in the cache
  uint64_t block_cache_misses = 0;
  uint64_t block_cache_bytes = 0;  // the cache's budget (Options::block_cache_bytes)
  // The background scrub (docs/design.md "Scrubbing"): sealed segments re-verified, segment and
  // index bytes read for it, segments found damaged (each time the scrub finds one), passes
  // completed, and sealed segments quarantined from reads now.
  uint64_t scrub_segments_verified = 0;
  uint64_t scrub_bytes_read = 0;
  uint64_t scrub_damaged_segments = 0;
  uint64_t scrub_passes_completed = 0;
  uint64_t scrub_segments_quarantined = 0;
  std::string io_backend;  // "uring", "posix" or "sim"
  // Namespaces refused at open (Options::refuse_damaged_namespaces): name and the Corruption
  // its requests answer.
  std::vector<std::pair<std::string, std::string>> refused_namespaces;
};

// What a maintenance operation does to one timeline (docs/design.md "Recall, edit, trim").
enum class MutationKind : uint8_t {
  kRecall = 1,          // delete message `seq`; Get then answers Deleted
  kEdit = 2,            // replace the payload of message `seq`
  kTrim = 3,            // delete every message with SeqId < `seq`
  kDeleteTimeline = 4,  // delete every message with SeqId <= `seq` (0: the timeline's last)
};

struct Mutation {
  MutationKind kind = MutationKind::kRecall;
  std::string_view timeline;
  Seq seq = 0;
  std::string_view payload;  // kEdit: the new payload
  Durability durability = Durability::kDefault;
};

struct MutationResult {
  // kRecall/kEdit: the message's SeqId; kTrim: the first SeqId kept; kDeleteTimeline: the last
  // SeqId deleted (pass it back to make a retried delete remove nothing newer). Both as in
  // effect after the call: one below an earlier trim or delete answers that one's (noop).
  Seq seq = 0;
  bool noop = false;  // already in effect (a retry): nothing was written
};

struct CompactionProgress {
  uint64_t segments_total = 0;  // segments chosen for this run
  uint64_t segments_done = 0;
  uint64_t bytes_read = 0;     // input bytes (segment data)
  uint64_t bytes_written = 0;  // output bytes (compressed data + index)
  uint64_t records_kept = 0;
  uint64_t records_dropped = 0;
  uint64_t segments_expired = 0;  // dropped whole by TTL
};

struct CompactOptions {
  // Rewrite every sealed segment (merging and compressing them all), not only those below the
  // namespace's compact_live_pct.
  bool full = false;
  // Only drop the segments whose messages have all expired (TTL): rewrite nothing. What the
  // maintenance thread runs when Options::background_compaction is off.
  bool expire_only = false;
  // Called after each step (from the calling thread).
  std::function<void(const CompactionProgress&)> progress;
};

// A point-in-time copy of a data directory (Db::Snapshot, docs/design.md "Snapshots").
struct SnapshotOptions {
  // fdatasync every file written and fsync every directory of the snapshot (a backup that must
  // survive a crash). false for a snapshot that is read once and deleted (an online backup
  // served by tldb-server).
  bool sync = true;
  // Sync each namespace first, so that every append acknowledged before the snapshot began is
  // in it (a backup, a split's clone). false for a replica's rebuild (docs/replication.md
  // "Automatic rebuild"): the snapshot then ends at each namespace's durable end as it is, and
  // the rebuilt replica catches up the rest by frames. On a primary the sync is a frame that
  // commits only once a majority has it durable, so it would wait for the slowest follower it
  // needs, which during a move is the only other voter.
  bool sync_first = true;
};
struct SnapshotFile {
  std::string path;  // relative to the snapshot directory, '/'-separated ("ns/chat/...seg")
  uint64_t bytes = 0;
  // XXH3-64 of the file's bytes where the producer computed one (a rebuild's manifest,
  // docs/replication.md "Automatic rebuild"); 0 from Db::Snapshot, which does not read them.
  uint64_t xxh3 = 0;
};
struct SnapshotNamespace {
  std::string name;
  LogPosition end;  // the snapshot holds this namespace's log up to here (durable at the time)
};
struct SnapshotInfo {
  std::vector<SnapshotFile> files;  // every file of the snapshot, in the order written
  std::vector<SnapshotNamespace> namespaces;
};
// Whether `path` may name a snapshot file received from elsewhere (an online backup, a replica
// being rebuilt) under the directory it is written to: relative, '/'-separated, no empty, "."
// or ".." part, only [A-Za-z0-9._-] in each part. Every path a snapshot writes passes.
bool IsSafeSnapshotPath(std::string_view path);

// Which timelines this store keeps (docs/design.md "Ownership"). nullptr: every timeline.
using TimelineOwnership = std::function<bool(std::string_view ns, std::string_view timeline)>;

using AppendCallback = std::function<void(Result<AppendResult>)>;
using FanoutCallback = std::function<void(Result<std::vector<AppendResult>>)>;
using MutationCallback = std::function<void(Result<MutationResult>)>;

class Db {
 public:
  static Result<std::unique_ptr<Db>> Open(const std::string& dir, const Options& options);
  virtual ~Db() = default;

  // Namespaces. Creating an existing namespace with equal options is OK (idempotent); with
  // different options it is AlreadyExists.
  virtual Status CreateNamespace(std::string_view name, const NamespaceOptions& options) = 0;
  virtual Result<std::vector<NamespaceInfo>> ListNamespaces() = 0;
  virtual Result<NamespaceInfo> DescribeNamespace(std::string_view name) = 0;

  // Appends one message and blocks until it is as durable as requested.
  virtual Result<AppendResult> Append(std::string_view ns, std::string_view timeline,
                                      std::string_view payload,
                                      const AppendOptions& options = {}) = 0;
  // The same without blocking: `done` runs once, on an engine thread, after the append is as
  // durable as requested (or failed). Used by the server so that no thread waits per request.
  // The arguments are copied before AppendAsync returns; the caller may free them at once.
  virtual void AppendAsync(std::string_view ns, std::string_view timeline, std::string_view payload,
                           const AppendOptions& options, AppendCallback done) = 0;

  // Appends one payload to many timelines in one atomic record (payload stored once). After a
  // crash either every timeline has it or none has. Results are in `timelines` order. With a
  // client_msg_id, a retry returns the original SeqIds.
  virtual Result<std::vector<AppendResult>> AppendFanout(
      std::string_view ns, std::span<const std::string_view> timelines, std::string_view payload,
      const AppendOptions& options = {}) = 0;
  virtual void AppendFanoutAsync(std::string_view ns, std::span<const std::string_view> timelines,
                                 std::string_view payload, const AppendOptions& options,
                                 FanoutCallback done) = 0;

  // Restores one message with its original SeqId and timestamp (backup restore, migration,
  // moving data between servers). `m.seq` must be the timeline's last SeqId + 1, or any SeqId
  // >= 1 for a timeline that has no messages. Idempotent: a SeqId the timeline already holds with
  // the same payload and client_msg_id returns deduplicated = true and writes nothing; with other
  // content it is a Conflict.
  virtual Result<AppendResult> Import(std::string_view ns, std::string_view timeline,
                                      const Message& m, Durability durability) = 0;

  // Recall, edit, trim or delete-timeline, durable like an append and ordered with appends in
  // the namespace's log; retry-safe (a repeat is a no-op with the same result). SeqIds of other
  // messages never change and are never reused.
  virtual Result<MutationResult> Mutate(std::string_view ns, const Mutation& m) = 0;
  // The same without blocking, like AppendAsync: the arguments are copied before it returns and
  // `done` runs once on an engine thread.
  virtual void MutateAsync(std::string_view ns, const Mutation& m, MutationCallback done) = 0;
  Result<MutationResult> Recall(std::string_view ns, std::string_view timeline, Seq seq) {
    return Mutate(ns, {MutationKind::kRecall, timeline, seq, {}, Durability::kDefault});
  }
  Result<MutationResult> Edit(std::string_view ns, std::string_view timeline, Seq seq,
                              std::string_view payload) {
    return Mutate(ns, {MutationKind::kEdit, timeline, seq, payload, Durability::kDefault});
  }
  Result<MutationResult> Trim(std::string_view ns, std::string_view timeline, Seq below_seq) {
    return Mutate(ns, {MutationKind::kTrim, timeline, below_seq, {}, Durability::kDefault});
  }
  Result<MutationResult> DeleteTimeline(std::string_view ns, std::string_view timeline,
                                        Seq through_seq = 0) {
    return Mutate(ns,
                  {MutationKind::kDeleteTimeline, timeline, through_seq, {}, Durability::kDefault});
  }

  // Changes a namespace's run-time options: ttl_ms, messages_per_timeline_max,
  // compact_live_pct, compress_block_bytes, compress_level, durability. segment_bytes_max
  // applies from the next segment on.
  virtual Status SetNamespaceOptions(std::string_view ns, const NamespaceOptions& options) = 0;
  // Drops expired segments and compacts the namespace's sealed segments now (all namespaces
  // when `ns` is empty); blocks until done. Safe beside appends and reads.
  virtual Result<CompactionProgress> Compact(std::string_view ns, const CompactOptions& o) = 0;

  // One message, NotFound (never existed) or Deleted (recalled, trimmed, deleted or expired).
  virtual Result<Message> Get(std::string_view ns, std::string_view timeline, Seq seq) = 0;
  // Messages with from_seq <= seq <= to_seq in the requested direction, skipping deleted ones.
  // A backward scan with to_seq = 0 is "latest N".
  virtual Result<std::vector<Message>> Scan(std::string_view ns, std::string_view timeline,
                                            const ScanOptions& options) = 0;
  // The messages Scan returns, handed to `visit` one by one in scan order as views, without a
  // Message (and its two strings) built for each: for a caller that copies them out at once, as
  // a server encoding its answer does. Returns how many were visited. `visit` runs while the
  // namespace's readers hold its read lock: it must be short and must not call into the Db.
  // After an error `visit` may have seen some messages already; the caller drops them. The
  // default builds the messages with Scan (a Db that wraps another keeps its checks); the
  // engine's own Db reads each record straight into `visit`.
  using MessageVisitor = std::function<void(const MessageView&)>;
  virtual Result<uint32_t> ScanVisit(std::string_view ns, std::string_view timeline,
                                     const ScanOptions& options, const MessageVisitor& visit) {
    Result<std::vector<Message>> msgs = Scan(ns, timeline, options);
    if (!msgs.ok()) return msgs.status();
    for (const Message& m : *msgs) {
      visit(MessageView{m.seq, m.timestamp_ms, m.client_msg_id, m.payload});
    }
    return static_cast<uint32_t>(msgs->size());
  }
  // Last visible SeqId per timeline (0 for a timeline that does not exist), from memory. It is
  // the highest SeqId ever assigned and published, also when that message was recalled, trimmed,
  // deleted or expired since (a sync client's high-water mark; the next append gets LastSeq+1).
  // Never goes down.
  virtual Result<std::vector<Seq>> LastSeq(std::string_view ns,
                                           std::span<const std::string_view> timelines) = 0;

  // ---- Replication (tldb/replication.h, docs/replication.md "Log shipping") ----
  // Where namespace `ns`'s log ends: written (visible) and durable.
  virtual Result<LogEnds> LogEnd(std::string_view ns) = 0;
  // A follower writes `frame`, shipped by its primary, at the same position (fdatasync'ed when
  // frame.sync) and makes its records visible. InvalidArgument when the frame does not start
  // at LogEnd (nothing is written); a frame whose records do not decode is refused, and one
  // that does not continue its timelines makes the log refuse writes (sticky).
  virtual Status ApplyFrame(std::string_view ns, const LogFrame& frame) = 0;
  // The log from `from` as frames of whole records (about bytes_max in all). NotFound when
  // `from` lies in a segment compaction rewrote or TTL dropped (a snapshot is needed).
  virtual Result<std::vector<LogFrame>> ReadFrames(std::string_view ns, LogPosition from,
                                                   uint64_t bytes_max) = 0;
  // Follower mode: appends, fan-outs, imports and mutations are refused with NotPrimary,
  // ApplyFrame is accepted, and the log never rolls on its own (TTL and compaction of sealed
  // segments go on). Primary (false): the reverse.
  virtual void SetFollower(bool follower) = 0;
  // Compaction and TTL leave namespace `ns`'s segments from `segment` on as written, so that
  // ReadFrames can still serve them to a follower that is behind. UINT64_MAX (the default): no
  // hold. Whole segments are held; the active one is never rewritten anyway.
  virtual void RetainLogFrom(std::string_view ns, uint64_t segment) = 0;
  // Cuts namespace `ns`'s log of the Db in `dir` (not open) back to `end`: later segments are
  // deleted and segment end.segment becomes the active one, ending at end.offset. For a
  // replica whose tail its new primary never had (docs/replication.md "Fencing").
  static Status TruncateLog(const std::string& dir, const Options& options, std::string_view ns,
                            LogPosition end);

  // ---- Ownership (docs/design.md "Ownership": a partition split leaves two stores that each
  // hold the other's timelines too) ----
  // Compaction (background and Compact) treats every record of a timeline for which
  // owned(ns, timeline) is false as dead: it is not copied into the output, and the planner
  // counts it as garbage, so segments holding disowned timelines get rewritten. Once a timeline
  // has no record left in any segment, its in-memory entry is freed (its memory serves the
  // timelines created later). Every namespace is judged, "__" ones included. Cheap: nothing is
  // scanned here; it takes effect from the next compaction run (a run under way finishes with
  // the ownership it started with). `owned` is called from compaction threads, concurrently and
  // without any engine lock held: it must be thread-safe, fast, must not block and must not
  // call into this Db. Not persisted: after every Open the caller sets it again (until then
  // every timeline is kept). The engine does not route: reads and writes of a disowned timeline
  // are the caller's to send elsewhere. They stay safe (answering what is left, or NotFound),
  // but what compaction dropped is gone, and a timeline freed whole restarts at SeqId 1 if it
  // is appended to again: disown only timelines whose writes have moved elsewhere.
  virtual void SetTimelineOwnership(TimelineOwnership owned) = 0;

  // Makes a consistent point-in-time copy of the data directory in `target_dir` (created; it
  // must not exist), while appends and reads go on: the catalog, and per namespace hard links of
  // its sealed segments and their index files, its FLOORS, and the active segment's bytes up to
  // its durable end (copied). Every append acknowledged before the call is in the copy (each
  // namespace is synced first); each namespace's copy ends at one point of its log (a record
  // boundary), the same for all its timelines. Opened as a data directory, it holds exactly the
  // messages, mutations and floors of those points. Hard links need `target_dir` on the same
  // file system (files are copied otherwise). Compaction and TTL may run meanwhile: a file they
  // remove before it is linked makes the namespace start over (at most 16 times, then Busy).
  // Nothing is copied or synced under a lock appends or reads take.
  virtual Result<SnapshotInfo> Snapshot(const std::string& target_dir,
                                        const SnapshotOptions& options) = 0;

  // Makes every acknowledged buffered append durable.
  virtual Status Sync() = 0;
  virtual DbStats Stats() = 0;
  // Finishes pending appends, syncs, seals nothing, releases the directory. Idempotent; the
  // destructor calls it.
  virtual Status Close() = 0;
};

}  // namespace tldb
