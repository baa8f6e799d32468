#include "index/index_model.h"

#include <algorithm>

namespace tldb {
IndexModel BuildIndexModel(const SegmentFile& seg) {
  IndexModel m;
  m.data_end = static_cast<uint32_t>(seg.scan.valid_end);
  m.generation = seg.gen;
  m.compressed = seg.compressed;
  RecordIndexer indexer;
  seg.ForEachRecord([&](uint64_t off, const RecordView& r) { indexer.Add(off, r); });
  indexer.Finish();
  m.timelines = indexer.timelines();
  m.dedupes = indexer.dedupes();
  m.later_target_dedupes = indexer.later_target_dedupes();
  m.mutations = indexer.mutations();
  m.gaps = indexer.gaps();
  m.disorder = indexer.disorder();
  m.min_ts = indexer.min_ts();
  m.max_ts = indexer.max_ts();
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

}  // namespace tldb
