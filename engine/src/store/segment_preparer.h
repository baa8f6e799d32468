// SegmentPreparer: writes segment blocks as zeros (fdatasync'ed) ahead of the records, so that
// group-commit fdatasyncs overwrite written blocks instead of extending the file or converting
// fallocated extents (ext4 must journal both), and does the other work a roll would otherwise
// wait for (docs/design.md "Pre-zeroed segments"):
//
// - The next segment, as "<id>.seg.tmp", once the active one is half full: created, its header
//   written, its blocks written as zeros (records synced densely) or else fallocated, synced.
//   When the active segment rolls, SegmentRoller takes the prepared file (TakePrepared) and
//   renames it into place; otherwise it creates one itself, whose header's fdatasync (a journal
//   commit) took 40-50 ms beside buffered appends here. A preparation that loses the race with
//   a roll is discarded; one left over by a crash is a *.tmp file, deleted at open.
// - Zeros ahead of the active segment's records, where its blocks were not prepared: the first
//   segment of a namespace (SegmentRoller::CreateActive writes the first kZeroChunkBytes), the
//   segment left active at a restart, one fallocated at a roll. Written in chunks, through a
//   file handle of its own (a failed fdatasync of zeros then cannot hide a write error from the
//   leader's next fdatasync), never below the leader's write point: the leader fences the range
//   its next group may write (FenceZeros) before writing it, and a roll stops the zeroing before
//   it seals the segment (StopZeroing).
//
// - The index files that rolls wrote without an fdatasync (UnsyncedIndexes): synced soon after
//   the roll (SyncIndexesSoon), so that the roll never pays for them.
// - An index spare, "<id>.idx.spare.tmp": once the active segment is half full, a file of zeros
//   a little larger than its index will be (the larger of the last index a roll wrote and the
//   active segment's index so far, projected to a full segment; from kIndexSpareBytesMin on),
//   not synced. The roll renames it to its index's temporary name and writes the index over it
//   (TakeIndexSpare): into page-cache pages already touched, which in this virtual machine took
//   ~3.5 ms for an 18 MB index, where fresh pages took ~45 ms (each first touch of a page costs
//   a fault below the guest), all of it while appends wait. A spare is never synced and
//   normally overwritten before writeback, so it costs the disk nothing; a crash leaves a
//   *.tmp file, deleted at open.
// - With the spare, when the projected index will not fit the buffer the roller kept from the
//   last index (the first roll of a namespace, or a workload whose indexes grow): a buffer of
//   the spare's size with its pages touched (TakeIndexBuffer), for the roll to build the index
//   in without a fault per page (20-30 ms for 18 MB here).
//
// - The active segment's records that no group commit synced (buffered appends): written back
//   to the device once kRecordsWriteBackBytes of them are waiting (MaybeWriteBack), through a
//   file handle of its own, at Options::background_writeback_bytes_per_s. Nothing becomes
//   durable by it, but the roll's fdatasync that seals the segment then has at most that much
//   left to write, not the whole segment (64 MiB: ~90 ms here, with every append waiting).
//
// The zero jobs run only while the active segment's records are synced at least once per
// kPrezeroBytesPerSyncMax (the zeros are a second write of the blocks; below that density they
// cost more than they save). The prefix written at creation is unconditional.
//
// Modes (Options::prezero): kBackground works on a thread of its own; kInline (the simulated
// backend's deterministic mode) on the leader's thread; kOff never writes zeros.
// Thread-safety: MaybePrepareNext, MaybeZeroAhead, FenceZeros and StopZeroing are called by the
// group-commit leader only (or by recovery/Close, when no leader runs); TakePrepared by the roller
// (also the leader); the preparer thread shares only what mu_ guards. No lock is held across a
// write or an fdatasync; the leader waits (on cv_) only for a chunk of zeros being written where
// its next group goes, and at a roll for the chunk in progress. Stop() joins the thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "store/namespace_state.h"
#include "util/large_buffer.h"

namespace tldb {

class SegmentPreparer {
 public:
  // 1 MiB: one step of zeros ahead of the active segment (256 page writes, then one fdatasync;
  // 1 MiB writes with fdatasync run at 2.4 GB/s here, docs/benchmarks.md "The machine"), ~4,000
  // single appends of 256 bytes; also the prefix a new segment is created with.
  static constexpr uint64_t kZeroChunkBytes = 1u << 20;
  // 8 MiB: how far zeros are kept ahead of the active segment's records (asked again once less
  // than half of it is left). It covers the tens of ms this thread spends preparing a 64 MiB
  // next segment, during which it writes no zeros ahead, at up to ~100 MB/s of synced records.
  static constexpr uint64_t kZeroAheadBytes = 8u << 20;

  explicit SegmentPreparer(NamespaceState& st) : st_(st) {}
  ~SegmentPreparer() { Stop(); }
  SegmentPreparer(const SegmentPreparer&) = delete;
  SegmentPreparer& operator=(const SegmentPreparer&) = delete;

  void Start();  // the background thread, in kBackground mode
  void Stop();

  // Index spares are prepared for indexes of at least this size (a smaller one costs the roll
  // little: ~45 ms per 18 MB of fresh pages is ~2.5 ms per MiB).
  static constexpr uint64_t kIndexSpareBytesMin = 1u << 20;

  // After each group that ended at `end`: once the active segment is half full, asks for its
  // successor, if its records were synced densely enough to pay for the zeros, and for an index
  // spare, if the last index was large enough.
  void MaybePrepareNext(uint64_t end);
  struct Prepared {
    bool zeroed = false;  // its blocks written as zeros (else fallocated)
    std::string header;   // written and synced at offset 0
  };
  // If "<id>.seg.tmp" is fully prepared, what it holds; the caller renames it into place.
  std::optional<Prepared> TakePrepared(uint64_t id);
  std::string PreparedName(uint64_t id) const;

  // After each group that ended at `end`: keeps zeros up to kZeroAheadBytes ahead of the active
  // segment's records (at most to segment_bytes_max), if they are synced densely enough.
  void MaybeZeroAhead(uint64_t end);
  // Before the leader writes segment `id` below `end`: zeros are never written there from now
  // on (waits while a chunk of zeros is being written there).
  void FenceZeros(uint64_t id, uint64_t end);
  // Before the active segment is sealed (its file cut to its records) or closed: no zeros are
  // written into it any more (waits for the chunk in progress, and its fdatasync).
  void StopZeroing();

  // 4 MiB: the most of a segment's records left for the roll's fdatasync to write (~6 ms at
  // this disk's 700 MB/s), and the step a request covers (one wake-up of the thread per 4 MiB).
  static constexpr uint64_t kRecordsWriteBackBytes = 4u << 20;
  // After each group that ended at `end`: once kRecordsWriteBackBytes of the active segment's
  // records are neither synced (below `durable_end`, the active segment's durable_end() as the
  // caller read it: pipelined groups are published by a sync thread, under NamespaceState::mu)
  // nor asked to be written back, asks for them to be (kBackground: the thread; kInline: here,
  // unpaced).
  void MaybeWriteBack(uint64_t end, uint64_t durable_end);

  // After a roll left its index unsynced: the thread syncs the waiting indexes (kBackground
  // only; otherwise the maintenance pass, Close or a later roll does).
  void SyncIndexesSoon();
  // After a roll that wrote an index of `bytes` and kept a buffer of `kept_buffer_bytes` to
  // build the next one in: what the next spare and index buffer are made for.
  void NoteIndexBytes(uint64_t bytes, uint64_t kept_buffer_bytes) {
    last_index_bytes_ = bytes;
    kept_buffer_bytes_ = kept_buffer_bytes;
  }
  // True if the index spare of segment `id` is complete (IndexSpareName); the caller renames it.
  // A spare finishing later is discarded.
  bool TakeIndexSpare(uint64_t id);
  // The index buffer made ready for segment `id`'s index, or an empty one. Called by the roll
  // before TakeIndexSpare; a buffer finishing later is freed.
  LargeBuffer TakeIndexBuffer(uint64_t id);
  std::string IndexSpareName(uint64_t id) const;

  // Writes zeros over [from, to) of `file`, one page per write (not synced).
  static Status WriteZeros(WritableFile& file, uint64_t from, uint64_t to);

 private:
  struct Zeroing {  // the active segment being zeroed ahead
    uint64_t id = 0;
    std::string path;
    std::unique_ptr<WritableFile> file;  // its own handle, opened by the first chunk
    uint64_t done = 0;                   // bytes [0, done) are written: records, or zeros synced
    uint64_t floor = 0;                  // the leader may write below this: no zeros go there
    uint64_t target = 0;                 // zeros asked for up to here
    bool busy = false;                   // a chunk is being written or synced: `file` is in use
    uint64_t writing_from = 0, writing_to = 0;  // the chunk being written (equal: none)
    bool failed = false;                        // a write or sync failed: no more zeros here
  };

  void Request(uint64_t id, bool zeros);
  void Loop();
  // Writes segment `id`'s prepared file: `*header`, then zeros (or, without `zeros`, its blocks
  // fallocated), synced; with `writeback_bytes_per_s` (the thread), the zeros go to the device
  // at that pace (WriteBackPacer) before the fdatasync.
  Status Prepare(uint64_t id, bool zeros, uint64_t writeback_bytes_per_s, std::string* header);
  // Once the active segment is half full (its records end at `end`): a spare for its index,
  // and a buffer when the kept one is too small (MaybePrepareNext).
  void MaybePrepareIndexSpare(uint64_t end);
  // With `buffer_bytes` > 0, a buffer of that size, its pages touched; then IndexSpareName(id)
  // written as `bytes` of zeros, not synced; each marked ready unless it came too late (mu_
  // not held on entry).
  void PrepareIndexSpare(uint64_t id, uint64_t bytes, uint64_t buffer_bytes);
  // Whether the active segment's records appended since it was opened, up to `end`, were
  // fdatasync'ed at least once per kPrezeroBytesPerSyncMax.
  bool SyncedDensely(uint64_t end) const;
  // Writes back [from, to) of segment `id`'s records through a handle of its own, paced at
  // `bytes_per_s` (0: at once). A failure is reported once and ends it for that segment (the
  // leader's own fdatasync reports the error to the appends).
  void WriteBackRecords(uint64_t id, uint64_t from, uint64_t to, uint64_t bytes_per_s);
  // Under mu_: a chunk of zeros is due.
  bool ZeroDue() const;
  // Writes and syncs one chunk of zeros ahead (mu_ held on entry and exit, released for I/O).
  void ZeroStep(std::unique_lock<std::mutex>& l);

  NamespaceState& st_;
  uint64_t requested_ = 0;          // leader only: highest segment id asked for
  uint64_t ahead_id_ = 0;           // leader only: the segment zeros were asked ahead of (0: none)
  uint64_t ahead_to_ = 0;           // leader only: how far they were asked for
  uint64_t spare_requested_ = 0;    // leader only: highest segment id an index spare was asked for
  uint64_t last_index_bytes_ = 0;   // leader only: the last index a roll wrote
  uint64_t kept_buffer_bytes_ = 0;  // leader only: the buffer the roller kept after it
  uint64_t wb_asked_id_ = 0;        // leader only: the segment records were asked written back of
  uint64_t wb_asked_to_ = 0;        // leader only: how far
  uint64_t wb_failed_id_ = 0;       // the thread (or, kInline, the leader): writeback failed here

  std::mutex mu_;  // guards the fields below
  std::condition_variable cv_;
  uint64_t request_ = 0;  // next segment id to prepare (0: none)
  bool request_zeros_ = false;
  uint64_t prepared_id_ = 0;  // "<id>.seg.tmp" is complete, and what it holds
  Prepared prepared_;
  uint64_t created_id_ = 0;  // highest segment id created
  bool stop_ = false;
  bool sync_indexes_ = false;      // SyncIndexesSoon asked
  uint64_t spare_request_id_ = 0;  // index spare to write (0: none), and its size
  uint64_t spare_request_bytes_ = 0;
  uint64_t spare_request_buffer_bytes_ = 0;  // 0: no index buffer with it
  uint64_t wb_request_id_ = 0;               // records of this segment to write back (0: none)
  uint64_t wb_request_from_ = 0, wb_request_to_ = 0;
  uint64_t spare_ready_id_ = 0;   // IndexSpareName(id) is complete
  uint64_t spare_taken_id_ = 0;   // highest id a roll asked for: a spare finishing later is stale
  uint64_t buffer_ready_id_ = 0;  // index_buffer_ is ready for this segment's index
  LargeBuffer index_buffer_;
  std::unique_ptr<Zeroing> zeroing_;  // null: none
  std::thread thread_;
};

}  // namespace tldb
