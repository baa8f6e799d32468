// Dispatcher: appends (asynchronous, completed through the loop's queue) and inline reads.
#include "async_call.h"
#include "dispatcher.h"
#include "loop.h"

namespace tldb::server {

using proto::Op;

void Dispatcher::Append(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kAppend);
  proto::AppendRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckWrite(c, op, id, req.ns)) return;
  AppendOptions opts;
  opts.client_msg_id = req.client_msg_id;
  if (req.has_expected_last_seq) opts.expected_last_seq = req.expected_last_seq;
  opts.durability = req.durability;
  // The engine copies what it needs before AppendAsync returns; the callback runs on an
  // engine thread, so it only posts the result back to this loop.
  loop_->core().db->AppendAsync(
      req.ns, req.timeline, req.payload, opts,
      [call = StartAsync(c, id),
       key = TimelineKey(req.ns, req.timeline)](Result<AppendResult> r) mutable {
        call.Post([conn_id = call.conn_id(), id = call.id(), start = call.start_us(),
                   key = std::move(key),
                   r = std::move(r)](Dispatcher& d) { d.AppendDone(conn_id, id, key, start, r); });
      });
}

void Dispatcher::AppendDone(uint64_t conn_id, uint64_t id, const std::string& key, int64_t start_us,
                            const Result<AppendResult>& r) {
  if (r.ok()) Notify(key, r->seq);
  Connection* c = Completed(conn_id, start_us, /*append=*/true);
  if (!c) return;
  if (!r.ok()) return Fail(*c, static_cast<uint8_t>(Op::kAppend), id, r.status());
  size_t start = c->Begin(Op::kAppend, proto::kFlagResponse, id);
  auto w = c->Writer();
  proto::EncodeAppendResult(r.value(), w);
  c->End(start);
}

void Dispatcher::AppendFanout(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kAppendFanout);
  proto::AppendFanoutRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckWrite(c, op, id, req.ns)) return;
  AppendOptions opts;
  opts.client_msg_id = req.client_msg_id;
  opts.durability = req.durability;
  std::vector<std::string> keys;
  keys.reserve(req.timelines.size());
  for (auto t : req.timelines) keys.push_back(TimelineKey(req.ns, t));
  loop_->core().db->AppendFanoutAsync(
      req.ns, req.timelines, req.payload, opts,
      [call = StartAsync(c, id),
       keys = std::move(keys)](Result<std::vector<AppendResult>> r) mutable {
        call.Post([conn_id = call.conn_id(), id = call.id(), start = call.start_us(),
                   keys = std::move(keys),
                   r = std::move(r)](Dispatcher& d) { d.FanoutDone(conn_id, id, keys, start, r); });
      });
}

void Dispatcher::FanoutDone(uint64_t conn_id, uint64_t id, const std::vector<std::string>& keys,
                            int64_t start_us, const Result<std::vector<AppendResult>>& r) {
  if (r.ok()) {
    for (size_t i = 0; i < keys.size() && i < r->size(); ++i) Notify(keys[i], r.value()[i].seq);
  }
  Connection* c = Completed(conn_id, start_us, /*append=*/true);
  if (!c) return;
  if (!r.ok()) return Fail(*c, static_cast<uint8_t>(Op::kAppendFanout), id, r.status());
  size_t start = c->Begin(Op::kAppendFanout, proto::kFlagResponse, id);
  auto w = c->Writer();
  proto::EncodeAppendResults(r.value(), w);
  c->End(start);
}

void Dispatcher::Notify(const std::string& key, Seq seq) {
  for (size_t idx : loop_->core().hub.Watchers(key)) {
    if (idx == loop_->index()) {
      TimelineAdvanced(key, seq);
    } else {
      loop_->core().loops[idx]->Post(
          [key, seq](Loop& l) { l.dispatcher().TimelineAdvanced(key, seq); });
    }
  }
}

void Dispatcher::Get(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kGet);
  proto::GetRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckRead(c, op, id, req.ns)) return;
  int64_t t0 = NowUs();
  auto m = loop_->core().db->Get(req.ns, req.timeline, req.seq);
  loop_->stats().read_latency.Record(static_cast<uint64_t>(NowUs() - t0));
  if (!m.ok()) return Fail(c, op, id, m.status());
  size_t start = c.Begin(Op::kGet, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::EncodeMessage(*m, w);
  c.End(start);
}

void Dispatcher::Scan(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kScan);
  proto::ScanRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckRead(c, op, id, req.ns)) return;
  ScanOptions opts;
  opts.from_seq = req.from_seq;
  opts.to_seq = req.to_seq;
  opts.direction = req.direction;
  // Cap both so that the response always fits in one frame the client accepts.
  opts.limit = req.limit == 0 ? 100 : std::min<uint32_t>(req.limit, 10'000);
  uint64_t cap = loop_->core().config.frame_body_bytes_max / 2;
  opts.bytes_max = req.bytes_max == 0 ? cap : std::min<uint64_t>(req.bytes_max, cap);
  int64_t t0 = NowUs();
  auto msgs = loop_->core().db->Scan(req.ns, req.timeline, opts);
  loop_->stats().read_latency.Record(static_cast<uint64_t>(NowUs() - t0));
  if (!msgs.ok()) return Fail(c, op, id, msgs.status());
  size_t start = c.Begin(Op::kScan, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::EncodeMessages(*msgs, w);
  c.End(start);
}

void Dispatcher::LastSeq(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kLastSeq);
  proto::LastSeqRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckRead(c, op, id, req.ns)) return;
  auto seqs = loop_->core().db->LastSeq(req.ns, req.timelines);
  if (!seqs.ok()) return Fail(c, op, id, seqs.status());
  size_t start = c.Begin(Op::kLastSeq, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::EncodeSeqs(*seqs, w);
  c.End(start);
}

}  // namespace tldb::server
