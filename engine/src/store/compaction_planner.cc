#include "store/compaction_planner.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include "util/test_hook.h"

namespace tldb {

uint32_t CompactionPlanner::LivePercent(const SealedSegment& seg, bool* disowned) const {
  // Index entries and their messages judged per hold of mu (shared): an append's commit takes
  // mu exclusively, and an entry of a fan-out segment holds hundreds of messages.
  constexpr uint64_t kWorkPerHold = 4096;
  const SegmentIndexReader& idx = seg.index;
  const auto self = static_cast<uint32_t>(seg.id);
  auto only_this = [self](uint32_t segment) { return segment == self; };
  const std::shared_ptr<const TimelineOwnership> ownership = st_.Ownership();
  std::vector<bool> owned;  // per entry of the batch, asked with no lock held
  if (disowned != nullptr) *disowned = false;
  uint64_t total = 0, live = 0;
  for (uint32_t from = 0, to = 0; from < idx.timeline_count(); from = to) {
    TLDB_TEST_HOOK("plan.between_batches");  // no lock held here
    for (uint64_t work = 0; to < idx.timeline_count() && work < kWorkPerHold; ++to) {
      work += 1 + idx.Entry(to).count;
    }
    owned.clear();
    for (uint32_t i = from; i < to; ++i) {
      owned.push_back(TimelineRules::Owned(ownership.get(), st_.entry.name, idx.Entry(i).key));
    }
    const TimelineRules::Limits limits = st_.Limits();
    std::shared_lock l(st_.mu);
    for (uint32_t i = from; i < to; ++i) {
      const IndexEntry e = idx.Entry(i);
      const uint32_t tl = st_.table.Find(e.key, e.key_hash);
      const Seq visible = tl == TimelineTable::kNone ? 0 : st_.table.state(tl).visible_seq();
      for (uint32_t k = 0; k < e.count; ++k) {
        if (idx.Offset(e, k) == index_format::kGapOffset) continue;
        ++total;
        if (!owned[i - from] && disowned != nullptr) *disowned = true;
        // The newest timestamp of the timeline here stands for all its messages (planning only).
        if (tl != TimelineTable::kNone &&
            st_.rules.SurvivesRewrite(owned[i - from], tl, e.first_seq + k, e.last_ts, visible,
                                      limits, only_this)) {
          ++live;
        }
      }
    }
  }
  return total == 0 ? 0 : static_cast<uint32_t>(live * 100 / total);
}

// Recomputed when maintenance records changed the rules or the ownership changed, or once a
// minute (records expire as time passes): planning then costs no scan of every index on every
// pass.
uint32_t CompactionPlanner::CachedLivePercent(SealedSegment& seg) {
  constexpr int64_t kLiveCacheMs = 60'000;
  uint64_t epoch = 0;
  {
    std::shared_lock l(st_.mu);
    epoch = st_.rules.epoch();
  }
  // Both counters only grow, so their sum changes whenever either does.
  epoch += st_.ownership_gen();
  const int64_t now = st_.clock->MonoMs();
  if (seg.live_epoch != epoch || now - seg.live_mono_ms > kLiveCacheMs) {
    seg.live_pct = LivePercent(seg, &seg.live_disowned);
    seg.live_epoch = epoch;
    seg.live_mono_ms = now;
  }
  return seg.live_pct;
}

std::vector<std::vector<const SealedSegment*>> CompactionPlanner::Plan(bool full) {
  const NamespaceOptions opts = st_.options();
  const uint32_t pct = opts.compact_live_pct;
  std::vector<SealedSegment*> segments;  // a snapshot: only maintenance removes segments
  std::vector<bool> quarantined;         // the scrub found it damaged (read under the lock)
  {
    std::shared_lock l(st_.mu);
    for (const auto& [id, seg] : st_.sealed) {
      segments.push_back(seg.get());
      quarantined.push_back(seg->quarantine.has_value());
    }
  }
  std::vector<std::vector<const SealedSegment*>> runs;
  std::vector<const SealedSegment*> run;
  uint64_t run_bytes = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    SealedSegment* seg = segments[i];
    // Unreadable (its reads answer IOError) or damaged (quarantined): not rewritten, which would
    // fail or carry the damage into a new segment whose checksums hide it.
    if (seg->failed() || quarantined[i]) {
      if (!run.empty()) runs.push_back(std::move(run));
      run.clear();
      run_bytes = 0;
      continue;
    }
    // A segment a follower still needs as written stays as it is (replication).
    const bool held = seg->id >= st_.retain_from.load();
    const bool want = !held && (full || (seg->gen == 0 && opts.ttl_ms == 0) ||
                                CachedLivePercent(*seg) < pct || seg->live_disowned);
    const uint64_t bytes = seg->data_end();
    if (!want || (!run.empty() && run_bytes + bytes > kRunInputBytesMax)) {
      if (!run.empty()) runs.push_back(std::move(run));
      run.clear();
      run_bytes = 0;
    }
    if (want) {
      if (full) CachedLivePercent(*seg);
      run.push_back(seg);
      run_bytes += bytes;
    }
  }
  if (!run.empty()) runs.push_back(std::move(run));
  // A lone compacted segment that is only there because of `full` gains nothing.
  std::erase_if(runs, [&](const auto& r) {
    return full && r.size() == 1 && r.front()->gen != 0 && r.front()->live_pct >= 100;
  });
  return runs;
}

}  // namespace tldb
