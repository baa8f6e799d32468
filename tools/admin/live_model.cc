#include "live_model.h"

#include <algorithm>
#include <chrono>

#include "index/index_file.h"
#include "log/segment_file.h"

namespace tldb::admin {

using format::RecordType;

uint32_t LiveModel::Timeline(std::string_view key) {
  auto [it, fresh] = ids_.try_emplace(std::string(key), static_cast<uint32_t>(ids_.size()));
  if (fresh) last_seq_.push_back(0);
  return it->second;
}

void LiveModel::Apply(uint32_t timeline, RecordType type, Seq seq, uint32_t segment,
                      uint32_t offset) {
  switch (type) {
    case RecordType::kRecall:
      ++recalls;
      break;
    case RecordType::kEdit:
      ++edits;
      break;
    case RecordType::kTrim:
      ++trims;
      if (seq > 0) NoteMessage(timeline, seq - 1);
      break;
    default:
      return;
  }
  rules_.Apply(timeline, type, seq, segment, offset);
}

LiveModel::State LiveModel::Judge(std::string_view key, Seq seq, TimestampMs ts,
                                  std::string_view* payload) const {
  auto it = ids_.find(std::string(key));
  if (it == ids_.end()) return State::kLive;
  const uint32_t tl = it->second;
  const TimelineRules::Verdict v = rules_.Judge(tl, seq, ts, last_seq_[tl], limits_);
  switch (v.read) {
    case TimelineRules::Read::kDeleted:
      return State::kDeleted;
    case TimelineRules::Read::kStored:
      return State::kLive;
    case TimelineRules::Read::kEdited:
      break;
  }
  auto p = edit_payloads_.find({v.segment, v.offset});
  if (p != edit_payloads_.end() && payload != nullptr) *payload = p->second;
  return State::kEdited;
}

namespace {

// One segment through its index: messages raise last SeqIds, then mutations in index order (the
// engine's FoldIndex). False if the index cannot be used.
Result<bool> FoldIndex(FileSystem& fs, const NamespaceRef& ns, const SegmentRef& seg,
                       LiveModel* m) {
  if (!seg.has_index) return false;
  TLDB_ASSIGN_OR_RETURN(auto idx, IndexFile::Load(fs, seg.index_path, ns.entry.id, seg.id));
  if (!idx->status().ok()) return false;
  const SegmentIndexReader& r = idx->reader();
  std::vector<uint32_t> timeline_of(r.timeline_count());
  for (uint32_t i = 0; i < r.timeline_count(); ++i) {
    const IndexEntry e = r.Entry(i);
    timeline_of[i] = m->Timeline(e.key);
    if (e.count > 0) m->NoteMessage(timeline_of[i], e.first_seq + e.count - 1);
  }
  for (uint32_t i = 0; i < r.mutation_count(); ++i) {
    const IndexMutation x = r.Mutation(i);
    m->Apply(timeline_of[x.entry], static_cast<RecordType>(x.type), x.seq,
             static_cast<uint32_t>(seg.id), x.offset);
  }
  return true;
}

Status FoldData(FileSystem& fs, const SegmentRef& seg, bool keep_edits, LiveModel* m) {
  TLDB_ASSIGN_OR_RETURN(SegmentFile f, LoadSegmentFile(fs, seg.path, seg.id, !seg.active, seg.gen));
  // Messages first, then maintenance records in record order, as FoldIndex does for a sealed
  // segment (for the active segment the engine interleaves them; the outcome is the same since
  // only trims read the last SeqId, and FirstKept is evaluated at the end).
  f.ForEachRecord([&](uint64_t, const RecordView& r) {
    ForEachMessage(r,
                   [&](std::string_view key, Seq seq) { m->NoteMessage(m->Timeline(key), seq); });
  });
  f.ForEachRecord([&](uint64_t off, const RecordView& r) {
    if (!IsMaintenance(r.type)) return;
    const auto seg32 = static_cast<uint32_t>(seg.id);
    m->Apply(m->Timeline(r.key), r.type, r.seq, seg32, static_cast<uint32_t>(off));
    if (keep_edits && r.type == RecordType::kEdit) {
      m->KeepEditPayload(seg32, static_cast<uint32_t>(off), r.payload);
    }
  });
  return Status::Ok();
}

}  // namespace

TimestampMs WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<LiveModel> BuildLiveModel(FileSystem& fs, const NamespaceRef& ns, TimestampMs now_ms,
                                 bool from_data) {
  LiveModel m(ns.entry.options, now_ms);
  for (const Floor& f : ns.floors) m.NoteFloor(f.key, f.last_seq);
  for (const SegmentRef& seg : ns.segments) {
    if (!from_data) {
      TLDB_ASSIGN_OR_RETURN(bool done, FoldIndex(fs, ns, seg, &m));
      if (done) continue;
    }
    TLDB_RETURN_IF_ERROR(FoldData(fs, seg, from_data, &m));
  }
  return m;
}

}  // namespace tldb::admin
