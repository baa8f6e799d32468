// Dispatcher: WAIT (long-poll) and SUBSCRIBE (pushes), driven by acknowledged appends.
//
// No lost wake-up: a watcher is registered (locally and in the WatchHub) before LastSeq is
// read, so an append acknowledged concurrently is either visible to that read or notifies us.
#include "dispatcher.h"
#include "loop.h"

namespace tldb::server {

using proto::Op;

namespace {
// Messages read per scan while pushing to a subscriber.
constexpr uint32_t kPushScanLimit = 256;
}  // namespace

void Dispatcher::Watch(const std::string& key, WatchRef ref) {
  auto& list = watches_[key];
  list.push_back(ref);
  loop_->core().hub.Register(key, loop_->index());
}

void Dispatcher::Unwatch(const std::string& key, uint64_t conn_id, uint64_t id) {
  auto it = watches_.find(key);
  if (it == watches_.end()) return;
  auto& list = it->second;
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].conn_id == conn_id && list[i].id == id) {
      list[i] = list.back();
      list.pop_back();
      loop_->core().hub.Unregister(key, loop_->index());
      break;
    }
  }
  if (list.empty()) watches_.erase(it);
}

void Dispatcher::Wait(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kWait);
  proto::WaitRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckRead(c, op, id, req.ns)) return;
  if (req.timeout_ms > proto::kWaitTimeoutMsMax) {
    return Fail(c, op, id, Status::InvalidArgument("WAIT timeout above 60000 ms"));
  }
  if (c.waits().count(id)) {
    return Fail(c, op, id, Status::InvalidArgument("request id already has a WAIT parked"));
  }
  std::string key = TimelineKey(req.ns, req.timeline);
  Watch(key, {c.id(), id, false});
  std::string_view tl = req.timeline;
  auto last = loop_->core().db->LastSeq(req.ns, std::span<const std::string_view>(&tl, 1));
  if (!last.ok() || (*last)[0] > req.after_seq) {
    Unwatch(key, c.id(), id);
    if (!last.ok()) return Fail(c, op, id, last.status());
    ServerStats::Inc(loop_->stats().waits_woken);
    size_t start = c.Begin(Op::kWait, proto::kFlagResponse, id);
    auto w = c.Writer();
    proto::Encode(proto::WaitResponse{true, (*last)[0]}, w);
    c.End(start);
    return;
  }
  auto& deadlines = loop_->wait_deadlines();
  PendingWait w{std::string(req.ns), std::string(req.timeline), key, req.after_seq,
                deadlines.emplace(NowMs() + req.timeout_ms, std::make_pair(c.id(), id))};
  c.waits().emplace(id, std::move(w));
  c.AddInflight();
}

void Dispatcher::FinishWait(Connection& c, uint64_t id, bool ready, Seq last_seq) {
  auto it = c.waits().find(id);
  if (it == c.waits().end()) return;
  PendingWait& w = it->second;
  if (w.deadline != loop_->wait_deadlines().end()) loop_->wait_deadlines().erase(w.deadline);
  Unwatch(w.key, c.id(), id);
  c.waits().erase(it);
  c.DropInflight();
  ServerStats::Inc(ready ? loop_->stats().waits_woken : loop_->stats().waits_timed_out);
  size_t start = c.Begin(Op::kWait, proto::kFlagResponse, id);
  auto wr = c.Writer();
  proto::Encode(proto::WaitResponse{ready, last_seq}, wr);
  c.End(start);
  loop_->MarkDirty(c);
}

void Dispatcher::ExpireWait(uint64_t conn_id, uint64_t id) {
  Connection* c = loop_->Find(conn_id);
  if (!c) return;
  auto it = c->waits().find(id);
  if (it == c->waits().end()) return;
  it->second.deadline = loop_->wait_deadlines().end();  // already removed by the loop
  std::string_view tl = it->second.timeline;
  auto last = loop_->core().db->LastSeq(it->second.ns, std::span<const std::string_view>(&tl, 1));
  Seq seq = last.ok() ? (*last)[0] : 0;
  FinishWait(*c, id, seq > it->second.after_seq, seq);
}

void Dispatcher::ReleaseAllWaits() {
  std::vector<std::pair<uint64_t, uint64_t>> all;
  for (auto& [deadline, ids] : loop_->wait_deadlines()) all.push_back(ids);
  for (auto [conn_id, id] : all) {
    Connection* c = loop_->Find(conn_id);
    if (!c) continue;
    auto it = c->waits().find(id);
    if (it == c->waits().end()) continue;
    FinishWait(*c, id, false, it->second.after_seq);
  }
}

void Dispatcher::Subscribe(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kSubscribe);
  proto::SubscribeRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  if (!CheckRead(c, op, id, req.ns)) return;
  if (c.subs().count(id)) {
    return Fail(c, op, id, Status::InvalidArgument("subscription id already in use"));
  }
  std::string key = TimelineKey(req.ns, req.timeline);
  Watch(key, {c.id(), id, true});
  std::string_view tl = req.timeline;
  auto last = loop_->core().db->LastSeq(req.ns, std::span<const std::string_view>(&tl, 1));
  Seq last_seq = last.ok() ? (*last)[0] : 0;
  Seq start_after = (req.flags & proto::kSubscribeFromLatest) ? last_seq : req.after_seq;
  Status bad;
  if (!last.ok()) {
    bad = last.status();
  } else if (last_seq > start_after &&
             last_seq - start_after > loop_->core().config.subscribe_backfill_max) {
    bad = Status::InvalidArgument("subscription starts " + std::to_string(last_seq - start_after) +
                                  " messages back (more than subscribe-backfill-max): SCAN "
                                  "history first");
  }
  if (!bad.ok()) {
    Unwatch(key, c.id(), id);
    return Fail(c, op, id, bad);
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

void Dispatcher::Unsubscribe(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kUnsubscribe);
  proto::UnsubscribeRequest req;
  if (!proto::Decode(body, &req)) return Malformed(c, op, id);
  auto it = c.subs().find(req.subscription_id);
  if (it == c.subs().end()) return Fail(c, op, id, Status::NotFound("no such subscription"));
  Unwatch(it->second.key, c.id(), req.subscription_id);
  c.subs().erase(it);
  Empty(c, Op::kUnsubscribe, id);
}

void Dispatcher::PushUpTo(Connection& c, Subscription& s, uint64_t sub_id, Seq seq) {
  while (s.last_pushed < seq && !c.close_now()) {
    ScanOptions opts;
    opts.from_seq = s.last_pushed + 1;
    opts.to_seq = seq;
    opts.limit = kPushScanLimit;
    auto msgs = loop_->core().db->Scan(s.ns, s.timeline, opts);
    if (!msgs.ok() || msgs->empty()) return;
    for (const Message& m : *msgs) {
      size_t start = c.Begin(Op::kPushMessage, proto::kFlagPush, sub_id);
      auto w = c.Writer();
      proto::EncodePush(s.ns, s.timeline, m, w);
      c.End(start);
      s.last_pushed = m.seq;
      ServerStats::Inc(loop_->stats().pushes);
    }
    if (c.OutPending() > loop_->core().config.output_buffer_bytes_max) {
      c.RequestClose(Connection::CloseMode::kNow,
                     "subscription output above output-buffer-bytes-max (client not reading)");
      ServerStats::Inc(loop_->stats().disconnects_slow);
    }
  }
  loop_->MarkDirty(c);
}

void Dispatcher::TimelineAdvanced(const std::string& key, Seq seq) {
  auto it = watches_.find(key);
  if (it == watches_.end()) return;
  std::vector<WatchRef> refs = it->second;  // FinishWait edits the list
  for (const WatchRef& ref : refs) {
    Connection* c = loop_->Find(ref.conn_id);
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

void Dispatcher::Forget(Connection& c) {
  for (auto& [id, w] : c.waits()) {
    if (w.deadline != loop_->wait_deadlines().end()) loop_->wait_deadlines().erase(w.deadline);
    Unwatch(w.key, c.id(), id);
  }
  c.waits().clear();
  for (auto& [id, s] : c.subs()) Unwatch(s.key, c.id(), id);
  c.subs().clear();
}

}  // namespace tldb::server
