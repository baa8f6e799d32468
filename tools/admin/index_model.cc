#include "index_model.h"

#include <algorithm>

namespace tldb::admin {
namespace {

void AddMessage(IndexModel* m, std::string_view key, Seq seq, uint64_t off, TimestampMs ts) {
  auto it = m->timelines.find(key);
  if (it == m->timelines.end())
    it = m->timelines.emplace(std::string(key), IndexModel::Timeline{}).first;
  IndexModel::Timeline& t = it->second;
  if (t.first_seq == 0) {
    t.first_seq = seq;
  } else if (seq != t.first_seq + t.offsets.size()) {
    m->gaps.push_back({std::string(key), t.first_seq + t.offsets.size(), seq, off});
    return;
  }
  t.last_ts = ts;
  t.offsets.push_back(static_cast<uint32_t>(off));
}

}  // namespace

IndexModel BuildIndexModel(const SegmentFile& seg) {
  IndexModel m;
  m.data_end = static_cast<uint32_t>(seg.scan.valid_end);
  seg.ForEachRecord([&](uint64_t off, const RecordView& r) {
    bool first = true;
    ForEachMessage(r, [&](std::string_view key, Seq seq) {
      AddMessage(&m, key, seq, off, r.timestamp_ms);
      if (first && !r.client_msg_id.empty()) {
        m.dedupes.push_back(
            {std::string(key), DedupeHash(KeyHash(key), r.client_msg_id), seq, r.timestamp_ms});
      }
      first = false;
    });
    m.min_ts = m.min_ts == 0 ? r.timestamp_ms : std::min(m.min_ts, r.timestamp_ms);
    m.max_ts = std::max(m.max_ts, r.timestamp_ms);
  });
  return m;
}

std::string SerializeIndex(const IndexModel& m, uint32_t namespace_id, uint64_t segment_id) {
  SegmentIndexBuilder b(namespace_id, segment_id);
  for (const auto& [key, t] : m.timelines) {
    b.AddTimeline(key, KeyHash(key), t.first_seq, t.last_ts, t.offsets);
  }
  for (const auto& d : m.dedupes) b.AddDedupe(d.key, d.cmid_hash, d.seq, d.ts);
  return b.Finish(m.data_end, m.min_ts, m.max_ts);
}

}  // namespace tldb::admin
