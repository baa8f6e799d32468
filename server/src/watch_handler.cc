// WatchHandler: WAIT (long-poll) and SUBSCRIBE (pushes), driven by acknowledged appends.
#include "watch_handler.h"

#include "dispatcher.h"
#include "loop.h"
#include "read_budget.h"

namespace tldb::server {

using proto::Op;

namespace {
// Messages read per scan while pushing to a subscriber.
constexpr uint32_t kPushScanLimit = 256;
}  // namespace

void WatchHandler::Watch(const std::string& key, WatchRef ref) {
  auto& list = watches_[key];
  list.push_back(ref);
  ctx_.core().hub.Register(key, ctx_.loop().index());
}

void WatchHandler::Unwatch(const std::string& key, uint64_t conn_id, uint64_t id) {
  auto it = watches_.find(key);
  if (it == watches_.end()) return;
  auto& list = it->second;
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].conn_id == conn_id && list[i].id == id) {
      list[i] = list.back();
      list.pop_back();
      ctx_.core().hub.Unregister(key, ctx_.loop().index());
      break;
    }
  }
  if (list.empty()) watches_.erase(it);
}

void WatchHandler::Wait(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kWait);
  proto::WaitRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckReadTimeline(c, op, id, req.ns, req.timeline)) return;
  if (req.timeout_ms > proto::kWaitTimeoutMsMax) {
    return ctx_.Fail(c, op, id, Status::InvalidArgument("WAIT timeout above 60000 ms"));
  }
  if (c.waits().count(id)) {
    return ctx_.Fail(c, op, id, Status::InvalidArgument("request id already has a WAIT parked"));
  }
  std::string key = TimelineKey(req.ns, req.timeline);
  Watch(key, {c.id(), id, false});
  std::string_view tl = req.timeline;
  auto last = ctx_.core().db->LastSeq(req.ns, std::span<const std::string_view>(&tl, 1));
  PendingWait w{std::string(req.ns),
                std::string(req.timeline),
                key,
                req.after_seq,
                req.with_messages,
                req.limit,
                req.bytes_max,
                ctx_.loop().wait_deadlines().end()};
  // Answered at once when ready, and when timeout 0 makes it a poll (never parked).
  if (!last.ok() || (*last)[0] > req.after_seq || req.timeout_ms == 0) {
    Unwatch(key, c.id(), id);
    if (!last.ok()) return ctx_.Fail(c, op, id, last.status());
    const bool ready = (*last)[0] > req.after_seq;
    ServerStats::Inc(ready ? ctx_.stats().waits_woken : ctx_.stats().waits_timed_out);
    return AnswerWait(c, id, w, ready, (*last)[0]);
  }
  auto& deadlines = ctx_.loop().wait_deadlines();
  w.deadline = deadlines.emplace(NowMs() + req.timeout_ms, std::make_pair(c.id(), id));
  c.waits().emplace(id, std::move(w));
  c.AddInflight();
}

void WatchHandler::AnswerWait(Connection& c, uint64_t id, const PendingWait& w, bool ready,
                              Seq last_seq) {
  if (!w.with_messages) {
    size_t start = c.Begin(Op::kWait, proto::kFlagResponse, id);
    auto wr = c.Writer();
    proto::Encode(proto::WaitResponse{ready, last_seq}, wr);
    c.End(start);
    return;
  }
  proto::WaitMessagesResponse resp;
  resp.ready = ready;
  resp.read.last_seq = last_seq;
  if (ready) {
    ReadBudget budget(w.limit, w.bytes_max, ctx_.core().config.frame_body_bytes_max);
    auto r = budget.ReadAfter(*ctx_.core().db, w.ns, w.timeline, w.after_seq, last_seq,
                              ReadBudget::TimelineLimit(w.limit));
    if (!r.ok()) return ctx_.Fail(c, static_cast<uint8_t>(Op::kWait), id, r.status());
    resp.read = std::move(*r);
  }
  size_t start = c.Begin(Op::kWait, proto::kFlagResponse, id);
  auto wr = c.Writer();
  proto::Encode(resp, wr);
  c.End(start);
}

void WatchHandler::FinishWait(Connection& c, uint64_t id, bool ready, Seq last_seq) {
  auto it = c.waits().find(id);
  if (it == c.waits().end()) return;
  PendingWait w = std::move(it->second);
  auto& deadlines = ctx_.loop().wait_deadlines();
  if (w.deadline != deadlines.end()) deadlines.erase(w.deadline);
  Unwatch(w.key, c.id(), id);
  c.waits().erase(it);
  c.DropInflight();
  ServerStats::Inc(ready ? ctx_.stats().waits_woken : ctx_.stats().waits_timed_out);
  AnswerWait(c, id, w, ready, last_seq);
  ctx_.loop().MarkDirty(c);
}

void WatchHandler::ExpireWait(uint64_t conn_id, uint64_t id) {
  Connection* c = ctx_.loop().Find(conn_id);
  if (!c) return;
  auto it = c->waits().find(id);
  if (it == c->waits().end()) return;
  it->second.deadline = ctx_.loop().wait_deadlines().end();  // already removed by the loop
  std::string_view tl = it->second.timeline;
  auto last = ctx_.core().db->LastSeq(it->second.ns, std::span<const std::string_view>(&tl, 1));
  Seq seq = last.ok() ? (*last)[0] : 0;
  FinishWait(*c, id, seq > it->second.after_seq, seq);
}

void WatchHandler::ReleaseAllWaits() {
  std::vector<std::pair<uint64_t, uint64_t>> all;
  for (auto& [deadline, ids] : ctx_.loop().wait_deadlines()) all.push_back(ids);
  for (auto [conn_id, id] : all) {
    Connection* c = ctx_.loop().Find(conn_id);
    if (!c) continue;
    auto it = c->waits().find(id);
    if (it == c->waits().end()) continue;
    FinishWait(*c, id, false, it->second.after_seq);
  }
}

void WatchHandler::Subscribe(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kSubscribe);
  proto::SubscribeRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckRead(c, op, id, req.ns)) return;
  if (c.subs().count(id)) {
    return ctx_.Fail(c, op, id, Status::InvalidArgument("subscription id already in use"));
  }
  std::string key = TimelineKey(req.ns, req.timeline);
  Watch(key, {c.id(), id, true});
  std::string_view tl = req.timeline;
  auto last = ctx_.core().db->LastSeq(req.ns, std::span<const std::string_view>(&tl, 1));
  Seq last_seq = last.ok() ? (*last)[0] : 0;
  Seq start_after = (req.flags & proto::kSubscribeFromLatest) ? last_seq : req.after_seq;
  Status bad;
  if (!last.ok()) {
    bad = last.status();
  } else if (last_seq > start_after &&
             last_seq - start_after > ctx_.core().config.subscribe_backfill_max) {
    bad = Status::InvalidArgument("subscription starts " + std::to_string(last_seq - start_after) +
                                  " messages back (more than subscribe-backfill-max): SCAN "
                                  "history first");
  }
  if (!bad.ok()) {
    Unwatch(key, c.id(), id);
    return ctx_.Fail(c, op, id, bad);
  }
  Subscription& s = c.subs()[id];
  s.ns = req.ns;
  s.timeline = req.timeline;
  s.key = key;
  s.last_pushed = start_after;
  size_t start = c.Begin(Op::kSubscribe, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(proto::SubscribeResponse{start_after, last_seq}, w);
  c.End(start);
  if (last_seq > start_after) PushUpTo(c, s, id, last_seq);
}

void WatchHandler::Unsubscribe(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kUnsubscribe);
  proto::UnsubscribeRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  auto it = c.subs().find(req.subscription_id);
  if (it == c.subs().end()) return ctx_.Fail(c, op, id, Status::NotFound("no such subscription"));
  Unwatch(it->second.key, c.id(), req.subscription_id);
  c.subs().erase(it);
  ctx_.Empty(c, Op::kUnsubscribe, id);
}

void WatchHandler::PushUpTo(Connection& c, Subscription& s, uint64_t sub_id, Seq seq) {
  while (s.last_pushed < seq && !c.close_now()) {
    ScanOptions opts;
    opts.from_seq = s.last_pushed + 1;
    opts.to_seq = seq;
    opts.limit = kPushScanLimit;
    auto msgs = ctx_.core().db->Scan(s.ns, s.timeline, opts);
    if (!msgs.ok() || msgs->empty()) return;
    for (const Message& m : *msgs) {
      size_t start = c.Begin(Op::kPushMessage, proto::kFlagPush, sub_id);
      auto w = c.Writer();
      proto::EncodePush(s.ns, s.timeline, m, w);
      c.End(start);
      s.last_pushed = m.seq;
      ServerStats::Inc(ctx_.stats().pushes);
    }
    if (c.OutPending() > ctx_.core().config.output_buffer_bytes_max) {
      c.RequestClose(Connection::CloseMode::kNow,
                     "subscription output above output-buffer-bytes-max (client not reading)");
      ServerStats::Inc(ctx_.stats().disconnects_slow);
    }
  }
  ctx_.loop().MarkDirty(c);
}

void WatchHandler::Notify(const std::string& key, Seq seq) {
  Loop& loop = ctx_.loop();
  for (size_t idx : ctx_.core().hub.Watchers(key)) {
    if (idx == loop.index()) {
      TimelineAdvanced(key, seq);
    } else {
      ctx_.core().loops[idx]->Post(
          [key, seq](Loop& l) { l.dispatcher().TimelineAdvanced(key, seq); });
    }
  }
}

void WatchHandler::TimelineAdvanced(const std::string& key, Seq seq) {
  auto it = watches_.find(key);
  if (it == watches_.end()) return;
  std::vector<WatchRef> refs = it->second;  // FinishWait edits the list
  for (const WatchRef& ref : refs) {
    Connection* c = ctx_.loop().Find(ref.conn_id);
    if (!c) continue;
    if (ref.subscription) {
      auto s = c->subs().find(ref.id);
      if (s != c->subs().end()) PushUpTo(*c, s->second, ref.id, seq);
    } else {
      auto w = c->waits().find(ref.id);
      if (w != c->waits().end() && seq > w->second.after_seq) FinishWait(*c, ref.id, true, seq);
    }
  }
}

void WatchHandler::Forget(Connection& c) {
  auto& deadlines = ctx_.loop().wait_deadlines();
  for (auto& [id, w] : c.waits()) {
    if (w.deadline != deadlines.end()) deadlines.erase(w.deadline);
    Unwatch(w.key, c.id(), id);
  }
  c.waits().clear();
  for (auto& [id, s] : c.subs()) Unwatch(s.key, c.id(), id);
  c.subs().clear();
}

}  // namespace tldb::server
