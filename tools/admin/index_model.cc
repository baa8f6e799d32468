#include "index_model.h"

#include <algorithm>

namespace tldb::admin {
namespace {

IndexModel::Timeline& TimelineOf(IndexModel* m, std::string_view key) {
  auto it = m->timelines.find(key);
  if (it == m->timelines.end()) {
    it = m->timelines.emplace(std::string(key), IndexModel::Timeline{}).first;
  }
  return it->second;
}

struct SeqAt {
  Seq seq;
  uint32_t offset;
  TimestampMs ts;
};

// Offsets by SeqId with kGapOffset in skipped slots. A compaction output stores each fan-out
// at its first target's place, so its other targets' SeqIds can come out of record order:
// they are sorted first (as the compactor does).
void Finish(IndexModel* m, const std::string& key, std::vector<SeqAt>& seqs) {
  std::stable_sort(seqs.begin(), seqs.end(),
                   [](const SeqAt& a, const SeqAt& b) { return a.seq < b.seq; });
  IndexModel::Timeline& t = TimelineOf(m, key);
  for (const SeqAt& x : seqs) {
    if (t.first_seq == 0) {
      t.first_seq = x.seq;
    } else {
      const Seq next = t.first_seq + t.offsets.size();
      if (x.seq < next) {
        m->disorder.push_back({key, next, x.seq, x.offset});
        continue;
      }
      if (x.seq > next) m->gaps.push_back({key, next, x.seq, x.offset});
      while (t.first_seq + t.offsets.size() < x.seq) t.offsets.push_back(index_format::kGapOffset);
    }
    t.last_ts = std::max(t.last_ts, x.ts);
    t.offsets.push_back(x.offset);
  }
}

}  // namespace

IndexModel BuildIndexModel(const SegmentFile& seg) {
  IndexModel m;
  m.data_end = static_cast<uint32_t>(seg.scan.valid_end);
  m.generation = seg.gen;
  m.compressed = seg.compressed;
  std::map<std::string, std::vector<SeqAt>, std::less<>> seqs;
  seg.ForEachRecord([&](uint64_t off, const RecordView& r) {
    bool first = true;
    ForEachMessage(r, [&](std::string_view key, Seq seq) {
      auto it = seqs.find(key);
      if (it == seqs.end()) it = seqs.emplace(std::string(key), std::vector<SeqAt>{}).first;
      it->second.push_back({seq, static_cast<uint32_t>(off), r.timestamp_ms});
      if (first && !r.client_msg_id.empty()) {
        m.dedupes.push_back(
            {std::string(key), DedupeHash(KeyHash(key), r.client_msg_id), seq, r.timestamp_ms});
      }
      first = false;
    });
    if (IsMaintenance(r.type)) {
      TimelineOf(&m, r.key);  // a count-0 entry if the timeline has no message here
      m.mutations.push_back(
          {std::string(r.key), static_cast<uint8_t>(r.type), r.seq, static_cast<uint32_t>(off)});
    }
    m.min_ts = m.min_ts == 0 ? r.timestamp_ms : std::min(m.min_ts, r.timestamp_ms);
    m.max_ts = std::max(m.max_ts, r.timestamp_ms);
  });
  for (auto& [key, v] : seqs) Finish(&m, key, v);
  if (seg.compressed) {
    for (const BlockInfo& b : seg.blocks) {
      if (!b.ok || uint64_t{b.header.raw_start} + b.header.raw_bytes > seg.scan.valid_end) break;
      m.blocks.push_back({b.header.raw_start, static_cast<uint32_t>(b.file_offset),
                          b.header.stored_bytes, b.header.raw_bytes});
    }
  }
  return m;
}

std::string SerializeIndex(const IndexModel& m, uint32_t namespace_id, uint64_t segment_id) {
  SegmentIndexBuilder b(namespace_id, segment_id);
  b.SetGeneration(m.generation, m.compressed);
  for (const auto& [key, t] : m.timelines) {
    if (t.offsets.empty()) continue;  // added through its mutations
    b.AddTimeline(key, KeyHash(key), t.first_seq, t.last_ts, t.offsets);
  }
  for (const auto& x : m.mutations) b.AddMutation(x.key, KeyHash(x.key), x.type, x.seq, x.offset);
  for (const auto& d : m.dedupes) b.AddDedupe(d.key, d.cmid_hash, d.seq, d.ts);
  for (const auto& blk : m.blocks) b.AddBlock(blk);
  return b.Finish(m.data_end, m.min_ts, m.max_ts);
}

}  // namespace tldb::admin
