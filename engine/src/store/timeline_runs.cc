#include "store/timeline_runs.h"

#include "util/check.h"

namespace tldb {
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
  if (r->seg->quarantine) return Status::Corruption(r->seg->QuarantineError(st_.dir));
  if (!r->seg->index.Find(key_, key_hash_, &r->entry) || r->entry.count == 0) {
    // A disk read error under the index shows as zeros: checked here, off the fast path.
    if (r->seg->failed()) return Status::IOError(r->seg->FailedError(st_.dir));
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

}  // namespace tldb
