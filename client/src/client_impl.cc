#include "client_impl.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <limits>

#include "dial.h"
#include "protocol/messages.h"
#include "wire_status.h"

namespace tldb {

namespace {

constexpr size_t kReadChunkBytes = 64u << 10;
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// Set while a thread runs the start of ClientImpl::Blocking(): the Call()s it makes are inline.
thread_local const ClientImpl* tls_inline_calls = nullptr;

void Signal(int efd) {
  uint64_t one = 1;
  ssize_t n = ::write(efd, &one, sizeof(one));
  (void)n;
}

void Drain(int efd) {
  uint64_t v = 0;
  ssize_t n = ::read(efd, &v, sizeof(v));
  (void)n;
}

}  // namespace

Result<std::unique_ptr<ClientImpl>> ClientImpl::Connect(const ClientOptions& options) {
  std::unique_ptr<ClientImpl> c(new ClientImpl(options));
  if (c->wake_fd_ < 0 || c->reader_wake_fd_ < 0) return Errno("eventfd");
  if (c->timer_fd_ < 0) return Errno("timerfd_create");
  if (options.tls) {
    TLDB_ASSIGN_OR_RETURN(c->tls_ctx_,
                          tls::TlsContext::ForClient(options.tls_ca_file, options.tls_cert_file,
                                                     options.tls_key_file));
  }
  auto dialed = c->DialAndHello(&c->info_);
  if (!dialed.ok()) return dialed.status();
  c->fd_ = dialed->fd;
  c->tls_ = std::move(dialed->tls);
  c->io_thread_ = std::thread([p = c.get()] { p->Run(); });
  return c;
}

Result<ClientImpl::Dialed> ClientImpl::DialAndHello(ServerInfo* info) {
  int64_t deadline = NowMs() + options_.connect_timeout_ms;
  TLDB_ASSIGN_OR_RETURN(int fd, Dial(options_.server, deadline));
  std::unique_ptr<tls::TlsSession> session;
  if (tls_ctx_) {
    auto handshaken =
        TlsHandshake(fd, tls_ctx_, options_.server, options_.tls_server_name, deadline);
    if (!handshaken.ok()) {
      ::close(fd);
      return handshaken.status();
    }
    session = std::move(handshaken).value();
  }
  std::string body;
  proto::WireWriter w(&body);
  proto::Encode(proto::HelloRequest{proto::kVersion, options_.client_name, options_.token}, w);
  std::string frame = proto::EncodeFrame(static_cast<uint8_t>(proto::Op::kHello), 0, 0, body);
  auto reply = SendAll(fd, session.get(), frame, deadline)
                   ? ReadOneFrame(fd, session.get(), deadline)
                   : Result<std::pair<proto::FrameHeader, std::string>>(
                         Status::IOError("cannot send HELLO to " + options_.server));
  Status s = reply.status();
  if (!s.ok() && session && !session->error().empty()) {
    // TLS 1.3: a server that refuses the client's certificate says so after the handshake,
    // in answer to the first request.
    s = TlsFailure(options_.server, *session);
  }
  proto::HelloResponse hello;
  if (s.ok() && (reply->first.flags & proto::kFlagError)) {
    proto::ErrorBody e;
    s = proto::Decode(reply->second, &e) ? StatusFromWire(e.code, e.message)
                                         : Status::Corruption("malformed HELLO error");
  } else if (s.ok() && !proto::Decode(reply->second, &hello)) {
    s = Status::Corruption("malformed HELLO response");
  }
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  info->server_name = hello.server_name;
  info->frame_body_bytes_max = hello.frame_body_bytes_max;
  info->payload_bytes_max = hello.payload_bytes_max;
  info->inflight_requests_max = hello.inflight_requests_max;
  info->fanout_timelines_max = hello.fanout_timelines_max;
  info->wait_timeout_ms_max = hello.wait_timeout_ms_max;
  info->grants.clear();
  for (auto& g : hello.grants) info->grants.emplace_back(g.ns, g.rights);
  return Dialed{fd, std::move(session)};
}

void ClientImpl::CloseSocket() {
  tls_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

ClientImpl::ClientImpl(const ClientOptions& options) : options_(options) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  reader_wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  timer_at_ms_ = kNever;
}

ClientImpl::~ClientImpl() {
  Close();
  CloseSocket();  // the I/O thread never ran
  for (int efd : {wake_fd_, reader_wake_fd_, timer_fd_}) {
    if (efd >= 0) ::close(efd);
  }
}

// Hands the read side to the I/O thread (at once when free, else the owning caller yields it);
// the I/O thread fails what is outstanding, closes the socket and ends. No waiting here but the
// join: every party is woken by an event.
void ClientImpl::Close() {
  {
    std::lock_guard lock(mu_);
    if (!side_.closing()) Apply(side_.Close());
  }
  {
    std::lock_guard lock(send_mu_);
    if (tls_) tls_->Shutdown();                // close_notify
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);  // the server sees the close now
  }
  if (io_thread_.joinable() && !OnIoThread()) io_thread_.join();
}

void ClientImpl::Call(proto::Op op, std::string body, uint32_t timeout_ms, bool retriable,
                      RawCallback cb) {
  CallBound(op, std::move(body), timeout_ms, retriable, 0, std::move(cb));
}

void ClientImpl::CallBound(proto::Op op, std::string body, uint32_t timeout_ms, bool retriable,
                           SubscriptionId sub, RawCallback cb) {
  uint64_t id, gen;
  std::string frame;
  {
    std::unique_lock lock(mu_);
    if (side_.closing()) {
      lock.unlock();
      return cb(Status::Closed("client closed"), {});
    }
    id = next_id_++;
    frame = proto::EncodeFrame(static_cast<uint8_t>(op), 0, id, body);
    Pending& p = pending_[id];
    p.op = static_cast<uint8_t>(op);
    p.deadline = deadlines_.emplace(NowMs() + Deadline(timeout_ms), id);
    p.retriable = retriable;
    p.inline_ok = tls_inline_calls == this;
    p.cb = std::move(cb);
    ArmTimer();
    if (!p.inline_ok && async_pending_++ == 0) UpdateIoWork();
    if (sub) {
      sub_by_wire_[id] = sub;
      subs_[sub].wire_id = id;
    }
    if (!side_.connected()) {
      p.frame = std::move(frame);  // sent by the reconnection
      Signal(wake_fd_);
      return;
    }
    p.sent = true;
    if (retriable) p.frame = frame;
    gen = generation_;
  }
  SendFrame(frame, gen);
}

bool ClientImpl::SendFrame(const std::string& frame, uint64_t generation) {
  std::lock_guard lock(send_mu_);
  if (generation != generation_ || fd_ < 0) return false;  // that connection is gone
  if (SendAll(fd_, tls_.get(), frame, NowMs() + options_.request_timeout_ms)) return true;
  ::shutdown(fd_, SHUT_RDWR);  // the reader sees it and the I/O thread reconnects
  return false;
}

// ---------------------------------------------------------------- wake-ups (mu_ held)

void ClientImpl::Apply(ReadSide::Wake w) {
  using Kind = ReadSide::Wake::Kind;
  if (w.kind == Kind::kIo) {
    if (!OnIoThread()) Signal(wake_fd_);
    return;
  }
  if (w.kind == Kind::kNone) return;
  auto* waiter = static_cast<SyncWaiter*>(w.caller);
  if (waiter->thread == std::this_thread::get_id()) return;  // it is this thread
  if (w.kind == Kind::kOwner) {
    Signal(reader_wake_fd_);  // it sleeps in poll() on the socket
  } else {
    waiter->cv.notify_one();
  }
}

void ClientImpl::UpdateIoWork() {
  Apply(side_.SetIoWork(async_pending_ > 0 || !subs_.empty()));
}

// Arms timer_fd_ at the earliest deadline unless it fires before that already (a timer that
// fires early finds nothing due and is re-armed by ExpireDeadlines).
void ClientImpl::ArmTimer() {
  if (deadlines_.empty() || deadlines_.begin()->first >= timer_at_ms_) return;
  timer_at_ms_ = deadlines_.begin()->first;
  itimerspec at{};
  at.it_value.tv_sec = static_cast<time_t>(timer_at_ms_ / 1000);
  at.it_value.tv_nsec = static_cast<long>(timer_at_ms_ % 1000) * 1'000'000;
  ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &at, nullptr);
}

ClientImpl::RawCallback ClientImpl::TakePending(
    std::unordered_map<uint64_t, Pending>::iterator it) {
  RawCallback cb = std::move(it->second.cb);
  deadlines_.erase(it->second.deadline);
  const bool was_async = !it->second.inline_ok;
  pending_.erase(it);
  if (was_async && --async_pending_ == 0) UpdateIoWork();
  return cb;
}

// ---------------------------------------------------------------- the I/O thread

void ClientImpl::Run() {
  io_id_.store(std::this_thread::get_id());
  pthread_setname_np(pthread_self(), "tldb-client-io");
  while (true) {
    ExpireDeadlines();
    IoTurn turn = PlanTurn();
    if (turn.action == IoTurn::kStop) break;
    switch (turn.action) {
      case IoTurn::kDispatch:  // read by callers before anything this thread reads later
        for (auto& f : turn.handed) Dispatch(f.header, f.body, true);
        break;
      case IoTurn::kDisconnect:
        OnDisconnect(turn.why);
        break;
      case IoTurn::kReconnect:
        Reconnect();
        break;
      default:
        WaitTurn(turn);
    }
  }
  FailAll(Status::Closed("client closed"));
  std::lock_guard lock(mu_);
  std::lock_guard slock(send_mu_);
  CloseSocket();
  ++generation_;
}

ClientImpl::IoTurn ClientImpl::PlanTurn() {
  IoTurn t;
  std::lock_guard lock(mu_);
  t.handed.swap(handoff_);
  if (!t.handed.empty()) {
    t.action = IoTurn::kDispatch;
    return t;
  }
  if (side_.owner() == ReadSide::Owner::kIo && side_.connected()) {
    if (side_.closing()) {
      t.action = IoTurn::kStop;
      return t;
    }
    if (side_.hangup() && !broken_.ok()) {  // a caller read an error and yielded the side
      t.action = IoTurn::kDisconnect;
      t.why = std::exchange(broken_, Status());
      return t;
    }
    Apply(side_.IoRelease());
  }
  t.owns = side_.owner() == ReadSide::Owner::kIo;
  if (!side_.connected()) {  // the I/O thread owns the side while disconnected
    if (side_.closing()) {
      t.action = IoTurn::kStop;
    } else if (!pending_.empty() || !subs_.empty()) {
      t.action = IoTurn::kReconnect;
    }
    return t;  // else it waits for work (or for Close) without a socket
  }
  t.fd = fd_;
  t.tls = tls_.get();
  t.watch_hup = !t.owns && !side_.hangup();
  return t;
}

// Sleeps until an event: a wake-up, the timer, the socket readable (when it owns the read side;
// it reads) or closed by the peer (when it does not: it reports the hang-up).
void ClientImpl::WaitTurn(const IoTurn& t) {
  pollfd p[3] = {{wake_fd_, POLLIN, 0},
                 {timer_fd_, POLLIN, 0},
                 {t.fd, static_cast<short>(t.owns ? POLLIN : POLLRDHUP), 0}};
  const nfds_t n = (t.fd >= 0 && (t.owns || t.watch_hup)) ? 3 : 2;
  if (::poll(p, n, -1) <= 0) return;  // EINTR
  if (p[0].revents) Drain(wake_fd_);
  if (p[1].revents) {
    Drain(timer_fd_);
    std::lock_guard lock(mu_);
    timer_at_ms_ = kNever;  // fired: ExpireDeadlines re-arms it
  }
  if (n < 3 || !p[2].revents) return;
  if (t.owns) {
    Status s = ReadFrames(t.fd, t.tls, true);
    if (!s.ok()) OnDisconnect(s);
  } else {
    std::lock_guard lock(mu_);
    Apply(side_.Hangup());
  }
}

bool ClientImpl::SleepUnlessClosing(uint32_t ms) {
  const int64_t until = NowMs() + ms;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (side_.closing()) return false;
    }
    const int64_t left = until - NowMs();
    if (left <= 0) return true;
    pollfd p{wake_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) > 0) Drain(wake_fd_);
  }
}

Status ClientImpl::ReadFrames(int fd, tls::TlsSession* tls, bool io) {
  char chunk[kReadChunkBytes];
  Status end;
  // TLS: read while the session holds bytes it read ahead (poll() cannot see those); what is
  // still in the socket, poll() reports.
  while (tls) {
    const tls::TlsSession::Outcome o = tls->Read(chunk, sizeof(chunk));
    if (o.io == tls::TlsSession::Io::kDone) {
      in_.append(chunk, o.bytes);
      if (!tls->Buffered()) break;
      continue;
    }
    if (o.io == tls::TlsSession::Io::kClosed) end = Status::IOError("server closed the connection");
    if (o.io == tls::TlsSession::Io::kError) end = Status::IOError(tls->error());
    break;  // kWantRead; kWantWrite (a key update to answer) is retried at the next read
  }
  while (!tls) {
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      end = Status::IOError(n == 0 ? "server closed the connection" : strerror(errno));
      break;
    }
    if (n < 0) break;
    in_.append(chunk, static_cast<size_t>(n));
    if (static_cast<size_t>(n) < sizeof(chunk)) break;
  }
  size_t used = 0;
  while (true) {
    proto::Frame f;
    auto r =
        proto::ParseFrame(in_.data() + used, in_.size() - used, proto::kFrameBodyBytesCeiling, &f);
    if (r.outcome == proto::ParseOutcome::kNeedMore) break;
    if (r.outcome == proto::ParseOutcome::kError) {
      in_.clear();
      return Status::Corruption("malformed frame from server");
    }
    Dispatch(f.header, f.body, io);
    used += r.frame_bytes;
  }
  in_.erase(0, used);
  return end;
}

// ---------------------------------------------------------------- blocking callers

void ClientImpl::BeginStart() {
  tls_inline_calls = this;
}

void ClientImpl::EndStart() {
  tls_inline_calls = nullptr;
}

void ClientImpl::WaitSync(SyncWaiter* w) {
  std::unique_lock lock(mu_);
  if (w->done) return;
  side_.CallerWaits(w);
  while (!w->done) {
    if (!side_.Owns(w)) {
      w->cv.wait(lock);
    } else if (side_.MustYield()) {
      Apply(side_.Yield(w));
    } else {
      const int fd = fd_;  // stable: only the I/O thread closes it, and only as the owner
      tls::TlsSession* tls = tls_.get();  // the same
      lock.unlock();
      Status s = ReadAsCaller(fd, tls);
      lock.lock();
      if (!s.ok()) {
        broken_ = s;  // for the I/O thread: it disconnects and reconnects
        Apply(side_.Hangup());
      }
    }
  }
  Apply(side_.Leave(w));
}

// Sleeps until the socket is readable or reader_wake_fd_ is signalled, then receives.
Status ClientImpl::ReadAsCaller(int fd, tls::TlsSession* tls) {
  pollfd p[2] = {{fd, POLLIN, 0}, {reader_wake_fd_, POLLIN, 0}};
  if (::poll(p, 2, -1) <= 0) return Status::Ok();  // EINTR
  if (p[1].revents) Drain(reader_wake_fd_);
  return p[0].revents ? ReadFrames(fd, tls, false) : Status::Ok();
}

void ClientImpl::Complete(SyncWaiter* w) {
  std::lock_guard lock(mu_);
  w->done = true;
  Apply(side_.Finished(w));
}

// ---------------------------------------------------------------- dispatch

bool ClientImpl::HandOff(const proto::FrameHeader& h, std::string_view body) {
  std::lock_guard lock(mu_);
  if (!(h.flags & proto::kFlagPush)) {
    auto it = pending_.find(h.request_id);
    if (it == pending_.end() || it->second.inline_ok) return false;
  }
  handoff_.push_back(Frame{h, std::string(body)});
  if (handoff_.size() == 1) Signal(wake_fd_);
  return true;
}

void ClientImpl::Dispatch(const proto::FrameHeader& h, std::string_view body, bool io) {
  if (!io && HandOff(h, body)) return;
  if (h.flags & proto::kFlagPush) return DeliverPush(h.request_id, body);
  Status status;
  if (h.flags & proto::kFlagError) {
    proto::ErrorBody e;
    status = proto::Decode(body, &e) ? StatusFromWire(e.code, e.message)
                                     : Status::Corruption("malformed error body");
    if (h.flags & proto::kFlagFatal) {
      std::lock_guard lock(mu_);
      last_fatal_ = StatusText(status);
    }
  }
  RawCallback cb;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(h.request_id);
    if (it == pending_.end()) return;  // timed out already, or a connection-level error
    cb = TakePending(it);
  }
  cb(status, status.ok() ? body : std::string_view());
}

void ClientImpl::DeliverPush(uint64_t wire_id, std::string_view body) {
  proto::PushMessage m;
  if (!proto::Decode(body, &m)) return;
  SubscriptionHandler handler;
  {
    std::lock_guard lock(mu_);
    auto w = sub_by_wire_.find(wire_id);
    if (w == sub_by_wire_.end()) return;
    auto s = subs_.find(w->second);
    if (s == subs_.end() || m.message.seq <= s->second.last_seq) return;
    s->second.last_seq = m.message.seq;
    handler = s->second.handler;
  }
  handler(SubscriptionEvent{Status::Ok(), std::move(m.ns), std::move(m.timeline),
                            std::move(m.message)});
}

// Called by the I/O thread as the read side's owner: closes the socket.
void ClientImpl::OnDisconnect(const Status& why) {
  std::vector<RawCallback> failed;
  bool closing;
  std::string reason;
  {
    std::lock_guard lock(mu_);
    {
      std::lock_guard slock(send_mu_);
      CloseSocket();
      ++generation_;
    }
    in_.clear();
    side_.Disconnected();
    broken_ = Status();
    closing = side_.closing();
    reason = last_fatal_.empty() ? StatusText(why) : last_fatal_;
    last_fatal_.clear();
    const int64_t now = NowMs();
    for (auto it = pending_.begin(); it != pending_.end();) {
      Pending& p = it->second;
      if (p.sent && !(p.retriable && p.deadline->first > now)) {
        failed.push_back(TakePending(it++));
      } else {
        p.sent = false;
        ++it;
      }
    }
    sub_by_wire_.clear();
    for (auto& [id, s] : subs_) s.active = false;
  }
  Status s = closing ? Status::Closed("client closed")
                     : Status::IOError("connection lost (" + reason + ")");
  for (auto& cb : failed) cb(s, {});
}

void ClientImpl::Reconnect() {
  Status last;
  for (uint32_t attempt = 0; attempt < options_.reconnect_attempts; ++attempt) {
    if (attempt > 0 && !SleepUnlessClosing(options_.reconnect_backoff_ms << (attempt - 1))) {
      return;
    }
    ServerInfo info;
    auto dialed = DialAndHello(&info);
    if (!dialed.ok()) {
      last = dialed.status();
      if (last.code() == Status::Code::kPermissionDenied) break;  // retrying will not help
      continue;
    }
    std::vector<std::string> resend;
    std::vector<SubscriptionId> resub;
    uint64_t gen;
    {
      std::lock_guard lock(mu_);
      {
        std::lock_guard slock(send_mu_);
        fd_ = dialed->fd;
        tls_ = std::move(dialed->tls);
        gen = generation_;
      }
      side_.Connected();  // the side stays with this thread until its next turn passes it on
      std::vector<uint64_t> ids;
      for (auto& [id, p] : pending_) {
        if (!p.sent) ids.push_back(id);
      }
      std::sort(ids.begin(), ids.end());
      for (uint64_t id : ids) {
        Pending& p = pending_[id];
        p.sent = true;
        resend.push_back(p.retriable ? p.frame : std::move(p.frame));
      }
      for (auto& [id, s] : subs_) resub.push_back(id);
    }
    for (const auto& f : resend) SendFrame(f, gen);
    Resubscribe(resub);
    return;
  }
  FailAll(Status::IOError("cannot reconnect to " + options_.server + ": " + StatusText(last)));
}

void ClientImpl::FailAll(const Status& s) {
  std::vector<RawCallback> cbs;
  std::vector<SubscriptionHandler> handlers;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, p] : pending_) cbs.push_back(std::move(p.cb));
    pending_.clear();
    deadlines_.clear();
    async_pending_ = 0;
    // After Close() the user ended the subscriptions: their handlers are not called again
    // (they may refer to state the caller is destroying).
    if (!side_.closing()) {
      for (auto& [id, sub] : subs_) handlers.push_back(std::move(sub.handler));
    }
    subs_.clear();
    sub_by_wire_.clear();
    UpdateIoWork();
  }
  for (auto& cb : cbs) cb(s, {});
  for (auto& h : handlers) h(SubscriptionEvent{s, {}, {}, {}});
}

void ClientImpl::ExpireDeadlines() {
  std::vector<std::pair<uint8_t, RawCallback>> expired;
  {
    std::lock_guard lock(mu_);
    const int64_t now = NowMs();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      auto it = pending_.find(deadlines_.begin()->second);
      const uint8_t op = it->second.op;
      expired.emplace_back(op, TakePending(it));
    }
    ArmTimer();
  }
  for (auto& [op, cb] : expired) {
    cb(Status::TimedOut(std::string(proto::OpName(op)) + " timed out"), {});
  }
}

// ---------------------------------------------------------------- subscriptions

void ClientImpl::StartSubscribe(SubscriptionId sid, Seq after_seq, bool from_latest,
                                uint32_t timeout_ms, std::function<void(Status)> done) {
  std::string body;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(sid);
    if (it == subs_.end()) return done(Status::NotFound("subscription gone"));
    proto::WireWriter w(&body);
    proto::Encode(proto::SubscribeRequest{it->second.ns, it->second.timeline, after_seq,
                                          static_cast<uint8_t>(from_latest ? 1 : 0)},
                  w);
  }
  CallBound(proto::Op::kSubscribe, std::move(body), timeout_ms, false, sid,
            [this, sid, done](Status s, std::string_view resp) {
              proto::SubscribeResponse r;
              if (s.ok() && !proto::Decode(resp, &r)) s = Status::Corruption("bad SUBSCRIBE reply");
              {
                std::lock_guard lock(mu_);
                auto it = subs_.find(sid);
                if (it != subs_.end() && s.ok()) {
                  it->second.active = true;
                  it->second.last_seq = std::max(it->second.last_seq, r.start_after);
                } else if (it != subs_.end()) {
                  sub_by_wire_.erase(it->second.wire_id);
                }
              }
              done(s);
            });
}

Result<SubscriptionId> ClientImpl::Subscribe(std::string ns, std::string timeline, Seq after_seq,
                                             bool from_latest, SubscriptionHandler handler,
                                             uint32_t timeout_ms) {
  if (OnIoThread()) return Status::InvalidArgument("blocking Subscribe from a client callback");
  SubscriptionId sid;
  {
    std::lock_guard lock(mu_);
    if (side_.closing()) return Status::Closed("client closed");
    sid = next_sub_++;
    Sub& s = subs_[sid];
    s.ns = std::move(ns);
    s.timeline = std::move(timeline);
    s.last_seq = from_latest ? 0 : after_seq;
    s.handler = std::move(handler);
    UpdateIoWork();  // the I/O thread reads its pushes
  }
  std::promise<Status> p;
  auto f = p.get_future();
  StartSubscribe(sid, after_seq, from_latest, timeout_ms, [&p](Status s) { p.set_value(s); });
  Status s = f.get();
  if (!s.ok()) {
    std::lock_guard lock(mu_);
    subs_.erase(sid);
    UpdateIoWork();
    return s;
  }
  return sid;
}

void ClientImpl::Resubscribe(const std::vector<SubscriptionId>& ids) {
  for (SubscriptionId sid : ids) {
    Seq after;
    {
      std::lock_guard lock(mu_);
      auto it = subs_.find(sid);
      if (it == subs_.end()) continue;
      after = it->second.last_seq;
    }
    StartSubscribe(sid, after, false, 0, [this, sid](Status s) {
      if (s.ok()) return;
      SubscriptionHandler h;
      {
        std::lock_guard lock(mu_);
        auto it = subs_.find(sid);
        if (it == subs_.end()) return;
        h = std::move(it->second.handler);
        subs_.erase(it);
        UpdateIoWork();
      }
      if (h) h(SubscriptionEvent{s, {}, {}, {}});
    });
  }
}

Status ClientImpl::Unsubscribe(SubscriptionId id, uint32_t timeout_ms) {
  if (OnIoThread()) return Status::InvalidArgument("blocking Unsubscribe from a client callback");
  uint64_t wire;
  bool connected;
  {
    std::lock_guard lock(mu_);
    auto it = subs_.find(id);
    if (it == subs_.end()) return Status::NotFound("no such subscription");
    wire = it->second.wire_id;
    sub_by_wire_.erase(wire);
    subs_.erase(it);
    UpdateIoWork();
    connected = side_.connected();
  }
  if (!connected) return Status::Ok();
  std::string body;
  proto::WireWriter w(&body);
  proto::Encode(proto::UnsubscribeRequest{wire}, w);
  std::promise<Status> p;
  auto f = p.get_future();
  Call(proto::Op::kUnsubscribe, std::move(body), timeout_ms, false,
       [&p](Status s, std::string_view) { p.set_value(s); });
  Status s = f.get();
  return s.IsNotFound() ? Status::Ok() : s;
}

}  // namespace tldb
