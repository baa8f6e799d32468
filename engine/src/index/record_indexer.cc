#include "index/record_indexer.h"

#include <algorithm>

namespace tldb {

void RecordIndexer::NoteTs(TimestampMs ts) {
  min_ts_ = min_ts_ == 0 ? ts : std::min(min_ts_, ts);
  max_ts_ = std::max(max_ts_, ts);
}

RecordIndexer::Timeline& RecordIndexer::TimelineOf(std::string_view key) {
  auto it = timelines_.find(key);
  if (it == timelines_.end()) it = timelines_.emplace(std::string(key), Timeline{}).first;
  return it->second;
}

void RecordIndexer::Add(uint64_t offset, const RecordView& r) {
  const auto off32 = static_cast<uint32_t>(offset);
  if (IsMaintenance(r.type)) {
    AddMutation(r.key, static_cast<uint8_t>(r.type), r.seq, off32, r.timestamp_ms);
    return;
  }
  bool first = true;
  ForEachMessage(r, [&](std::string_view key, Seq seq) {
    AddMessage(key, seq, off32, r.timestamp_ms);
    if (!r.client_msg_id.empty()) {
      AddDedupe(key, r.client_msg_id, seq, r.timestamp_ms);
      if (!first) later_target_dedupes_.push_back(dedupes_.back());
    }
    first = false;
  });
}

void RecordIndexer::AddMessage(std::string_view key, Seq seq, uint32_t offset, TimestampMs ts) {
  auto it = seqs_.find(key);
  if (it == seqs_.end()) it = seqs_.emplace(std::string(key), std::vector<SeqAt>{}).first;
  it->second.push_back({seq, offset, ts});
  NoteTs(ts);
}

void RecordIndexer::AddDedupe(std::string_view key, std::string_view cmid, Seq seq,
                              TimestampMs ts) {
  dedupes_.push_back({std::string(key), DedupeHash(KeyHash(key), cmid), seq, ts});
}

void RecordIndexer::AddMutation(std::string_view key, uint8_t type, Seq seq, uint32_t offset,
                                TimestampMs ts) {
  TimelineOf(key);  // a count-0 entry if the timeline has no message here
  mutations_.push_back({std::string(key), type, seq, offset});
  NoteTs(ts);
}

void RecordIndexer::Finish() {
  for (auto& [key, seqs] : seqs_) {
    std::stable_sort(seqs.begin(), seqs.end(),
                     [](const SeqAt& a, const SeqAt& b) { return a.seq < b.seq; });
    Timeline& t = TimelineOf(key);
    for (const SeqAt& x : seqs) {
      if (t.offsets.empty()) {
        t.first_seq = x.seq;
      } else {
        const Seq next = t.first_seq + t.offsets.size();
        if (x.seq < next) {
          disorder_.push_back({key, next, x.seq, x.offset});
          continue;
        }
        if (x.seq > next) {
          gaps_.push_back({key, next, x.seq, x.offset});
          longest_gap_ = std::max<uint64_t>(longest_gap_, x.seq - next);
          if (x.seq - next > kIndexGapMax) continue;  // not laid out: the caller refuses it
          t.offsets.insert(t.offsets.end(), x.seq - next, index_format::kGapOffset);
        }
      }
      t.last_ts = std::max(t.last_ts, x.ts);
      t.offsets.push_back(x.offset);
    }
  }
  seqs_.clear();
}

void RecordIndexer::AddTo(SegmentIndexBuilder* b) const {
  for (const auto& [key, t] : timelines_) {
    if (t.offsets.empty()) continue;  // added through its maintenance records
    b->AddTimeline(key, KeyHash(key), t.first_seq, t.last_ts, t.offsets);
  }
  for (const auto& m : mutations_) b->AddMutation(m.key, KeyHash(m.key), m.type, m.seq, m.offset);
  for (const auto& d : dedupes_) b->AddDedupe(d.key, d.cmid_hash, d.seq, d.ts);
}

}  // namespace tldb
