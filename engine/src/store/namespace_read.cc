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

Status NamespaceLog::LocateLocked(uint32_t timeline, Seq seq, RecordView* r) {
  const TimelineState& st = table_.state(timeline);
  const std::string_view key = table_.key(timeline);
  if (st.active_slot != kNoSlot) {
    const ActiveSegment::Slot& slot = active_->slot(st.active_slot);
    if (seq >= slot.first_seq) {
      const uint64_t i = seq - slot.first_seq;
      if (i >= slot.offsets.size()) return Status::NotFound("no such message");
      const uint64_t off = slot.offsets[i];
      return DecodeAt(active_->At(off), active_->id(), off, key, seq, r);
    }
  }
  thread_local std::vector<uint32_t> ids;
  st.segs.Decode(&ids);
  const uint64_t key_hash = KeyHash(key);
  size_t lo = 0, hi = ids.size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const SealedSegment* seg = Sealed(ids[mid]);
    if (seg == nullptr) return Status::NotFound("message expired");
    IndexEntry e;
    if (!seg->index.Find(key, key_hash, &e)) {
      return Status::Corruption(SegmentName(ids[mid]) + ": index lacks timeline '" +
                                std::string(key) + "'");
    }
    if (seq < e.first_seq) {
      hi = mid;
    } else if (seq >= e.first_seq + e.count) {
      lo = mid + 1;
    } else {
      const uint64_t off = seg->index.Offset(e, static_cast<uint32_t>(seq - e.first_seq));
      const auto data = seg->data->data();
      const uint64_t data_end = std::min<uint64_t>(data.size(), seg->index.summary().data_end);
      if (off >= data_end) {
        return Status::Corruption(SegmentName(seg->id) + ": index offset " + std::to_string(off) +
                                  " beyond segment data");
      }
      return DecodeAt(data.subspan(off, data_end - off), seg->id, off, key, seq, r);
    }
  }
  return Status::NotFound("no such message");
}

Result<Message> NamespaceLog::Get(std::string_view key, Seq seq) {
  counters_.gets++;
  std::shared_lock l(mu_);
  const uint32_t id = table_.Find(key, KeyHash(key));
  if (id == TimelineTable::kNone) {
    return Status::NotFound("timeline '" + std::string(key) + "' does not exist");
  }
  if (seq > table_.state(id).visible_seq) {
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
  const Seq visible = table_.state(id).visible_seq;
  const Seq lo = std::max<Seq>(o.from_seq, 1);
  const Seq hi = o.to_seq == 0 ? visible : std::min(o.to_seq, visible);
  if (lo > hi) return out;
  const bool fwd = o.direction == Direction::kForward;
  uint64_t bytes = 0;
  for (Seq s = fwd ? lo : hi;; s = fwd ? s + 1 : s - 1) {
    RecordView r;
    Status st = LocateLocked(id, s, &r);
    if (st.IsNotFound()) {
      // Older messages may be gone (expired); keep going towards the newer end.
      if (!fwd) break;
    } else if (!st.ok()) {
      return st;
    } else {
      out.push_back(ToMessage(r, s));
      bytes += r.payload.size();
    }
    if (out.size() >= o.limit || bytes >= o.bytes_max || s == (fwd ? hi : lo)) break;
  }
  return out;
}

Seq NamespaceLog::LastSeq(std::string_view key) {
  std::shared_lock l(mu_);
  const uint32_t id = table_.Find(key, KeyHash(key));
  return id == TimelineTable::kNone ? 0 : table_.state(id).visible_seq;
}

}  // namespace tldb
