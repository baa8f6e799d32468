// SegmentRoller: keeps the active segment able to take the next group. When a group would not
// fit (or a roll is asked for), it reserves the next segment (its blocks allocated — prepared
// zeros from SegmentPreparer, or fallocate — its header written and synced, under a *.tmp
// name), seals the active one (fdatasync, index file written and renamed into place, synced
// later: UnsyncedIndexes; file cut to its records, mapped read-only) and promotes the next one
// into place.
//
// Errors: space is reserved before anything changes. *intact tells the caller whether the log
// is unchanged (a NoSpace while reserving: the group fails and a later one retries) or must
// become read-only (any other failure, or one after the segment was sealed on disk: sticky).
//
// Contract: called by the group-commit leader only (or recovery, before any reader exists). All
// file I/O happens without NamespaceState::mu; mu is taken exclusively only to publish a seal
// (the new sealed segment, the timelines' segment lists, the new active segment) at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "store/namespace_state.h"
#include "store/segment_preparer.h"
#include "tldb/replication.h"

namespace tldb {

class SegmentRoller {
 public:
  SegmentRoller(NamespaceState& st, SegmentPreparer& preparer) : st_(st), preparer_(preparer) {}

  // Makes room for a group of up to `group_bytes`: rolls when the group would not fit (or
  // `force`), then makes sure the active segment's blocks for the group are allocated.
  Status MakeRoom(size_t group_bytes, bool force, bool* intact);
  // Whether MakeRoom(group_bytes, force) would roll (seal the active segment).
  bool WouldRoll(size_t group_bytes, bool force) const;
  // A follower's copy of the primary's roll (FrameKind::kRoll): the active segment must be
  // segment f.segment - 1 and end at f.offset; it is sealed, and segment f.segment starts with
  // the header the primary wrote (f.bytes), so both replicas hold the same bytes.
  Status ApplyRoll(const LogFrame& f, bool* intact);
  // Makes sure the active segment's blocks for the next `group_bytes` are allocated.
  Status Allocate(size_t group_bytes, bool* intact);
  // Creates "<id>.seg" as the active segment (a new namespace, or after a sealed last segment);
  // the caller holds mu exclusively or no reader exists yet.
  Status CreateActive(uint64_t id);
  // Deletes a next segment reserved by a roll that failed (Close).
  void DiscardNext();

 private:
  // Writes zeros after the header of a segment CreateActive made; returns how far the file's
  // bytes are written (the header's end if it wrote none).
  uint64_t WriteZeroPrefix(WritableFile& file, const std::string& path);
  // Seals the active segment on disk and opens its read-only form. *intact: only a NoSpace
  // writing the index, before it was renamed into place, leaves the segment active.
  Status Seal(bool* intact, std::unique_ptr<SealedSegment>* out);
  // Writes segment `id`'s index as "<path>.tmp" (over the preparer's index spare, if one is
  // ready) and renames it into place, without an fdatasync: it waits in st_.unsynced_indexes
  // (see there for why that is safe); syncs the waiting ones when too many wait.
  Status WriteIndex(uint64_t id, const std::string& path, std::span<const char> idx);
  // Seals the active segment and promotes segment `id` (its header: `header`, or a new one).
  Status Roll(uint64_t id, const std::string* header, bool* intact);
  Status ReserveNext(uint64_t id, const std::string* header);
  // Renames the reserved next segment into place.
  Status PromoteNext();
  // Under mu: the sealed segment joins the readers' view and `next` (may be null after a
  // failed promote) becomes the active segment.
  void Publish(std::unique_ptr<SealedSegment> sealed, std::unique_ptr<ActiveSegment> next);

  NamespaceState& st_;
  SegmentPreparer& preparer_;
  struct NextSegment {      // ReserveNext's result, kept until a roll promotes it
    uint64_t id = 0;        // 0: none
    bool prepared = false;  // from the preparer (created, header synced)
    bool zeroed = false;    // and its blocks written as zeros
    std::string tmp_path;
    std::string header;      // written and synced at offset 0
    uint64_t allocated = 0;  // blocks [0, allocated) reserved
    std::unique_ptr<WritableFile> file;
  };
  NextSegment next_;
  bool sync_index_after_roll_ = false;  // WriteIndex left an index for the preparer to sync
  // The buffer the last index was built in, kept for the next one: fresh pages cost a fault
  // each here (below the guest too), ~20-30 ms of an 18 MB fan-out index's build on the append
  // path. Freed when an index needs less than a quarter of it.
  LargeBuffer index_buffer_;
};

}  // namespace tldb
