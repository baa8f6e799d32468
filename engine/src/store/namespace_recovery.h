// NamespaceRecovery: opens a namespace's directory. Deletes temporaries and finishes what a
// crash interrupted (a compaction's inputs or uncommitted outputs), loads every sealed segment
// through its index file (rebuilding an index that is missing or damaged), then scans the
// active segment record by record and replays maintenance records into TimelineRules, and
// finally applies FLOORS.
//
// The active segment's tail rule (docs/design.md "Recovery"): every record carries
// `synced_through`, the offset that was durable when it was encoded. At the first record that
// does not decode, the rest of the file is searched for valid records; if any of them claims a
// durable point beyond the damage, the damage lies in bytes that were fsync'ed: corruption,
// refused unless Options::salvage. Otherwise it is a torn tail of an unsynced group: cut off.
//
// Contract: runs once, before any reader, writer or maintenance thread of the namespace exists
// (so it takes no lock). It reads index files on up to kRecoveryThreadsMax threads of its own
// (OpenIndexes), each on its own files, joined before it goes on, and gathers index entries
// for the fold on one more (IndexMerge), stopped before FoldIndexes returns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "log/file_names.h"
#include "log/record.h"
#include "store/group_assigner.h"
#include "store/namespace_state.h"
#include "store/segment_roller.h"
#include "store/timeline_reader.h"

namespace tldb {

class NamespaceRecovery {
 public:
  NamespaceRecovery(NamespaceState& st, SegmentRoller& roller, GroupAssigner& assigner,
                    const TimelineReader& reader)
      : st_(st), roller_(roller), assigner_(assigner), reader_(reader) {}

  Status Recover();
  // The generation the next compaction output takes (after Recover).
  uint32_t next_gen() const { return next_gen_; }

 private:
  Status ResolveCompaction(const NamespaceFiles& listing);
  // A sealed segment between its mapping and its place in NamespaceState::sealed.
  struct PendingSegment {
    std::unique_ptr<SealedSegment> seg;
    bool has_index = false;  // an index file was listed
    Status index_status;     // of mapping and opening it (not ok: rebuild it)
    bool faulted = false;    // a disk read error under it while opening it
  };
  // Up to this many threads read index files at open (OpenIndexes).
  static constexpr uint32_t kRecoveryThreadsMax = 4;
  // The fold gathers ahead on a second thread (IndexMerge) from this many index entries on: a
  // fold of 64Ki entries takes milliseconds, a thread's start tens of microseconds.
  static constexpr uint64_t kFoldAheadEntriesMin = 64 * 1024;

  // Maps a sealed segment and its index file (checks the segment's header).
  Status MapSealed(uint64_t id, uint32_t gen, bool has_index, PendingSegment* p);
  // Opens (verifies) the mapped index files, on up to kRecoveryThreadsMax threads.
  void OpenIndexes(std::vector<PendingSegment>* pending) const;
  // Rebuilds an index that did not open, checks it against the segment, and adds the segment
  // to NamespaceState::sealed.
  Status FinishSealed(PendingSegment* p);
  Status RebuildIndex(const SealedSegment& seg);
  // Folds the index files of the sealed segments (in segment order) into the timeline table,
  // the mutation overlay and the dedupe table.
  Status FoldIndexes(const std::vector<const SealedSegment*>& segs);
  Status RecoverActive(uint64_t id);
  void ForgetOrphanEdits();

  NamespaceState& st_;
  SegmentRoller& roller_;
  GroupAssigner& assigner_;
  const TimelineReader& reader_;
  uint32_t next_gen_ = 1;
};

}  // namespace tldb
