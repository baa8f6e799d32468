#include "store/segment_expirer.h"

#include <algorithm>
#include <climits>
#include <mutex>
#include <set>
#include <shared_mutex>

#include "log/file_names.h"
#include "store/floors.h"
#include "util/kill_point.h"

namespace tldb {

TimestampMs SegmentExpirer::NextExpiryMs() const {
  const uint64_t ttl = st_.ttl_ms();
  if (ttl == 0) return INT64_MAX;
  TimestampMs oldest = INT64_MAX;
  std::shared_lock l(st_.mu);
  for (const auto& [id, seg] : st_.sealed) {
    if (id >= st_.retain_from.load()) break;  // held for a follower: due once released
    oldest = std::min(oldest, seg->index.summary().max_ts);
  }
  if (st_.active && st_.active->end() > format::kSegmentHeaderBytes) {
    oldest = std::min(oldest, st_.active->max_ts());  // sealed and dropped once all expired
  }
  if (oldest == INT64_MAX) return INT64_MAX;
  return oldest + static_cast<TimestampMs>(ttl) + 1;
}

void SegmentExpirer::ForgetSegment(NamespaceState& st, const SealedSegment& seg) {
  const SegmentIndexReader& idx = seg.index;
  MutationOverlay& ov = st.rules.overlay();
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < idx.timeline_count(); ++i) {
    const IndexEntry e = idx.Entry(i);
    if (e.count == 0) continue;
    const uint32_t t = st.table.Find(e.key, e.key_hash);
    if (t == TimelineTable::kNone) continue;
    TimelineState& ts = st.table.state(t);
    ts.segs.Decode(&ids);
    ids.erase(std::remove(ids.begin(), ids.end(), static_cast<uint32_t>(seg.id)), ids.end());
    ts.segs.Assign(ids);
    for (Seq s = e.first_seq; s < e.first_seq + e.count && !ov.empty(); ++s) {
      if (ov.Find(t, s) != nullptr) ov.Erase(t, s);
    }
  }
}

Status SegmentExpirer::DropExpired(CompactionProgress* progress) {
  const uint64_t ttl = st_.ttl_ms();
  if (ttl == 0) return Status::Ok();
  const TimestampMs cutoff = st_.TtlNowMs() - static_cast<TimestampMs>(ttl);
  bool active_expired = false;
  {
    std::shared_lock l(st_.mu);
    active_expired = st_.active && st_.active->end() > format::kSegmentHeaderBytes &&
                     st_.active->max_ts() < cutoff;
  }
  // An idle active segment whose every record expired is sealed, so it can be dropped too. With
  // no space for the next segment it stays active for now, and the sealed segments below are
  // still dropped: that is what frees the space.
  Status rolled;
  if (active_expired) {
    rolled = roll_();
    if (!rolled.ok() && rolled.code() != Status::Code::kNoSpace) return rolled;
  }
  // The segments to drop, and the timelines left without a record once they are gone: FLOORS
  // keeps those timelines' last SeqIds and is written before anything is forgotten, so a write
  // that fails (no space for it) leaves the segments to the next pass rather than to a restart.
  std::vector<uint64_t> expired;
  std::vector<uint32_t> orphans;
  {
    std::shared_lock l(st_.mu);
    std::set<uint32_t> ids, touched;
    for (const auto& [id, seg] : st_.sealed) {
      if (seg->index.summary().max_ts >= cutoff) continue;
      if (id >= st_.retain_from.load()) break;  // a follower still needs it (and those after)
      expired.push_back(id);
      ids.insert(static_cast<uint32_t>(id));
      for (uint32_t i = 0; i < seg->index.timeline_count(); ++i) {
        const IndexEntry e = seg->index.Entry(i);
        const uint32_t t = st_.table.Find(e.key, e.key_hash);
        if (t != TimelineTable::kNone) touched.insert(t);
      }
    }
    std::vector<uint32_t> segs;
    for (uint32_t t : touched) {
      const TimelineState& ts = st_.table.state(t);
      if (ts.active_slot != kNoSlot) continue;
      ts.segs.Decode(&segs);
      if (std::all_of(segs.begin(), segs.end(), [&](uint32_t id) { return ids.contains(id); })) {
        orphans.push_back(t);
      }
    }
  }
  if (expired.empty()) return rolled;
  TLDB_RETURN_IF_ERROR(WriteFloors(st_, orphans));
  TLDB_KILL_POINT("ttl.after_floors");
  std::vector<std::unique_ptr<SealedSegment>> dropped;
  {
    std::unique_lock l(st_.mu);
    for (uint64_t id : expired) {
      auto it = st_.sealed.find(id);
      ForgetSegment(st_, *it->second);
      dropped.push_back(std::move(it->second));
      st_.sealed.erase(it);
    }
  }
  for (const auto& seg : dropped) {
    const std::string name = SegmentFileName(st_.dir, seg->id, seg->gen);
    st_.Event("ttl: dropping expired " + name);
    // The index first: a segment without its index is rebuilt (and dropped again) at open, an
    // index without its segment is simply removed.
    TLDB_RETURN_IF_ERROR(st_.fs->Remove(IndexFileName(st_.dir, seg->id, seg->gen)));
    TLDB_KILL_POINT("ttl.after_index_unlink");
    TLDB_RETURN_IF_ERROR(st_.fs->Remove(name));
    TLDB_KILL_POINT("ttl.after_segment_unlink");
    if (progress != nullptr) progress->segments_expired++;
  }
  st_.counters.segments_expired += dropped.size();
  TLDB_RETURN_IF_ERROR(st_.fs->SyncDir(st_.dir));
  return rolled;
}

}  // namespace tldb
