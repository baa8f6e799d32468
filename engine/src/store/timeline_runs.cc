#include "store/timeline_runs.h"

#include "util/check.h"

namespace tldb {
namespace {
std::vector<uint32_t>& Buffer() {
  thread_local std::vector<uint32_t> buffer;
  return buffer;
}
thread_local bool buffer_in_use = false;
}  // namespace

TimelineRuns::TimelineRuns(const NamespaceState& st, uint32_t timeline)
    : st_(st), key_(st.table.key(timeline)), key_hash_(KeyHash(key_)), ids_(Buffer()) {
  TLDB_CHECK(!buffer_in_use);  // one per thread at a time: they share the buffer
  buffer_in_use = true;
  const TimelineState& ts = st.table.state(timeline);
  ts.segs.Decode(&ids_);
  if (ts.active_slot != kNoSlot) slot_ = &st.active->slot(ts.active_slot);
}

TimelineRuns::~TimelineRuns() {
  buffer_in_use = false;
}

Status TimelineRuns::At(size_t i, Run* r) const {
  if (i == ids_.size()) {
    r->seg = nullptr;
    r->slot = slot_;
    r->first = slot_->first_seq();
    r->count = slot_->size();
    return Status::Ok();
  }
  r->seg = st_.Sealed(ids_[i]);
  if (r->seg == nullptr) return Status::Deleted("message expired");
  if (r->seg->failed()) return Status::IOError(r->seg->FailedError(st_.dir));
  if (!r->seg->index.Find(key_, key_hash_, &r->entry) || r->entry.count == 0) {
    return Status::Corruption(st_.SegmentName(ids_[i]) + ": index lacks timeline '" +
                              std::string(key_) + "'");
  }
  r->first = r->entry.first_seq;
  r->count = r->entry.count;
  return Status::Ok();
}

bool TimelineRuns::Seek(Seq seq, bool forward, size_t* at, Run* r, Status* s) const {
  size_t lo = 0, hi = size();
  if (hi > 0) {  // newest run first
    *s = At(hi - 1, r);
    if (!s->ok()) return false;
    if (seq > r->last()) {
      if (forward) return false;
      *at = hi - 1;
      return true;
    }
    if (seq >= r->first) {
      *at = hi - 1;
      return true;
    }
  }
  while (lo < hi) {  // first run with last() >= seq
    const size_t mid = lo + (hi - lo) / 2;
    *s = At(mid, r);
    if (!s->ok()) return false;
    if (r->last() < seq) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == size()) return false;
  *s = At(lo, r);
  if (!s->ok()) return false;
  if (!forward && r->first > seq) {
    if (lo == 0) return false;
    *s = At(--lo, r);
    if (!s->ok()) return false;
  }
  *at = lo;
  return true;
}

Status TimelineRuns::Read(const RecordFetcher& fetch, const Run& run, Seq seq,
                          RecordView* rec) const {
  const uint64_t i = seq - run.first;
  TLDB_CHECK(seq >= run.first && i < run.count);
  if (run.seg == nullptr) {
    return fetch.Active((*run.slot)[static_cast<uint32_t>(i)], key_, seq, rec);
  }
  const uint32_t off = run.seg->index.Offset(run.entry, static_cast<uint32_t>(i));
  if (off == index_format::kGapOffset) return Status::Deleted("message was deleted");
  return fetch.Sealed(*run.seg, off, key_, seq, rec);
}

}  // namespace tldb
