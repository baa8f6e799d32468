// DataHandler: appends and mutations (asynchronous, completed through the loop's queue) and
// inline reads.
#include "data_handler.h"

#include <algorithm>

#include "async_call.h"
#include "chunked_scan.h"
#include "loop.h"
#include "read_budget.h"

namespace tldb::server {

using proto::Op;

void DataHandler::Append(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kAppend);
  proto::AppendRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckWrite(c, op, id, req.ns)) return;
  AppendOptions opts;
  opts.client_msg_id = req.client_msg_id;
  if (req.has_expected_last_seq) opts.expected_last_seq = req.expected_last_seq;
  opts.durability = req.durability;
  // The engine copies what it needs before AppendAsync returns; the callback runs on an
  // engine thread, so it only posts the result back to this loop.
  ctx_.core().db->AppendAsync(
      req.ns, req.timeline, req.payload, opts,
      [this, call = ctx_.StartAsync(c, op, id),
       key = TimelineKey(req.ns, req.timeline)](Result<AppendResult> r) mutable {
        call.Post([this, conn_id = call.conn_id(), id = call.id(), start = call.start_us(),
                   key = std::move(key),
                   r = std::move(r)]() { AppendDone(conn_id, id, key, start, r); });
      });
}

void DataHandler::AppendDone(uint64_t conn_id, uint64_t id, const std::string& key,
                             int64_t start_us, const Result<AppendResult>& r) {
  if (r.ok()) watch_.Notify(key, r->seq);
  Connection* c = ctx_.Completed(conn_id, start_us, static_cast<uint8_t>(Op::kAppend));
  if (!c) return;
  if (!r.ok()) return ctx_.Fail(*c, static_cast<uint8_t>(Op::kAppend), id, r.status());
  size_t start = c->Begin(Op::kAppend, proto::kFlagResponse, id);
  auto w = c->Writer();
  proto::EncodeAppendResult(r.value(), w);
  c->End(start);
}

void DataHandler::AppendFanout(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kAppendFanout);
  proto::AppendFanoutRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckWrite(c, op, id, req.ns)) return;
  AppendOptions opts;
  opts.client_msg_id = req.client_msg_id;
  opts.durability = req.durability;
  std::vector<std::string> keys;
  keys.reserve(req.timelines.size());
  for (auto t : req.timelines) keys.push_back(TimelineKey(req.ns, t));
  ctx_.core().db->AppendFanoutAsync(
      req.ns, req.timelines, req.payload, opts,
      [this, call = ctx_.StartAsync(c, op, id),
       keys = std::move(keys)](Result<std::vector<AppendResult>> r) mutable {
        call.Post([this, conn_id = call.conn_id(), id = call.id(), start = call.start_us(),
                   keys = std::move(keys),
                   r = std::move(r)]() { FanoutDone(conn_id, id, keys, start, r); });
      });
}

void DataHandler::FanoutDone(uint64_t conn_id, uint64_t id, const std::vector<std::string>& keys,
                             int64_t start_us, const Result<std::vector<AppendResult>>& r) {
  if (r.ok()) {
    for (size_t i = 0; i < keys.size() && i < r->size(); ++i)
      watch_.Notify(keys[i], r.value()[i].seq);
  }
  Connection* c = ctx_.Completed(conn_id, start_us, static_cast<uint8_t>(Op::kAppendFanout));
  if (!c) return;
  if (!r.ok()) return ctx_.Fail(*c, static_cast<uint8_t>(Op::kAppendFanout), id, r.status());
  size_t start = c->Begin(Op::kAppendFanout, proto::kFlagResponse, id);
  auto w = c->Writer();
  proto::EncodeAppendResults(r.value(), w);
  c->End(start);
}

void DataHandler::Mutate(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kMutate);
  proto::MutateRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckWrite(c, op, id, req.ns)) return;
  if (req.kind != MutationKind::kEdit && !req.payload.empty()) {
    return ctx_.Fail(c, op, id, Status::InvalidArgument("only an edit carries a payload"));
  }
  Mutation m{req.kind, req.timeline, req.seq, req.payload, req.durability};
  MutationKind kind = req.kind;
  // The engine copies the mutation's strings before MutateAsync returns; the callback may run
  // on an engine thread (or here, for an argument error), so it only posts the result.
  ctx_.core().db->MutateAsync(
      req.ns, m, [this, call = ctx_.StartAsync(c, op, id), kind](Result<MutationResult> r) mutable {
        call.Post([this, conn_id = call.conn_id(), id = call.id(), start = call.start_us(), kind,
                   r = std::move(r)]() { MutateDone(conn_id, id, kind, start, r); });
      });
}

void DataHandler::MutateDone(uint64_t conn_id, uint64_t id, MutationKind kind, int64_t start_us,
                             const Result<MutationResult>& r) {
  if (r.ok()) {
    ServerStats& st = ctx_.stats();
    switch (kind) {
      case MutationKind::kRecall:
        ServerStats::Inc(st.recalls);
        break;
      case MutationKind::kEdit:
        ServerStats::Inc(st.edits);
        break;
      case MutationKind::kTrim:
        ServerStats::Inc(st.trims);
        break;
      case MutationKind::kDeleteTimeline:
        ServerStats::Inc(st.timeline_deletes);
        break;
    }
    if (r->noop) ServerStats::Inc(st.mutations_noop);
  }
  Connection* c = ctx_.Completed(conn_id, start_us, static_cast<uint8_t>(Op::kMutate));
  if (!c) return;
  if (!r.ok()) return ctx_.Fail(*c, static_cast<uint8_t>(Op::kMutate), id, r.status());
  size_t start = c->Begin(Op::kMutate, proto::kFlagResponse, id);
  auto w = c->Writer();
  proto::EncodeMutationResult(r.value(), w);
  c->End(start);
}

void DataHandler::Get(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kGet);
  proto::GetRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckReadTimeline(c, op, id, req.ns, req.timeline)) return;
  auto m = ctx_.core().db->Get(req.ns, req.timeline, req.seq);
  if (!m.ok()) return ctx_.Fail(c, op, id, m.status());
  size_t start = c.Begin(Op::kGet, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::EncodeMessage(*m, w);
  c.End(start);
}

void DataHandler::Scan(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kScan);
  proto::ScanRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckReadTimeline(c, op, id, req.ns, req.timeline)) return;
  ScanOptions opts;
  opts.from_seq = req.from_seq;
  opts.to_seq = req.to_seq;
  opts.direction = req.direction;
  // Cap both so that the response always fits in one frame the client accepts.
  opts.limit = ReadBudget::TimelineLimit(req.limit);
  uint64_t cap = ctx_.core().config.frame_body_bytes_max / 2;
  opts.bytes_max = req.bytes_max == 0 ? cap : std::min<uint64_t>(req.bytes_max, cap);
  // The first step now; a longer answer goes on in the connection's next turns (ContinueScan).
  ChunkedScan scan(req.ns, req.timeline, opts, id, NowUs(), std::move(scan_buffer_));
  const Status s = scan.Step(*ctx_.core().db);
  if (!s.ok() || scan.done()) {
    if (s.ok()) {
      AnswerScan(c, scan);
    } else {
      ctx_.Fail(c, op, id, s);
    }
    scan_buffer_ = scan.TakeBuffer();
    if (scan_buffer_.capacity() > kScanBufferKeepBytes) scan_buffer_ = std::string();
    return;
  }
  c.set_scan(std::make_unique<ChunkedScan>(std::move(scan)));
}

void DataHandler::ContinueScan(Connection& c) {
  ChunkedScan& scan = *c.scan();
  const uint8_t op = static_cast<uint8_t>(Op::kScan);
  Status s = scan.Step(*ctx_.core().db);
  if (!scan.done()) return;
  if (!s.ok()) {
    ctx_.Fail(c, op, scan.request_id(), s);
  } else {
    AnswerScan(c, scan);
  }
  // Its latency spans every step and the turns of other connections between them.
  ctx_.stats().RecordLatency(op, static_cast<uint64_t>(NowUs() - scan.start_us()));
  c.clear_scan();
}

void DataHandler::AnswerScan(Connection& c, const ChunkedScan& scan) {
  size_t start = c.Begin(Op::kScan, proto::kFlagResponse, scan.request_id());
  auto w = c.Writer();
  scan.WriteBody(w);
  c.End(start);
}

void DataHandler::LastSeq(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kLastSeq);
  proto::LastSeqRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckRead(c, op, id, req.ns)) return;
  if (!ctx_.CheckTimelineCount(c, op, id, req.timelines.size())) return;
  auto seqs = ctx_.core().db->LastSeq(req.ns, req.timelines);
  if (!seqs.ok()) return ctx_.Fail(c, op, id, seqs.status());
  size_t start = c.Begin(Op::kLastSeq, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::EncodeSeqs(*seqs, w);
  c.End(start);
}

void DataHandler::ReadMulti(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kReadMulti);
  proto::ReadMultiRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckRead(c, op, id, req.ns)) return;
  if (!ctx_.CheckTimelineCount(c, op, id, req.timelines.size())) return;
  std::vector<std::string_view> names;
  names.reserve(req.timelines.size());
  for (const auto& e : req.timelines) names.push_back(e.timeline);
  Db& db = *ctx_.core().db;
  // One LAST_SEQ for all (it also checks every key); only timelines with news are scanned.
  auto last = db.LastSeq(req.ns, names);
  if (!last.ok()) return ctx_.Fail(c, op, id, last.status());
  ReadBudget budget(req.limit, req.bytes_max, ctx_.core().config.frame_body_bytes_max);
  const uint32_t per_timeline = ReadBudget::TimelineLimit(req.timeline_limit);
  proto::ReadMultiResponse resp;
  resp.timelines.reserve(req.timelines.size());
  for (size_t i = 0; i < req.timelines.size(); ++i) {
    auto r = budget.ReadAfter(db, req.ns, names[i], req.timelines[i].after_seq, (*last)[i],
                              per_timeline);
    if (!r.ok()) return ctx_.Fail(c, op, id, r.status());
    resp.timelines.push_back(std::move(*r));
  }
  size_t start = c.Begin(Op::kReadMulti, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(resp, w);
  c.End(start);
}

}  // namespace tldb::server
