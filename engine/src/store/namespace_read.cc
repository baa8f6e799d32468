// NamespaceLog read path: Get, Scan, LastSeq. Readers hold mu_ shared while they locate and copy
// records; every record read is checksum-verified and must hold the (timeline, SeqId) the
// index promised. Deletion rules (trim points, recalls, edits, gaps left by compaction, TTL)
// are applied per SeqId by LocateLive / ReadLive.
#include <algorithm>

#include "log/block_codec.h"
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

Status NamespaceLog::DecodeAt(std::span<const char> bytes, uint64_t segment_id, uint32_t gen,
                              uint64_t offset, std::string_view key, Seq seq, RecordView* r) {
  if (DecodeRecord(bytes, ChecksumId(segment_id, gen), offset, r) != DecodeOutcome::kOk) {
    return Status::Corruption(SegmentFileName(dir_, segment_id, gen) + " offset " +
                              std::to_string(offset) + ": damaged record (checksum or framing)");
  }
  if (!RecordHolds(*r, key, seq)) {
    return Status::Corruption(SegmentFileName(dir_, segment_id, gen) + " offset " +
                              std::to_string(offset) +
                              ": index points at a record of another timeline or SeqId");
  }
  return Status::Ok();
}

namespace {
// The block this thread read last: a scan reads many records of one block in a row, and the
// views it returns point into it, so it is held until this thread's next block.
struct LastBlock {
  BlockCache::Key key{};
  BlockCache::Block block;
};
thread_local LastBlock last_block;
}  // namespace

Status NamespaceLog::SealedBytes(const SealedSegment& seg, uint64_t off,
                                 std::span<const char>* out) {
  const auto data = seg.data->data();
  const uint64_t data_end = seg.index.summary().data_end;
  if (off >= data_end || off < format::kSegmentHeaderBytes) {
    return Status::Corruption(SegmentFileName(dir_, seg.id, seg.gen) + ": index offset " +
                              std::to_string(off) + " beyond segment data");
  }
  if (!seg.compressed) {
    const uint64_t end = std::min<uint64_t>(data.size(), data_end);
    *out = data.subspan(off, end - off);
    return Status::Ok();
  }
  IndexBlock b;
  if (!seg.index.FindBlock(static_cast<uint32_t>(off), &b) || b.file_offset >= data.size()) {
    return Status::Corruption(SegmentFileName(dir_, seg.id, seg.gen) + ": no block holds offset " +
                              std::to_string(off));
  }
  const BlockCache::Key key{instance_id_, seg.gen, seg.id, b.raw_start};
  LastBlock& c = last_block;
  if (!c.block || !(c.key == key)) {
    BlockCache::Block block = block_cache_ ? block_cache_->Lookup(key) : nullptr;
    if (!block) {
      auto raw = std::make_shared<std::string>();
      BlockHeader h;
      TLDB_RETURN_IF_ERROR(DecodeBlock(data.subspan(b.file_offset), seg.checksum_id(),
                                       b.file_offset, SegmentFileName(dir_, seg.id, seg.gen), &h,
                                       raw.get()));
      if (h.raw_start != b.raw_start || h.raw_bytes != b.raw_bytes) {
        return Status::Corruption(SegmentFileName(dir_, seg.id, seg.gen) + " offset " +
                                  std::to_string(b.file_offset) + ": block differs from its index");
      }
      block = std::move(raw);
      if (block_cache_) block_cache_->Insert(key, block);
    }
    c.key = key;
    c.block = std::move(block);
  }
  *out = std::span<const char>(*c.block).subspan(off - b.raw_start);
  return Status::Ok();
}

Status NamespaceLog::RecordAt(uint32_t segment, uint64_t offset, std::string_view key, Seq seq,
                              RecordView* r) {
  if (active_ && segment == active_->id()) {
    return DecodeAt(active_->At(offset), segment, 0, offset, key, seq, r);
  }
  const SealedSegment* seg = Sealed(segment);
  if (seg == nullptr) return Status::Deleted("message expired");
  std::span<const char> bytes;
  TLDB_RETURN_IF_ERROR(SealedBytes(*seg, offset, &bytes));
  return DecodeAt(bytes, seg->id, seg->gen, offset, key, seq, r);
}

// Walks one timeline's records segment by segment. Run i < ids.size() is the timeline's part of
// sealed segment ids[i]; run ids.size() is its part of the active segment, if any. SeqIds grow
// with i, so the run holding a SeqId is found by binary search. A run of a compacted segment
// may have gaps (kGapOffset: deleted), and SeqIds between runs are deleted ones. Valid while
// mu_ is held.
class TimelineReader {
 public:
  struct Run {
    Seq first = 0;
    uint64_t count = 0;
    const SealedSegment* seg = nullptr;  // null: the active segment
    IndexEntry entry;
    const ActiveSegment::Slot* slot = nullptr;
    Seq last() const { return first + count - 1; }
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
  std::string_view key() const { return key_; }

  Status RunAt(size_t i, Run* r) const {
    if (i == ids_.size()) {
      r->seg = nullptr;
      r->slot = slot_;
      r->first = slot_->first_seq();
      r->count = slot_->size();
      return Status::Ok();
    }
    r->seg = log_->Sealed(ids_[i]);
    if (r->seg == nullptr) return Status::Deleted("message expired");
    if (!r->seg->index.Find(key_, key_hash_, &r->entry) || r->entry.count == 0) {
      return Status::Corruption(log_->SegmentName(ids_[i]) + ": index lacks timeline '" +
                                std::string(key_) + "'");
    }
    r->first = r->entry.first_seq;
    r->count = r->entry.count;
    return Status::Ok();
  }

  // The first run whose last SeqId is >= seq (forward) or the last run whose first SeqId is
  // <= seq (backward); false if there is none.
  bool Seek(Seq seq, bool forward, size_t* at, Run* r, Status* s) const {
    size_t lo = 0, hi = runs();
    // Newest run first: IM reads are mostly of recent messages.
    if (hi > 0) {
      *s = RunAt(hi - 1, r);
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
      *s = RunAt(mid, r);
      if (!s->ok()) return false;
      if (r->last() < seq) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (lo == runs()) return false;
    *s = RunAt(lo, r);
    if (!s->ok()) return false;
    if (!forward && r->first > seq) {
      if (lo == 0) return false;
      *s = RunAt(--lo, r);
      if (!s->ok()) return false;
    }
    *at = lo;
    return true;
  }

  // The record of `seq` as stored in `run`: Deleted for a gap.
  Status Read(const Run& run, Seq seq, RecordView* rec) const {
    const uint64_t i = seq - run.first;
    TLDB_CHECK(seq >= run.first && i < run.count);
    if (run.seg == nullptr) {
      const uint64_t off = (*run.slot)[static_cast<uint32_t>(i)];
      const ActiveSegment& a = *log_->active_;
      return log_->DecodeAt(a.At(off), a.id(), 0, off, key_, seq, rec);
    }
    const uint32_t off = run.seg->index.Offset(run.entry, static_cast<uint32_t>(i));
    if (off == index_format::kGapOffset) return Status::Deleted("message was deleted");
    std::span<const char> bytes;
    TLDB_RETURN_IF_ERROR(log_->SealedBytes(*run.seg, off, &bytes));
    return log_->DecodeAt(bytes, run.seg->id, run.seg->gen, off, key_, seq, rec);
  }

  // One SeqId of a scan with the deletion rules applied (Deleted: skip it).
  Status ReadLive(const Run& run, uint32_t timeline, Seq seq, RecordView* r) const {
    const MutationOverlay& ov = log_->overlay_;
    if (const MutationOverlay::Entry* e = ov.empty() ? nullptr : ov.Find(timeline, seq)) {
      if (e->kind == MutationOverlay::Kind::kRecalled) return Status::Deleted("recalled");
      TLDB_RETURN_IF_ERROR(log_->RecordAt(e->segment, e->offset, key_, seq, r));
    } else {
      TLDB_RETURN_IF_ERROR(Read(run, seq, r));
    }
    if (log_->Expired(r->timestamp_ms)) return Status::Deleted("expired");
    return Status::Ok();
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
      return DecodeAt(active_->At(off), active_->id(), 0, off, table_.key(timeline), seq, r);
    }
  }
  TimelineReader reader(this, timeline);
  TimelineReader::Run run;
  size_t at = 0;
  Status s;
  if (!reader.Seek(seq, /*forward=*/true, &at, &run, &s)) {
    TLDB_RETURN_IF_ERROR(s);
    return Status::NotFound("no such message");
  }
  if (seq < run.first) return Status::Deleted("message was deleted");  // between two runs
  return reader.Read(run, seq, r);
}

Status NamespaceLog::LocateLive(uint32_t timeline, Seq seq, RecordView* r) {
  if (seq < FirstKept(timeline)) return Status::Deleted("message was trimmed or deleted");
  if (const MutationOverlay::Entry* e = overlay_.empty() ? nullptr : overlay_.Find(timeline, seq)) {
    if (e->kind == MutationOverlay::Kind::kRecalled) return Status::Deleted("message was recalled");
    TLDB_RETURN_IF_ERROR(RecordAt(e->segment, e->offset, table_.key(timeline), seq, r));
  } else {
    Status s = LocateLocked(timeline, seq, r);
    if (s.IsNotFound() && seq <= table_.state(timeline).last_seq) {
      return Status::Deleted("message was deleted");
    }
    TLDB_RETURN_IF_ERROR(s);
  }
  if (Expired(r->timestamp_ms)) return Status::Deleted("message expired");
  return Status::Ok();
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
  TLDB_RETURN_IF_ERROR(LocateLive(id, seq, &r));
  return ToMessage(r, seq);
}

Result<std::vector<Message>> NamespaceLog::Scan(std::string_view key, const ScanOptions& o) {
  counters_.scans++;
  std::vector<Message> out;
  std::shared_lock l(mu_);
  const uint32_t id = table_.Find(key, KeyHash(key));
  if (id == TimelineTable::kNone || o.limit == 0) return out;
  const Seq visible = table_.state(id).visible_seq();
  const Seq lo = std::max<Seq>(o.from_seq, FirstKept(id));
  const Seq hi = o.to_seq == 0 ? visible : std::min(o.to_seq, visible);
  if (lo > hi) return out;
  const bool fwd = o.direction == Direction::kForward;
  TimelineReader reader(this, id);
  TimelineReader::Run run;
  size_t at = 0;
  Status s;
  if (!reader.Seek(fwd ? lo : hi, fwd, &at, &run, &s)) {
    TLDB_RETURN_IF_ERROR(s);
    return out;
  }
  uint64_t bytes = 0;
  for (;;) {
    const Seq first = std::max(lo, run.first), last = std::min(hi, run.last());
    for (Seq seq = fwd ? first : last; first <= last && seq >= first && seq <= last;
         seq = fwd ? seq + 1 : seq - 1) {
      RecordView r;
      s = reader.ReadLive(run, id, seq, &r);
      if (s.code() == Status::Code::kDeleted) continue;
      TLDB_RETURN_IF_ERROR(s);
      out.push_back(ToMessage(r, seq));
      bytes += r.payload.size();
      if (out.size() >= o.limit || bytes >= o.bytes_max) return out;
    }
    do {  // the next run in scan order (skipping expired segments)
      if (fwd ? at + 1 >= reader.runs() : at == 0) return out;
      at = fwd ? at + 1 : at - 1;
      s = reader.RunAt(at, &run);
    } while (s.code() == Status::Code::kDeleted);
    TLDB_RETURN_IF_ERROR(s);
    if (fwd ? run.first > hi : run.last() < lo) return out;
  }
}

Seq NamespaceLog::LastSeq(std::string_view key) {
  std::shared_lock l(mu_);
  const uint32_t id = table_.Find(key, KeyHash(key));
  return id == TimelineTable::kNone ? 0 : table_.state(id).visible_seq();
}

}  // namespace tldb
