#include "store/segment_roller.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <utility>

#include "log/file_names.h"
#include "log/segment_header.h"
#include "util/check.h"
#include "util/kill_point.h"
#include "util/test_hook.h"

namespace tldb {

bool SegmentRoller::WouldRoll(size_t group_bytes, bool force) const {
  const ActiveSegment& a = *st_.active;
  return a.end() > format::kSegmentHeaderBytes &&
         (force || a.end() + group_bytes > st_.segment_bytes_max());
}

Status SegmentRoller::MakeRoom(size_t group_bytes, bool force, bool* intact) {
  *intact = false;
  if (WouldRoll(group_bytes, force)) {
    TLDB_RETURN_IF_ERROR(Roll(st_.active->id() + 1, nullptr, intact));
  }
  return Allocate(group_bytes, intact);
}

Status SegmentRoller::ApplyRoll(const LogFrame& f, bool* intact) {
  *intact = true;
  const ActiveSegment& a = *st_.active;
  if (f.kind != FrameKind::kRoll || f.segment != a.id() + 1 || f.offset != a.end() ||
      a.end() <= format::kSegmentHeaderBytes) {
    return Status::InvalidArgument(st_.SegmentName(a.id()) + " ends at " + std::to_string(a.end()) +
                                   ": a roll to segment " + std::to_string(f.segment) + " at " +
                                   std::to_string(f.offset) + " does not follow it");
  }
  auto h = DecodeSegmentHeader(f.bytes, "shipped header of segment " + std::to_string(f.segment));
  if (!h.ok()) return h.status();
  if (f.bytes.size() != format::kSegmentHeaderBytes || h->segment_id != f.segment ||
      h->namespace_id != st_.entry.id) {
    return Status::InvalidArgument("shipped header of segment " + std::to_string(f.segment) +
                                   " names another segment or namespace");
  }
  return Roll(f.segment, &f.bytes, intact);
}

Status SegmentRoller::Roll(uint64_t id, const std::string* header, bool* intact) {
  st_.counters.rolls++;
  // However the roll ends: its time is counted, and an index it left unsynced goes to the
  // preparer thread only now. Asked for earlier, that fdatasync writes the whole index (18 MB
  // for a segment of large fan-outs) in the ext4 journal commit that the directory fsync of
  // PromoteNext then waits for: about 10 ms more on the append path.
  struct Done {
    SegmentRoller& r;
    std::chrono::steady_clock::time_point start;
    ~Done() {
      r.st_.counters.roll_us +=
          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::steady_clock::now() - start)
                                    .count());
      if (std::exchange(r.sync_index_after_roll_, false)) r.preparer_.SyncIndexesSoon();
    }
  } done{*this, std::chrono::steady_clock::now()};
  // The next segment first: if there is no room for it, the active segment stays as it is.
  Status s = ReserveNext(id, header);
  if (!s.ok()) {
    *intact = s.code() == Status::Code::kNoSpace;
    return s;
  }
  std::unique_ptr<SealedSegment> sealed;
  TLDB_RETURN_IF_ERROR(Seal(intact, &sealed));
  TLDB_TEST_HOOK("roll.before_promote");  // the leader, no lock held; appends wait for it
  s = PromoteNext();
  std::unique_ptr<ActiveSegment> next;
  if (s.ok()) {
    next = std::make_unique<ActiveSegment>(next_.id, std::move(next_.file), next_.header,
                                           st_.segment_bytes_max());
    next->set_allocated_end(next_.allocated);
    if (next_.zeroed) next->set_zeroed_end(next_.allocated);  // else zeros follow (preparer)
    next_ = NextSegment{};
  }
  Publish(std::move(sealed), std::move(next));
  return s;
}

Status SegmentRoller::Allocate(size_t group_bytes, bool* intact) {
  *intact = false;
  // A segment from ReserveNext has all its blocks; a recovered one may not (it was created
  // before, or prepared for a smaller segment_bytes_max): they are allocated here, once.
  ActiveSegment& cur = *st_.active;
  const uint64_t want = cur.end() + group_bytes;
  preparer_.FenceZeros(cur.id(), want);  // the group's bytes: no zeros ahead go there now
  if (want > cur.allocated_end()) {
    const uint64_t from = cur.allocated_end();
    const uint64_t to = std::max<uint64_t>(want, st_.segment_bytes_max());
    Status s = cur.file()->Allocate(from, to - from);
    if (!s.ok()) {
      *intact = s.code() == Status::Code::kNoSpace;  // blocks past the data: nothing changed
      return s;
    }
    cur.set_allocated_end(to);
  }
  return Status::Ok();
}

Status SegmentRoller::Seal(bool* intact, std::unique_ptr<SealedSegment>* out) {
  *intact = false;
  preparer_.StopZeroing();  // no zeros ahead past the cut below
  ActiveSegment& a = *st_.active;
  const uint64_t id = a.id();
  if (a.durable_end() < a.end()) {
    TLDB_RETURN_IF_ERROR(a.file()->Sync());  // a failed fsync of records: sticky
    st_.counters.syncs++;
    a.set_durable_end(a.end());
    TLDB_KILL_POINT("roll.after_seal_sync");
  }
  // The leader is the only writer of the active segment and of the table's keys and last
  // timestamps, so it reads them here without mu.
  SegmentIndexBuilder b(st_.entry.id, id);
  b.ReserveTimelines(a.slots().size());
  for (const auto& slot : a.slots()) {
    // The active segment holds each of its timelines' newest records, so the timeline's last
    // timestamp is this segment's last timestamp for it.
    const std::string_view key = st_.table.key(slot.timeline());
    b.AddTimelineKept(key, KeyHash(key), slot.first_seq(), st_.table.state(slot.timeline()).last_ts,
                      slot.offsets());
  }
  for (const auto& m : a.mutation_records()) {
    const std::string_view key = st_.table.key(m.timeline);
    b.AddMutation(key, KeyHash(key), m.type, m.seq, m.offset);
  }
  for (const auto& d : a.dedupe_records()) {
    b.AddDedupe(st_.table.key(d.timeline), d.cmid_hash, d.seq, d.ts);
  }
  if (LargeBuffer ready = preparer_.TakeIndexBuffer(id); ready.size() > index_buffer_.size()) {
    index_buffer_ = std::move(ready);  // its pages touched ahead (the kept one was too small)
    st_.counters.index_buffer_rolls++;
  }
  const std::span<const char> idx =
      b.FinishInto(&index_buffer_, static_cast<uint32_t>(a.end()), a.min_ts(), a.max_ts());
  const std::string idx_path = IndexFileName(st_.dir, id);
  if (Status s = WriteIndex(id, idx_path, idx); !s.ok()) {
    // Until the index is renamed into place it is only "<id>.idx.tmp", which recovery deletes:
    // the segment is still the active one, on disk as in memory, and may take more records.
    // Once the index exists under its name the segment is sealed for recovery: sticky.
    auto exists = st_.fs->Exists(idx_path);
    if (s.code() == Status::Code::kNoSpace && exists.ok() && !*exists) {
      (void)st_.fs->Remove(idx_path + ".tmp");  // WriteTemporary's file: free its blocks
      *intact = true;
    }
    return s;
  }
  TLDB_KILL_POINT("roll.after_index");
  // A prepared segment ends in zeros, and a reserved one in allocated blocks; cut them so a
  // sealed file is exactly its records. Not synced: zeros that come back after a crash are
  // ignored by recovery.
  TLDB_RETURN_IF_ERROR(a.file()->Truncate(a.end()));
  TLDB_RETURN_IF_ERROR(a.file()->Close());
  auto seg = std::make_unique<SealedSegment>();
  seg->id = id;
  TLDB_ASSIGN_OR_RETURN(seg->data, st_.fs->Map(SegmentFileName(st_.dir, id)));
  seg->data->AdviseRandom();
  TLDB_ASSIGN_OR_RETURN(seg->index_file, st_.fs->Map(idx_path));
  // Checked where it was built (in memory, cached), then served from the file: reading all of
  // the mapped file here would map every page of it (~13 ms for 18 MB) on the append path.
  TLDB_RETURN_IF_ERROR(seg->index.Open(idx, st_.entry.id, id, st_.SegmentName(id),
                                       SegmentIndexReader::BodyChecksum::kBuiltHere));
  TLDB_RETURN_IF_ERROR(seg->index.MoveTo(seg->index_file->data(), idx_path));
  seg->bytes = seg->data->data().size() + seg->index_file->data().size();
  *out = std::move(seg);
  // Kept for the next roll unless far larger than this index (the workload changed).
  const uint64_t idx_bytes = idx.size();
  if (index_buffer_.size() > 4 * idx_bytes) index_buffer_ = LargeBuffer();
  preparer_.NoteIndexBytes(idx_bytes, index_buffer_.size());
  return Status::Ok();
}

Status SegmentRoller::WriteIndex(uint64_t id, const std::string& path, std::span<const char> idx) {
  if (preparer_.TakeIndexSpare(id)) {
    // Written over, then cut to the index's size (WriteTemporary); without it, fresh pages.
    const std::string spare = preparer_.IndexSpareName(id);
    if (st_.fs->Rename(spare, path + ".tmp").ok()) {
      st_.counters.index_spare_rolls++;
    } else {
      (void)st_.fs->Remove(spare);
    }
  }
  TLDB_ASSIGN_OR_RETURN(auto file, st_.fs->WriteTemporary(path, idx));
  TLDB_RETURN_IF_ERROR(st_.fs->Rename(path + ".tmp", path));
  if (st_.unsynced_indexes.Add(std::move(file)) > UnsyncedIndexes::kWaitingMax) {
    st_.SyncIndexes();  // nothing else synced them: the roll pays for them
  } else {
    sync_index_after_roll_ = true;  // asked for once the roll is done (Roll)
  }
  return Status::Ok();
}

void SegmentRoller::Publish(std::unique_ptr<SealedSegment> sealed,
                            std::unique_ptr<ActiveSegment> next) {
  {
    std::unique_lock l(st_.mu);
    const uint64_t id = sealed->id;
    const auto& slots = st_.active->slots();
    for (size_t i = 0; i < slots.size(); ++i) {
      // Thousands of states at random places: each fetched a few slots ahead of its turn.
      if (i + 8 < slots.size()) __builtin_prefetch(&st_.table.state(slots[i + 8].timeline()));
      TimelineState& ts = st_.table.state(slots[i].timeline());
      ts.segs.Append(static_cast<uint32_t>(id));
      ts.active_slot = kNoSlot;
    }
    st_.sealed[id] = std::move(sealed);
    st_.active = std::move(next);
    if (st_.active) st_.published_end = st_.active->end();
  }
  if (st_.on_seal) st_.on_seal();
}

Status SegmentRoller::CreateActive(uint64_t id) {
  TLDB_CHECK(id < (uint64_t{1} << 32));  // SegList keeps 32-bit ids
  const std::string path = SegmentFileName(st_.dir, id);
  TLDB_ASSIGN_OR_RETURN(auto file,
                        st_.fs->OpenWritable(path, /*create=*/true, /*exclusive=*/false));
  TLDB_RETURN_IF_ERROR(file->Truncate(0));
  // created_ms 0: a segment created at open rather than by a roll is the same on every replica
  // (a new namespace, or the one after a sealed last segment), so replicas stay byte-identical.
  const std::string header = SegmentHeaderBytes(st_.entry.id, id, 0);
  TLDB_RETURN_IF_ERROR(file->WriteAndSync(0, header));
  TLDB_RETURN_IF_ERROR(st_.fs->SyncDir(st_.dir));
  TLDB_KILL_POINT("roll.after_create");
  const uint64_t zeroed = WriteZeroPrefix(*file, path);
  st_.active =
      std::make_unique<ActiveSegment>(id, std::move(file), header, st_.segment_bytes_max());
  st_.active->set_zeroed_end(zeroed);
  st_.published_end = st_.active->end();
  return Status::Ok();
}

// The first kZeroChunkBytes of a created segment, written and synced as zeros so that its first
// records' fdatasyncs overwrite written blocks from the start (SegmentPreparer zeros further
// ahead once records arrive). Best effort: on failure the records go into unwritten blocks, and
// zeros that did land are the unwritten space recovery expects after the last record.
uint64_t SegmentRoller::WriteZeroPrefix(WritableFile& file, const std::string& path) {
  constexpr uint64_t kFrom = format::kSegmentHeaderBytes;
  const uint64_t to = std::min(SegmentPreparer::kZeroChunkBytes, st_.segment_bytes_max());
  if (st_.db_options.prezero == Options::Prezero::kOff || to <= kFrom) return kFrom;
  Status s = SegmentPreparer::WriteZeros(file, kFrom, to);
  if (s.ok()) s = file.Sync();
  if (!s.ok()) {
    st_.Event("writing zeros into new " + path +
              " failed (its records go into unwritten blocks): " + s.ToString());
    return kFrom;
  }
  st_.counters.prezero_ahead_bytes += to - kFrom;
  return to;
}

// Nothing of the log depends on the reserved file until PromoteNext renames it: any failure
// here discards it (a *.tmp, also deleted by recovery), and a retry starts a new file from
// scratch, so no fsync is ever retried on bytes that a failed one may have dropped.
Status SegmentRoller::ReserveNext(uint64_t id, const std::string* header) {
  TLDB_CHECK(id < (uint64_t{1} << 32));  // SegList keeps 32-bit ids
  // Reserved by an earlier roll whose seal failed (with the header asked for, if any).
  if (next_.id == id && (header == nullptr || next_.header == *header)) return Status::Ok();
  DiscardNext();
  next_.id = id;
  // Prepared: created with its blocks allocated (zeros written, if its records are synced
  // densely) and its header synced, off the append path.
  const std::optional<SegmentPreparer::Prepared> p = preparer_.TakePrepared(id);
  next_.prepared = p.has_value();
  next_.zeroed = p && p->zeroed;  // blocks already written: syncs overwrite them
  next_.tmp_path =
      next_.prepared ? preparer_.PreparedName(id) : SegmentFileName(st_.dir, id) + ".new.tmp";
  next_.allocated = st_.segment_bytes_max();
  next_.header = header != nullptr ? *header
                 : p               ? p->header
                                   : SegmentHeaderBytes(st_.entry.id, id, st_.clock->NowMs());
  Status s = [&]() -> Status {
    TLDB_ASSIGN_OR_RETURN(next_.file, st_.fs->OpenWritable(next_.tmp_path, !next_.prepared,
                                                           /*exclusive=*/false));
    if (!next_.prepared) TLDB_RETURN_IF_ERROR(next_.file->Truncate(0));
    TLDB_RETURN_IF_ERROR(next_.file->Allocate(0, next_.allocated));
    // A follower's roll brings the primary's header, which replaces the prepared one.
    if (p && p->header == next_.header) return Status::Ok();
    return next_.file->WriteAndSync(0, next_.header);
  }();
  if (!s.ok()) DiscardNext();
  return s;
}

Status SegmentRoller::PromoteNext() {
  TLDB_CHECK(next_.id != 0 && next_.file);
  if (next_.prepared) TLDB_KILL_POINT("prepare.before_rename");
  TLDB_RETURN_IF_ERROR(st_.fs->Rename(next_.tmp_path, SegmentFileName(st_.dir, next_.id)));
  TLDB_RETURN_IF_ERROR(st_.fs->SyncDir(st_.dir));
  TLDB_KILL_POINT("roll.after_create");
  return Status::Ok();
}

void SegmentRoller::DiscardNext() {
  if (next_.id == 0) return;
  if (next_.file) (void)next_.file->Close();
  (void)st_.fs->Remove(next_.tmp_path);  // frees its blocks; recovery deletes a *.tmp left over
  next_ = NextSegment{};
}

}  // namespace tldb
