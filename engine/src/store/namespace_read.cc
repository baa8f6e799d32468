// NamespaceLog read path: Get, Scan, LastSeq. Readers hold mu_ shared while they locate and copy
// records; every record read is checksum-verified and must hold the (timeline, SeqId) the
// index promised.
#include <algorithm>

#include "log/file_names.h"
#include "store/namespace_log.h"
#include "util/check.h"

namespace tldb {

Message NamespaceLog::ToMessage(const RecordView& r, Seq seq) {
  Message m;
  m.seq = seq;
  m.timestamp_ms = r.timestamp_ms;
  m.client_msg_id.assign(r.client_msg_id);
  m.payload.assign(r.payload);
  return m;
}

const SealedSegment* NamespaceLog::Sealed(uint32_t id) const {
  auto it = sealed_.find(id);
  return it == sealed_.end() ? nullptr : it->second.get();
}

Status NamespaceLog::DecodeAt(std::span<const char> bytes, uint64_t segment_id, uint64_t offset,
                              std::string_view key, Seq seq, RecordView* r) {
  if (DecodeRecord(bytes, segment_id, offset, r) != DecodeOutcome::kOk) {
    return Status::Corruption(SegmentName(segment_id) + " offset " + std::to_string(offset) +
                              ": damaged record (checksum or framing)");
  }
  Seq got = 0;
  if (!RecordSeqFor(*r, key, &got) || got != seq) {
    return Status::Corruption(SegmentName(segment_id) + " offset " + std::to_string(offset) +
                              ": index points at a record of another timeline or SeqId");
  }
  return Status::Ok();
}

// Walks one timeline's records segment by segment. Run i < ids.size() is the timeline's part of
// sealed segment ids[i]; run ids.size() is its part of the active segment, if any. SeqIds grow
// with i, so the run holding a SeqId is found by binary search. Valid while mu_ is held.
class TimelineReader {
 public:
  struct Run {
    Seq first = 0;
    uint64_t count = 0;
    const SealedSegment* seg = nullptr;  // null: the active segment
    IndexEntry entry;
    const ActiveSegment::Slot* slot = nullptr;
  };

  TimelineReader(NamespaceLog* log, uint32_t timeline)
      : log_(log), key_(log->table_.key(timeline)), key_hash_(KeyHash(key_)), ids_(Buffer()) {
    TLDB_CHECK(!buffer_in_use_);  // one reader per thread at a time: they share the buffer
    buffer_in_use_ = true;
    const TimelineState& st = log->table_.state(timeline);
    st.segs.Decode(&ids_);
    if (st.active_slot != kNoSlot) slot_ = &log->active_->slot(st.active_slot);
  }
  ~TimelineReader() { buffer_in_use_ = false; }
  TimelineReader(const TimelineReader&) = delete;
  TimelineReader& operator=(const TimelineReader&) = delete;

  size_t runs() const { return ids_.size() + (slot_ ? 1 : 0); }

  Status RunAt(size_t i, Run* r) const {
    if (i == ids_.size()) {
      r->seg = nullptr;
      r->slot = slot_;
      r->first = slot_->first_seq();
      r->count = slot_->size();
      return Status::Ok();
    }
    r->seg = log_->Sealed(ids_[i]);
    if (r->seg == nullptr) return Status::NotFound("message expired");
    if (!r->seg->index.Find(key_, key_hash_, &r->entry)) {
      return Status::Corruption(log_->SegmentName(ids_[i]) + ": index lacks timeline '" +
                                std::string(key_) + "'");
    }
    r->first = r->entry.first_seq;
    r->count = r->entry.count;
    return Status::Ok();
  }

  // The run holding `seq`; NotFound if none does. The newest run is tried first: IM reads are
  // mostly of recent messages.
  Status FindRun(Seq seq, size_t* at, Run* r) const {
    if (runs() == 0) return Status::NotFound("no such message");
    size_t lo = 0, hi = runs() - 1;
    TLDB_RETURN_IF_ERROR(RunAt(hi, r));
    if (seq >= r->first) {
      if (seq - r->first >= r->count) return Status::NotFound("no such message");
      *at = hi;
      return Status::Ok();
    }
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      TLDB_RETURN_IF_ERROR(RunAt(mid, r));
      if (seq < r->first) {
        hi = mid;
      } else if (seq >= r->first + r->count) {
        lo = mid + 1;
      } else {
        *at = mid;
        return Status::Ok();
      }
    }
    return Status::NotFound("no such message");
  }

  Status Read(const Run& run, Seq seq, RecordView* rec) const {
    const uint64_t i = seq - run.first;
    TLDB_CHECK(seq >= run.first && i < run.count);
    if (run.seg == nullptr) {
      const uint64_t off = (*run.slot)[static_cast<uint32_t>(i)];
      const ActiveSegment& a = *log_->active_;
      return log_->DecodeAt(a.At(off), a.id(), off, key_, seq, rec);
    }
    const uint64_t off = run.seg->index.Offset(run.entry, static_cast<uint32_t>(i));
    const auto data = run.seg->data->data();
    const uint64_t data_end = std::min<uint64_t>(data.size(), run.seg->index.summary().data_end);
    if (off >= data_end) {
      return Status::Corruption(log_->SegmentName(run.seg->id) + ": index offset " +
                                std::to_string(off) + " beyond segment data");
    }
    return log_->DecodeAt(data.subspan(off, data_end - off), run.seg->id, off, key_, seq, rec);
  }

 private:
  NamespaceLog* log_;
  std::string_view key_;
  uint64_t key_hash_;
  // Segment ids, decoded into a per-thread buffer (no allocation per read).
  static std::vector<uint32_t>& Buffer() {
    thread_local std::vector<uint32_t> buffer;
    return buffer;
  }
  static thread_local bool buffer_in_use_;

  std::vector<uint32_t>& ids_;
  const ActiveSegment::Slot* slot_ = nullptr;
};

thread_local bool TimelineReader::buffer_in_use_ = false;

Status NamespaceLog::LocateLocked(uint32_t timeline, Seq seq, RecordView* r) {
  const TimelineState& st = table_.state(timeline);
  if (st.active_slot != kNoSlot) {  // fast path: recent messages
    const ActiveSegment::Slot& slot = active_->slot(st.active_slot);
    if (seq >= slot.first_seq() && seq - slot.first_seq() < slot.size()) {
      const uint64_t off = slot[static_cast<uint32_t>(seq - slot.first_seq())];
      return DecodeAt(active_->At(off), active_->id(), off, table_.key(timeline), seq, r);
    }
  }
  TimelineReader reader(this, timeline);
  TimelineReader::Run run;
  size_t at = 0;
  TLDB_RETURN_IF_ERROR(reader.FindRun(seq, &at, &run));
  return reader.Read(run, seq, r);
}

Result<Message> NamespaceLog::Get(std::string_view key, Seq seq) {
  counters_.gets++;
  std::shared_lock l(mu_);
  const uint32_t id = table_.Find(key, KeyHash(key));
  if (id == TimelineTable::kNone) {
    return Status::NotFound("timeline '" + std::string(key) + "' does not exist");
  }
  if (seq > table_.state(id).visible_seq()) {
    return Status::NotFound("timeline '" + std::string(key) + "' has no seq " +
                            std::to_string(seq));
  }
  RecordView r;
  TLDB_RETURN_IF_ERROR(LocateLocked(id, seq, &r));
  return ToMessage(r, seq);
}

Result<std::vector<Message>> NamespaceLog::Scan(std::string_view key, const ScanOptions& o) {
  counters_.scans++;
  std::vector<Message> out;
  std::shared_lock l(mu_);
  const uint32_t id = table_.Find(key, KeyHash(key));
  if (id == TimelineTable::kNone || o.limit == 0) return out;
  const Seq visible = table_.state(id).visible_seq();
  Seq lo = std::max<Seq>(o.from_seq, 1);
  const Seq hi = o.to_seq == 0 ? visible : std::min(o.to_seq, visible);
  if (lo > hi) return out;
  const bool fwd = o.direction == Direction::kForward;
  TimelineReader reader(this, id);
  TimelineReader::Run run;
  size_t at = 0;
  Status s = reader.FindRun(fwd ? lo : hi, &at, &run);
  if (s.IsNotFound() && fwd && reader.runs() > 0) {
    // The oldest messages may be gone (expired): start at the oldest remaining one.
    TLDB_RETURN_IF_ERROR(reader.RunAt(0, &run));
    if (run.first > hi) return out;
    lo = std::max(lo, run.first);
    at = 0;
    s = Status::Ok();
  }
  if (s.IsNotFound()) return out;
  TLDB_RETURN_IF_ERROR(s);
  uint64_t bytes = 0;
  for (Seq seq = fwd ? lo : hi;;) {
    RecordView r;
    TLDB_RETURN_IF_ERROR(reader.Read(run, seq, &r));
    out.push_back(ToMessage(r, seq));
    bytes += r.payload.size();
    if (out.size() >= o.limit || bytes >= o.bytes_max || seq == (fwd ? hi : lo)) break;
    seq = fwd ? seq + 1 : seq - 1;
    if (seq < run.first || seq >= run.first + run.count) {  // next run
      if (fwd ? at + 1 >= reader.runs() : at == 0) break;
      at = fwd ? at + 1 : at - 1;
      s = reader.RunAt(at, &run);
      if (s.IsNotFound()) break;  // expired segment
      TLDB_RETURN_IF_ERROR(s);
      if (seq < run.first || seq >= run.first + run.count) break;  // a gap: nothing older
    }
  }
  return out;
}

Seq NamespaceLog::LastSeq(std::string_view key) {
  std::shared_lock l(mu_);
  const uint32_t id = table_.Find(key, KeyHash(key));
  return id == TimelineTable::kNone ? 0 : table_.state(id).visible_seq();
}

}  // namespace tldb
