#include "store/timeline_reader.h"

#include <algorithm>
#include <mutex>

#include "io/map_fault_registry.h"
#include "store/timeline_runs.h"
#include "util/check.h"

namespace tldb {

using Read = TimelineRules::Read;

Status TimelineReader::ReadError(std::string_view key) const {
  return Status::IOError("namespace '" + st_.entry.name + "', timeline '" + std::string(key) +
                         "': disk read error under a sealed segment");
}

Result<Message> TimelineReader::Get(std::string_view key, Seq seq) const {
  MapFaultScope faults;  // a mapping fault turns the read into IOError, not a crash
  Result<Message> r = GetImpl(key, seq);
  if (faults.Faulted()) r = ReadError(key);
  return r;  // one returned object: no copy or move of the message
}

namespace {

Message ToMessage(const RecordView& r, Seq seq) {
  Message m;
  m.seq = seq;
  m.timestamp_ms = r.timestamp_ms;
  m.client_msg_id.assign(r.client_msg_id);
  m.payload.assign(r.payload);
  return m;
}

// ScanInto's sinks: Scan's vector of messages, and ScanVisit's visitor.
struct MessageVectorSink {
  std::vector<Message> out;
  void Reserve(size_t n) { out.reserve(n); }
  size_t Add(const RecordView& r, Seq seq) {
    out.push_back(ToMessage(r, seq));
    return out.size();
  }
};

struct MessageVisitSink {
  const std::function<void(const MessageView&)>& visit;
  uint32_t count = 0;
  void Reserve(size_t /*n*/) {}
  size_t Add(const RecordView& r, Seq seq) {
    visit(MessageView{seq, r.timestamp_ms, r.client_msg_id, r.payload});
    return ++count;
  }
};

}  // namespace

Result<std::vector<Message>> TimelineReader::Scan(std::string_view key,
                                                  const ScanOptions& o) const {
  MapFaultScope faults;
  MessageVectorSink sink;
  const Status s = ScanInto(key, o, sink);
  if (faults.Faulted()) return ReadError(key);
  if (!s.ok()) return s;
  return std::move(sink.out);
}

Result<uint32_t> TimelineReader::ScanVisit(
    std::string_view key, const ScanOptions& o,
    const std::function<void(const MessageView&)>& visit) const {
  MapFaultScope faults;
  MessageVisitSink sink{visit};
  const Status s = ScanInto(key, o, sink);
  if (faults.Faulted()) return ReadError(key);
  if (!s.ok()) return s;
  return sink.count;
}

Status TimelineReader::LocateStored(uint32_t timeline, Seq seq, RecordView* r) const {
  const TimelineState& ts = st_.table.state(timeline);
  if (ts.active_slot != kNoSlot) {  // fast path: recent messages
    const ActiveSegment::Slot& slot = st_.active->slot(ts.active_slot);
    if (seq >= slot.first_seq() && seq - slot.first_seq() < slot.size()) {
      return fetch_.Active(slot[static_cast<uint32_t>(seq - slot.first_seq())],
                           st_.table.key(timeline), seq, r);
    }
  }
  TimelineRuns runs(st_, timeline);
  TimelineRuns::Run run;
  size_t at = 0;
  Status s;
  if (!runs.Seek(seq, /*forward=*/true, &at, &run, &s)) {
    TLDB_RETURN_IF_ERROR(s);
    return Status::NotFound("no such message");
  }
  if (seq < run.first) return Status::Deleted("message was deleted");  // between two runs
  return runs.Read(fetch_, run, seq, r);
}

Status TimelineReader::LocateLive(uint32_t timeline, Seq seq, const TimelineRules::Limits& l,
                                  RecordView* r) const {
  const TimelineState& ts = st_.table.state(timeline);
  const TimelineRules::Verdict v = st_.rules.Route(timeline, seq, ts.visible_seq(), l);
  if (v.read == Read::kDeleted) return Status::Deleted(v.why);
  if (v.read == Read::kEdited) {
    TLDB_RETURN_IF_ERROR(fetch_.At(v.segment, v.offset, st_.table.key(timeline), seq, r));
  } else {
    Status s = LocateStored(timeline, seq, r);
    if (s.IsNotFound() && seq <= ts.last_seq) return Status::Deleted("message was deleted");
    TLDB_RETURN_IF_ERROR(s);
  }
  if (TimelineRules::Expired(r->timestamp_ms, l)) return Status::Deleted("message expired");
  return Status::Ok();
}

Result<Message> TimelineReader::GetImpl(std::string_view key, Seq seq) const {
  st_.counters.gets.Add();
  const TimelineRules::Limits limits = st_.Limits();
  std::shared_lock l(st_.mu);
  const uint32_t id = st_.table.Find(key, KeyHash(key));
  if (id == TimelineTable::kNone) {
    return Status::NotFound("timeline '" + std::string(key) + "' does not exist");
  }
  if (seq > st_.table.state(id).visible_seq()) {
    return Status::NotFound("timeline '" + std::string(key) + "' has no seq " +
                            std::to_string(seq));
  }
  RecordView r;
  TLDB_RETURN_IF_ERROR(LocateLive(id, seq, limits, &r));
  return ToMessage(r, seq);
}

// Hints the records of `run` up to kScanPrefetchRecords after `seq` in scan order, within
// [first, last], each once (`*hinted`: the farthest record hinted, in scan order): a scan's
// records lie apart (a sealed segment interleaves timelines; a block is read backwards for the
// latest N), so each read is a cache miss unless fetched ahead. At most kScanPrefetchRecords
// hints per call, and no SeqId arithmetic that can wrap (SeqIds may reach 2^64 - 1).
void TimelineReader::HintAhead(const TimelineRuns& runs, const TimelineRuns::Run& run, Seq seq,
                               bool fwd, Seq first, Seq last, Seq* hinted) const {
  TLDB_CHECK(first <= seq && seq <= last);
  for (Seq d = 1; d <= kScanPrefetchRecords; ++d) {
    if (fwd ? last - seq < d : seq - first < d) return;  // past the end of the range
    const Seq n = fwd ? seq + d : seq - d;
    if (fwd ? n <= *hinted : n >= *hinted) continue;  // hinted before
    runs.Prefetch(fetch_, run, n);
    *hinted = n;
  }
}

template <typename Sink>
Status TimelineReader::ScanInto(std::string_view key, const ScanOptions& o, Sink& sink) const {
  st_.counters.scans.Add();
  const TimelineRules::Limits limits = st_.Limits();
  std::shared_lock l(st_.mu);
  const uint32_t id = st_.table.Find(key, KeyHash(key));
  if (id == TimelineTable::kNone || o.limit == 0) return Status::Ok();
  const Seq visible = st_.table.state(id).visible_seq();
  const Seq lo = std::max<Seq>(o.from_seq, st_.rules.FirstKept(id, visible, limits));
  const Seq hi = o.to_seq == 0 ? visible : std::min(o.to_seq, visible);
  if (lo > hi) return Status::Ok();
  // Room for a typical page at once (latest-20: one allocation instead of six as the vector
  // doubles), not for the largest limit a caller may ask for.
  sink.Reserve(static_cast<size_t>(std::min<uint64_t>({o.limit, hi - lo + 1, kScanReserveMax})));
  const bool fwd = o.direction == Direction::kForward;
  TimelineRuns runs(st_, id);
  TimelineRuns::Run run;
  size_t at = 0;
  Status s;
  if (!runs.Seek(fwd ? lo : hi, fwd, &at, &run, &s)) {
    return s;
  }
  uint64_t bytes = 0;
  for (;;) {
    const Seq first = std::max(lo, run.first), last = std::min(hi, run.last());
    Seq hinted = fwd ? first : last;  // the first record in scan order is read unhinted
    for (Seq seq = fwd ? first : last; first <= last && seq >= first && seq <= last;
         seq = fwd ? seq + 1 : seq - 1) {
      const TimelineRules::Verdict v = st_.rules.RouteKept(id, seq);  // seq >= lo >= FirstKept
      if (v.read == Read::kDeleted) continue;
      RecordView r;
      s = v.read == Read::kEdited ? fetch_.At(v.segment, v.offset, runs.key(), seq, &r)
                                  : runs.Read(fetch_, run, seq, &r);
      // After the read: a compressed segment's block is now this thread's last one.
      HintAhead(runs, run, seq, fwd, first, last, &hinted);
      if (s.code() == Status::Code::kDeleted) continue;
      TLDB_RETURN_IF_ERROR(s);
      if (TimelineRules::Expired(r.timestamp_ms, limits)) continue;
      bytes += r.payload.size();
      if (sink.Add(r, seq) >= o.limit || bytes >= o.bytes_max) return Status::Ok();
    }
    do {  // the next run in scan order (skipping expired segments)
      if (fwd ? at + 1 >= runs.size() : at == 0) return Status::Ok();
      at = fwd ? at + 1 : at - 1;
      s = runs.At(at, &run);
    } while (s.code() == Status::Code::kDeleted);
    TLDB_RETURN_IF_ERROR(s);
    if (fwd ? run.first > hi : run.last() < lo) return Status::Ok();
  }
}

Seq TimelineReader::LastSeq(std::string_view key) const {
  std::shared_lock l(st_.mu);
  const uint32_t id = st_.table.Find(key, KeyHash(key));
  return id == TimelineTable::kNone ? 0 : st_.table.state(id).visible_seq();
}

}  // namespace tldb
