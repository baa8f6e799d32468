// NamespaceLog TTL: whole sealed segments whose newest record is older than ttl_ms are deleted
// (no rewrite). Reads already hide expired messages (Expired()); this frees their disk.
//
// Order of a drop (docs/design.md "TTL"): write FLOORS with the last SeqId of every timeline
// left without a record (so SeqIds are never reused); forget the segments in memory; delete the
// files; fsync the directory. A crash (or a failed FLOORS write) before the deletes leaves the
// segments, which the next check drops again.
#include <algorithm>
#include <climits>
#include <set>

#include "log/file_names.h"
#include "store/floors.h"
#include "store/namespace_log.h"
#include "util/kill_point.h"

namespace tldb {

Status NamespaceLog::LoadFloors() {
  TLDB_ASSIGN_OR_RETURN(bool exists, fs_->Exists(FloorsFileName(dir_)));
  if (!exists) return Status::Ok();
  TLDB_ASSIGN_OR_RETURN(std::string bytes, fs_->ReadFileToString(FloorsFileName(dir_)));
  TLDB_ASSIGN_OR_RETURN(auto floors, DecodeFloors(bytes, FloorsFileName(dir_)));
  for (const Floor& f : floors) {
    TimelineState& st = table_.state(table_.FindOrInsert(f.key, KeyHash(f.key)));
    // A timeline with records in the active segment got them after its floor was written.
    if (st.active_slot != kNoSlot) continue;
    st.last_seq = std::max(st.last_seq, f.last_seq);
    st.last_ts = std::max(st.last_ts, f.last_ts);
  }
  return Status::Ok();
}

Status NamespaceLog::WriteFloors(const std::vector<uint32_t>& also) {
  std::vector<Floor> floors;
  {
    std::shared_lock l(mu_);
    auto add = [&](uint32_t id) {
      const TimelineState& st = table_.state(id);
      if (st.last_seq != 0)
        floors.push_back({std::string(table_.key(id)), st.last_seq, st.last_ts});
    };
    for (uint32_t id = 0; id < table_.size(); ++id) {
      const TimelineState& st = table_.state(id);
      if (st.segs.empty() && st.active_slot == kNoSlot) add(id);
    }
    for (uint32_t id : also) {
      const TimelineState& st = table_.state(id);
      if (!(st.segs.empty() && st.active_slot == kNoSlot)) add(id);
    }
  }
  TLDB_ASSIGN_OR_RETURN(bool exists, fs_->Exists(FloorsFileName(dir_)));
  if (floors.empty() && !exists) return Status::Ok();
  return fs_->WriteFileAtomic(FloorsFileName(dir_), EncodeFloors(floors));
}

TimestampMs NamespaceLog::NextExpiryMs() {
  const uint64_t ttl = ttl_ms_.load();
  if (ttl == 0) return INT64_MAX;
  TimestampMs oldest = INT64_MAX;
  std::shared_lock l(mu_);
  for (const auto& [id, seg] : sealed_) oldest = std::min(oldest, seg->index.summary().max_ts);
  if (active_ && active_->end() > format::kSegmentHeaderBytes) {
    oldest = std::min(oldest, active_->max_ts());  // sealed and dropped once all of it expired
  }
  if (oldest == INT64_MAX) return INT64_MAX;
  return oldest + static_cast<TimestampMs>(ttl) + 1;
}

// Removes `seg` from every timeline's segment list and forgets overlay entries of the SeqIds it
// held. Caller holds mu_ exclusively.
void NamespaceLog::ForgetSegment(const SealedSegment& seg) {
  const SegmentIndexReader& idx = seg.index;
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < idx.timeline_count(); ++i) {
    const IndexEntry e = idx.Entry(i);
    if (e.count == 0) continue;
    const uint32_t t = table_.Find(e.key, e.key_hash);
    if (t == TimelineTable::kNone) continue;
    TimelineState& st = table_.state(t);
    st.segs.Decode(&ids);
    ids.erase(std::remove(ids.begin(), ids.end(), static_cast<uint32_t>(seg.id)), ids.end());
    st.segs.Assign(ids);
    for (Seq s = e.first_seq; s < e.first_seq + e.count && !overlay_.empty(); ++s) {
      if (overlay_.Find(t, s) != nullptr) overlay_.Erase(t, s);
    }
  }
}

Status NamespaceLog::DropExpired(CompactionProgress* progress) {
  std::lock_guard m(maint_mu_);
  const uint64_t ttl = ttl_ms_.load();
  if (ttl == 0) return Status::Ok();
  const TimestampMs cutoff = TtlNowMs() - static_cast<TimestampMs>(ttl);
  bool active_expired = false;
  {
    std::shared_lock l(mu_);
    active_expired =
        active_ && active_->end() > format::kSegmentHeaderBytes && active_->max_ts() < cutoff;
  }
  // An idle active segment whose every record expired is sealed, so it can be dropped too. With
  // no space for the next segment it stays active for now, and the sealed segments below are
  // still dropped: that is what frees the space.
  Status rolled;
  if (active_expired) {
    rolled = Roll();
    if (!rolled.ok() && rolled.code() != Status::Code::kNoSpace) return rolled;
  }
  // The segments to drop, and the timelines left without a record once they are gone: FLOORS
  // keeps those timelines' last SeqIds and is written before anything is forgotten, so a write
  // that fails (no space for it) leaves the segments to the next pass rather than to a restart.
  std::vector<uint64_t> expired;
  std::vector<uint32_t> orphans;
  {
    std::shared_lock l(mu_);
    std::set<uint32_t> ids, touched;
    for (const auto& [id, seg] : sealed_) {
      if (seg->index.summary().max_ts >= cutoff) continue;
      expired.push_back(id);
      ids.insert(static_cast<uint32_t>(id));
      for (uint32_t i = 0; i < seg->index.timeline_count(); ++i) {
        const IndexEntry e = seg->index.Entry(i);
        const uint32_t t = table_.Find(e.key, e.key_hash);
        if (t != TimelineTable::kNone) touched.insert(t);
      }
    }
    std::vector<uint32_t> segs;
    for (uint32_t t : touched) {
      const TimelineState& st = table_.state(t);
      if (st.active_slot != kNoSlot) continue;
      st.segs.Decode(&segs);
      if (std::all_of(segs.begin(), segs.end(), [&](uint32_t id) { return ids.contains(id); })) {
        orphans.push_back(t);
      }
    }
  }
  if (expired.empty()) return rolled;
  TLDB_RETURN_IF_ERROR(WriteFloors(orphans));
  TLDB_KILL_POINT("ttl.after_floors");
  std::vector<std::unique_ptr<SealedSegment>> dropped;
  {
    std::unique_lock l(mu_);
    for (uint64_t id : expired) {
      auto it = sealed_.find(id);
      ForgetSegment(*it->second);
      dropped.push_back(std::move(it->second));
      sealed_.erase(it);
    }
  }
  for (const auto& seg : dropped) {
    const std::string name = SegmentFileName(dir_, seg->id, seg->gen);
    if (db_options_.on_event) db_options_.on_event("ttl: dropping expired " + name);
    // The index first: a segment without its index is rebuilt (and dropped again) at open, an
    // index without its segment is simply removed.
    TLDB_RETURN_IF_ERROR(fs_->Remove(IndexFileName(dir_, seg->id, seg->gen)));
    TLDB_KILL_POINT("ttl.after_index_unlink");
    TLDB_RETURN_IF_ERROR(fs_->Remove(name));
    TLDB_KILL_POINT("ttl.after_segment_unlink");
    if (progress != nullptr) progress->segments_expired++;
  }
  counters_.segments_expired += dropped.size();
  TLDB_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  return rolled;
}

}  // namespace tldb
