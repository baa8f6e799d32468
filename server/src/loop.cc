#include "loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "protocol/host_port.h"
#include "protocol/messages.h"
#include "tldb/errno_status.h"
#include "tldb/submit_batch.h"

namespace tldb::server {

namespace {

uint16_t Code(proto::ErrorCode c) {
  return static_cast<uint16_t>(c);
}

}  // namespace

Loop::Loop(ServerCore* core, size_t index) : core_(core), index_(index), dispatcher_(this) {
  scratch_.resize(kReadChunkBytes);
}

Loop::~Loop() {
  conns_.clear();
  for (const HeldRefusal& h : held_) ::close(h.fd);
  if (epfd_ >= 0) ::close(epfd_);
  if (wakefd_ >= 0) ::close(wakefd_);
}

Status Loop::Init() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) return StatusFromErrno(errno, "epoll/eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) != 0) {
    return StatusFromErrno(errno, "epoll_ctl eventfd");
  }
  // Every loop waits on the shared listening socket; EPOLLEXCLUSIVE wakes one loop per
  // connection instead of all of them (no thundering herd).
  ev.events = EPOLLIN | EPOLLEXCLUSIVE;
  ev.data.u64 = kListenTag;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, core_->listen_fd, &ev) != 0) {
    return StatusFromErrno(errno, "epoll_ctl listen");
  }
  auto sends = SocketSends::Open(core_->config.net_backend);
  if (!sends.ok()) {
    return Status::InvalidArgument("--net-backend: " + sends.status().ToString());
  }
  sends_ = std::move(sends).value();
  return Status::Ok();
}

void Loop::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Loop::Join() {
  if (thread_.joinable()) thread_.join();
}

void Loop::Post(std::function<void(Loop&)> fn) {
  bool was_empty;
  {
    std::lock_guard lock(queue_mu_);
    was_empty = queue_.empty();
    queue_.push_back(std::move(fn));
  }
  if (was_empty) {
    uint64_t one = 1;
    ssize_t n = ::write(wakefd_, &one, sizeof(one));
    (void)n;  // EAGAIN only when the counter is saturated: the loop is awake anyway
  }
}

Connection* Loop::Find(uint64_t conn_id) {
  auto it = conns_.find(conn_id);
  return it == conns_.end() ? nullptr : it->second.get();
}

void Loop::MarkDirty(Connection& conn) {
  if (!conn.dirty()) {
    conn.set_dirty(true);
    dirty_.push_back(conn.id());
  }
}

void Loop::Run() {
  epoll_event events[256];
  last_sweep_ms_ = NowMs();
  while (!exit_) {
    int n = epoll_wait(epfd_, events, 256, NextTimeoutMs(NowMs()));
    if (n < 0 && errno != EINTR) {
      core_->Log(StatusFromErrno(errno, "epoll_wait failed").message());
      break;
    }
    ++iteration_;
    {
      // The appends of this iteration's turns go to the engine's committer as one group, with
      // one wake-up, when the turns are done (docs/design-server.md "Threads": appends).
      SubmitBatch batch;
      for (int i = 0; i < n; ++i) OnEvent(events[i].data.u64, events[i].events);
      RunDeferredTurns();
    }
    if (accept_pending_) Accept();
    int64_t now = NowMs();
    ExpireWaits(now);
    ReleaseHeld(shutting_down_ ? INT64_MAX : now);
    if (now - last_sweep_ms_ >= kSweepIntervalMs) Sweep(now);
    FlushDirty();
    if (shutting_down_ && (Drained() || now >= shutdown_deadline_ms_)) exit_ = true;
  }
  while (!conns_.empty()) Close(*conns_.begin()->second, "server stopped");
  ReleaseHeld(INT64_MAX);
}

void Loop::OnEvent(uint64_t tag, uint32_t e) {
  if (tag == kListenTag) {
    accept_pending_ = true;  // after every turn of this iteration
    return;
  }
  if (tag == kWakeTag) return DrainQueue();
  Connection* c = Find(tag);
  if (!c) return;
  if (e & (EPOLLHUP | EPOLLERR)) return Close(*c, "");  // reset or closed: nothing to deliver
  if (c->lingering()) return DrainLinger(*c);
  if ((e & EPOLLIN) && c->tls_write_wants_read()) {
    c->set_tls_write_wants_read(false);  // a TLS write waited for the socket to be readable
    MarkDirty(*c);
  }
  if ((e & EPOLLOUT) && c->tls_read_wants_write()) {
    c->set_tls_read_wants_write(false);  // a TLS read (handshake) waited for writability
    e |= EPOLLIN;
  }
  if (e & EPOLLIN) Serve(*c);
  if ((c = Find(tag)) && (e & EPOLLOUT)) MarkDirty(*c);
}

void Loop::Serve(Connection& c) {
  if (c.handshaken()) return Turn(c);
  if (c.turn_iteration() == iteration_) return;
  c.set_turn_iteration(iteration_);  // marks it as served in this iteration (once in later_)
  later_.push_back(c.id());
}

void Loop::RunDeferredTurns() {
  // A connection queued again during these turns waits for the next iteration. The swaps keep
  // both vectors' capacity (no allocation per iteration).
  turn_ids_.clear();
  turn_ids_.swap(ready_);
  for (uint64_t id : turn_ids_) {
    Connection* c = Find(id);
    if (!c) continue;
    c->set_ready_queued(false);
    Serve(*c);
  }
  turn_ids_.clear();
  turn_ids_.swap(later_);
  for (uint64_t id : turn_ids_) {
    if (Connection* c = Find(id)) {
      c->set_turn_iteration(0);  // Serve() only reserved the turn
      Turn(*c);
    }
  }
}

void Loop::QueueReady(Connection& c) {
  if (c.ready_queued()) return;
  if (!c.scan() && (!c.HasUnparsed() || !CanParse(c))) return;
  c.set_ready_queued(true);
  ready_.push_back(c.id());
}

int Loop::NextTimeoutMs(int64_t now) const {
  if (!dirty_.empty() || !ready_.empty()) return 0;
  int64_t t = kSweepIntervalMs - (now - last_sweep_ms_);
  if (!deadlines_.empty()) t = std::min(t, deadlines_.begin()->first - now);
  if (!held_.empty()) t = std::min(t, held_.front().until_ms - now);
  if (!held_answers_.empty()) t = std::min(t, held_answers_.front().first - now);
  return static_cast<int>(std::max<int64_t>(0, t));
}

void Loop::Accept() {
  accept_pending_ = false;  // the listening socket is level-triggered: a backlog is reported again
  for (int i = 0; i < kAcceptsPerIteration && !shutting_down_; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd = accept4(core_->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        core_->Log(StatusFromErrno(errno, "accept failed").message());
      }
      return;
    }
    // The per-address budgets first: a refusal costs no allocation (not even the address's
    // text unless it is logged) and takes no connection slot.
    const PeerKey key = PeerBudgets::KeyOf(addr);
    bool charged = false;
    if (core_->peers) {
      const PeerBudgets::Verdict v = core_->peers->Admit(key, core_->PeerNowMs());
      if (v != PeerBudgets::Verdict::kAdmit) {
        RefusePeer(fd, addr, v);
        continue;
      }
      charged = true;
    }
    auto refund = [&] {
      if (charged) core_->peers->Refund(key, core_->PeerNowMs());
    };
    std::string peer = proto::FormatAddress(addr);
    if (core_->connections.fetch_add(1) >= core_->config.connections_max) {
      core_->connections.fetch_sub(1);
      refund();
      Reject(fd, peer);
      continue;
    }
    // Every loop waits on the listening socket, but EPOLLEXCLUSIVE keeps waking the same one:
    // without a hand-off one loop ends up with nearly every connection (measured: 50 of 50).
    Loop& target = LeastLoaded();
    if (&target == this) {
      Adopt(fd, std::move(peer), key, charged);
    } else {
      // The socket is closed if the target loop ends without running this (a stop racing it).
      auto owned = std::shared_ptr<int>(new int(fd), [](int* p) {
        if (*p >= 0) ::close(*p);
        delete p;
      });
      target.Post([owned, peer = std::move(peer), key, charged](Loop& l) mutable {
        const int adopted = std::exchange(*owned, -1);
        l.Adopt(adopted, std::move(peer), key, charged);
      });
    }
  }
}

Loop& Loop::LeastLoaded() {
  Loop* best = this;
  uint64_t fewest = best->stats_.connections_open.load(std::memory_order_relaxed);
  for (auto& l : core_->loops) {
    if (l->closing_.load(std::memory_order_relaxed)) continue;
    const uint64_t open = l->stats_.connections_open.load(std::memory_order_relaxed);
    if (open < fewest) {
      best = l.get();
      fewest = open;
    }
  }
  ServerStats::Inc(best->stats_.connections_open);
  return *best;
}

void Loop::Adopt(int fd, std::string peer, const PeerKey& key, bool charged) {
  auto drop = [&](const std::string& why) {
    ServerStats::Inc(stats_.connections_open, static_cast<uint64_t>(-1));
    core_->connections.fetch_sub(1);
    if (charged) core_->peers->Refund(key, core_->PeerNowMs());
    core_->Log("closing connection " + peer + ": " + why);
  };
  if (shutting_down_ || exit_) {
    drop("server stopping");
    ::close(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  static thread_local uint64_t counter = 0;
  uint64_t id = (++counter << 8) | index_;
  auto conn = std::make_unique<Connection>(id, fd, peer, NowMs());
  if (core_->tls) {
    auto session = tls::TlsSession::Accept(core_->tls, fd);
    if (!session.ok()) {
      drop(session.status().ToString());
      return;  // the connection's destructor closes the socket
    }
    conn->set_tls(std::move(session).value());
  }
  conn->set_peer_key(key);
  if (charged) conn->set_peer_charged();
  Connection& c = *conn;
  conns_.emplace(id, std::move(conn));
  ServerStats::Inc(stats_.connections_accepted);
  UpdateInterest(c);
}

void Loop::Reject(int fd, const std::string& peer) {
  Refuse(fd, "too many connections (connections-max=" +
                 std::to_string(core_->config.connections_max) + ")");
  ServerStats::Inc(stats_.connections_rejected);
  core_->Log("rejected connection from " + peer + ": too many connections");
}

void Loop::RefuseNow(int fd, bool failures) {
  // What the client sent meanwhile is read and dropped first: closing with unread input would
  // reset the connection and could destroy the answer before the client reads it.
  if (!core_->tls) (void)DiscardInput(fd, scratch_.data(), scratch_.size(), kDiscardBytesMax);
  Refuse(fd, failures ? "too many failed handshakes from this address (peer-handshake-failures-"
                        "per-s); retry later"
                      : "too many unauthenticated connections from this address "
                        "(peer-unauth-connections-per-s); retry later");
}

void Loop::ReleaseHeld(int64_t now) {
  while (!held_.empty() && held_.front().until_ms <= now) {
    const HeldRefusal h = held_.front();
    held_.pop_front();
    RefuseNow(h.fd, h.failures);
  }
  while (!held_answers_.empty() && held_answers_.front().first <= now) {
    Connection* c = Find(held_answers_.front().second);
    held_answers_.pop_front();
    if (c) {
      c->set_hold_until_ms(0);
      MarkDirty(*c);
    }
  }
}

void Loop::HoldAnswer(Connection& c, std::string_view client) {
  const int64_t now = NowMs();
  // One log line per second at most, like the per-address refusals.
  if (const uint64_t n = held_log_.Count(now)) {
    core_->Log("refusing HELLO of " + std::string(client) + " from " + c.peer() +
               ": too many refused requests (" + std::to_string(n) +
               " HELLOs refused by this loop's budgets of refused requests since the last such "
               "line)");
  }
  if (held_answers_.size() >= kRefusalsHeldMax) return;  // sent at once
  c.set_hold_until_ms(now + kRefusalHoldMs);
  held_answers_.emplace_back(c.hold_until_ms(), c.id());
}

void Loop::Refuse(int fd, const std::string& message) {
  // Best effort: one non-blocking send of a fatal error, then close. A TLS listener closes
  // without it (the answer would have to wait for a handshake).
  if (!core_->tls) {
    SendRawError(fd, proto::ErrorCode::kTooManyConnections, message);
  } else {
    // A ClientHello: end with EOF, not reset.
    (void)DiscardInput(fd, scratch_.data(), scratch_.size(), kDiscardBytesMax);
  }
  ::close(fd);
  stats_.CountError(Code(proto::ErrorCode::kTooManyConnections));
}

void Loop::RefusePeer(int fd, const sockaddr_storage& addr, PeerBudgets::Verdict why) {
  const bool failures = why == PeerBudgets::Verdict::kHandshakeFailures;
  // Held first (see kRefusalHoldMs), or answered now when too many are held already.
  if (held_.size() < kRefusalsHeldMax) {
    held_.push_back({fd, NowMs() + kRefusalHoldMs, failures});
  } else {
    RefuseNow(fd, failures);
  }
  ServerStats::Inc(failures ? stats_.refused_peer_failures : stats_.refused_peer_unauth);
  // One log line per second at most: a flood must not turn into a flood of log lines.
  if (const uint64_t n = refused_log_.Count(NowMs())) {
    core_->Log("refusing connections from " + proto::FormatAddress(addr) + ": " +
               (failures ? "too many failed handshakes" : "too many unauthenticated connections") +
               " from its address (" + std::to_string(n) +
               " refused by this loop's per-address budgets since the last such line)");
  }
}

void Loop::SendRawError(int fd, proto::ErrorCode code, const std::string& message) {
  std::string out;
  size_t start = proto::BeginFrame(&out, static_cast<uint8_t>(proto::Op::kHello),
                                   proto::kFlagResponse | proto::kFlagError | proto::kFlagFatal, 0);
  proto::WireWriter w(&out);
  proto::Encode(proto::ErrorBody{Code(code), message}, w);
  proto::EndFrame(&out, start);
  ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)n;
}

Loop::IoResult Loop::Receive(Connection& c, char* buf, size_t cap) {
  tls::TlsSession* s = c.tls();
  if (!s || !c.tls_checked()) {
    // Plain TCP, or the first byte on a TLS listener (peeked: it stays for the session).
    const bool peek = s != nullptr;
    while (true) {
      ssize_t n = ::recv(c.fd(), buf, peek ? 1 : cap, peek ? MSG_PEEK : 0);
      if (n == 0) return {IoResult::kEof};
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return {IoResult::kAgain};
      if (n < 0) return {IoResult::kError, 0, StatusFromErrno(errno, "recv").message()};
      if (!peek) return {IoResult::kData, static_cast<size_t>(n)};
      break;
    }
    c.set_tls_checked();
    constexpr char kTlsHandshakeRecord = 0x16;  // the content type of a ClientHello's record
    if (buf[0] != kTlsHandshakeRecord) {
      // A plain-text client: tell it in its own protocol (it cannot read TLS).
      SendRawError(c.fd(), proto::ErrorCode::kHandshakeRequired,
                   "TLS required: this server accepts TLS connections only");
      (void)DiscardInput(c.fd(), buf, cap, kDiscardBytesMax);
      ServerStats::Inc(stats_.tls_failures);
      return {IoResult::kError, 0, "not TLS (plain-text bytes on the TLS listener)"};
    }
  }
  const tls::TlsSession::Outcome o = s->Read(buf, cap);
  switch (o.io) {
    case tls::TlsSession::Io::kDone:
      return {IoResult::kData, o.bytes};
    case tls::TlsSession::Io::kWantRead:
      return {IoResult::kAgain};
    case tls::TlsSession::Io::kWantWrite:
      c.set_tls_read_wants_write(true);
      return {IoResult::kAgain};
    case tls::TlsSession::Io::kClosed:
      return {IoResult::kEof};
    case tls::TlsSession::Io::kError:
      break;
  }
  if (!s->handshake_done()) ServerStats::Inc(stats_.tls_failures);
  (void)DiscardInput(c.fd(), buf, cap,
                     kDiscardBytesMax);  // the alert OpenSSL sent must reach the client
  return {IoResult::kError, 0, s->error()};
}

Loop::Discarded Loop::DiscardInput(int fd, char* buf, size_t cap, size_t bytes_max) {
  for (size_t total = 0; total < bytes_max;) {
    const ssize_t n = ::recv(fd, buf, cap, MSG_DONTWAIT);
    if (n > 0) {
      total += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return Discarded::kEmpty;
    }
    return Discarded::kPeerClosed;  // EOF, or a reset
  }
  return Discarded::kBoundReached;
}

Loop::IoResult Loop::Transmit(Connection& c, const char* data, size_t size) {
  tls::TlsSession* s = c.tls();
  if (!s) {
    while (true) {
      ssize_t n = ::send(c.fd(), data, size, MSG_NOSIGNAL);
      if (n >= 0) return {IoResult::kData, static_cast<size_t>(n)};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoResult::kAgain};
      return {IoResult::kError, 0, ""};  // reset: nothing worth logging
    }
  }
  const tls::TlsSession::Outcome o = s->Write(data, size);
  switch (o.io) {
    case tls::TlsSession::Io::kDone:
      return {IoResult::kData, o.bytes};
    case tls::TlsSession::Io::kWantWrite:
      return {IoResult::kAgain};
    case tls::TlsSession::Io::kWantRead:
      c.set_tls_write_wants_read(true);
      return {IoResult::kAgain};
    case tls::TlsSession::Io::kClosed:
      return {IoResult::kEof};
    case tls::TlsSession::Io::kError:
      break;
  }
  return {IoResult::kError, 0, s->error()};
}

void Loop::Turn(Connection& c) {
  if (c.turn_iteration() == iteration_) return QueueReady(c);  // one turn per iteration
  c.set_turn_iteration(iteration_);
  if (c.scan()) return ContinueScan(c);
  TurnBudget budget = TurnBudget::For(c.handshaken());
  const uint64_t id = c.id();
  bool progressed = ParseBuffered(c, budget);
  if (!Find(id)) return;
  if (!ReadInput(c, budget, &progressed)) return;
  if (c.scan()) ServerStats::Inc(stats_.scan_turns_yielded);  // its next step: the next turn
  // Requests left in its input, or its SCAN's next step, get the next turn.
  if (!budget.CanHandle() || c.scan()) QueueReady(c);
  AfterInput(c, progressed);
}

void Loop::ContinueScan(Connection& c) {
  // One step is the whole turn: requests after the SCAN wait for its answer (and the next turn).
  dispatcher_.ContinueScan(c);
  if (c.OutBytes() > 0) MarkDirty(c);
  if (c.scan()) ServerStats::Inc(stats_.scan_turns_yielded);
  QueueReady(c);
  AfterInput(c, false);
}

bool Loop::ParseBuffered(Connection& c, TurnBudget& budget) {
  if (!c.HasUnparsed() || !CanParse(c)) return false;
  const std::string_view unparsed = c.Unparsed();
  size_t used = Parse(c, unparsed.data(), unparsed.size(), budget);
  c.Consumed(used);
  c.CompactIn();
  return used > 0;
}

bool Loop::ReadInput(Connection& c, TurnBudget& budget, bool* progressed) {
  while (budget.ReadAllowance() > 0 && CanRead(c)) {
    const size_t want = std::min(scratch_.size(), budget.ReadAllowance());
    IoResult r = Receive(c, scratch_.data(), want);
    if (r.kind == IoResult::kEof || r.kind == IoResult::kError) {
      Close(c, r.error);
      return false;
    }
    if (r.kind == IoResult::kAgain) break;
    const ssize_t n = static_cast<ssize_t>(r.bytes);
    budget.NoteRead(static_cast<size_t>(n));
    ServerStats::Inc(stats_.bytes_in, static_cast<uint64_t>(n));
    if (!c.HasUnparsed()) {
      // Fast path: parse straight from the scratch buffer, keep only the unparsed tail.
      c.ClearInput();
      size_t used = Parse(c, scratch_.data(), static_cast<size_t>(n), budget);
      *progressed |= used > 0;
      if (used < static_cast<size_t>(n)) c.AppendInput({scratch_.data() + used, n - used});
    } else {
      c.AppendInput({scratch_.data(), static_cast<size_t>(n)});
      *progressed |= ParseBuffered(c, budget);
    }
    if (!Find(c.id())) return false;  // closed while parsing
    Account(c);
    // A short read drained the socket: skip the recv that would only say EAGAIN (epoll is
    // level-triggered and reports the socket again when more arrives). A TLS read returns one
    // record at most: it goes on while the session holds bytes read ahead.
    if (static_cast<size_t>(n) < want && !(c.tls() && c.tls()->Buffered())) break;
  }
  // Bytes left inside the TLS session (the budget ran out) make no epoll event: move what
  // decrypts (the session's read-ahead buffer at most) into the input, for the ready list.
  bool moved = false;
  while (c.tls() && c.tls()->Buffered()) {
    IoResult r = Receive(c, scratch_.data(), scratch_.size());
    if (r.kind != IoResult::kData) break;  // a partial record: the socket will report the rest
    ServerStats::Inc(stats_.bytes_in, r.bytes);
    c.AppendInput({scratch_.data(), r.bytes});
    moved = true;
  }
  if (moved) {
    Account(c);
    QueueReady(c);
  }
  return true;
}

bool Loop::CanParse(const Connection& c) const {
  return !c.close_requested() && !shutting_down_ && !c.scan() &&
         c.inflight() < core_->config.inflight_requests_max &&
         c.OutPending() < core_->config.output_buffer_bytes_max / 2;
}

bool Loop::CanRead(const Connection& c) const {
  if (!CanParse(c)) return false;
  return c.buffered_counted() == 0 || core_->buffered_bytes.load(std::memory_order_relaxed) <
                                          static_cast<int64_t>(core_->config.buffers_bytes_max);
}

void Loop::Account(Connection& c) {
  // A buffer counts with its capacity (what it occupies) while it holds bytes to parse or
  // send. Empty buffers are not counted: a connection paused by the budget always holds
  // something that the frame deadline, the send stall or a completion will release.
  const size_t in = c.HasUnparsed() ? c.InCapacity() : 0;
  const size_t out = c.OutPending() > 0 ? c.OutCapacity() : 0;
  const int64_t held = static_cast<int64_t>(in + out);
  if (held != c.buffered_counted()) {
    core_->buffered_bytes.fetch_add(held - c.buffered_counted(), std::memory_order_relaxed);
    c.set_buffered_counted(held);
  }
}

size_t Loop::Parse(Connection& c, const char* data, size_t size, TurnBudget& budget) {
  size_t used = 0;
  while (budget.CanHandle() && CanParse(c)) {
    proto::Frame frame;
    proto::ParseResult r =
        proto::ParseFrame(data + used, size - used, core_->config.frame_body_bytes_max, &frame);
    if (r.outcome == proto::ParseOutcome::kNeedMore) break;
    if (r.outcome == proto::ParseOutcome::kError) {
      std::string msg = r.error == proto::ErrorCode::kFrameTooLarge
                            ? "frame body larger than frame-body-bytes-max=" +
                                  std::to_string(core_->config.frame_body_bytes_max)
                            : std::string(proto::ErrorName(Code(r.error)));
      core_->Log("client " + c.peer() + ": " + msg + ", disconnecting");
      ServerStats::Inc(stats_.disconnects_protocol);
      stats_.CountError(Code(r.error));
      core_->ChargeRefused(c);  // after HELLO; before it, the close is a failed handshake
      c.Error(r.op, r.request_id, Code(r.error), msg, /*fatal=*/true);
      MarkDirty(c);
      return size;  // discard the rest: the connection is closing
    }
    used += r.frame_bytes;
    c.set_last_active_ms(NowMs());
    const size_t out_before = c.OutBytes();
    dispatcher_.Handle(c, frame);
    budget.NoteRequest(c.OutBytes() > out_before ? c.OutBytes() - out_before : 0);
    if (c.close_after_output()) {
      ServerStats::Inc(stats_.disconnects_protocol);  // a fatal error answer was queued
      core_->ChargeRefused(c);
      core_->Log("client " + c.peer() + ": fatal error answering " +
                 std::string(proto::OpName(frame.header.op)) + ", disconnecting");
      MarkDirty(c);
      return size;
    }
    if (c.OutBytes() > 0) MarkDirty(c);
    if (c.scan()) break;  // a SCAN goes on in the next turns; later requests wait for it
  }
  return used;
}

void Loop::AfterInput(Connection& c, bool progressed) {
  if (c.HasUnparsed() && CanParse(c)) {
    if (progressed || c.frame_start_ms() == 0) c.set_frame_start_ms(NowMs());
  } else {
    c.set_frame_start_ms(0);
  }
  UpdateInterest(c);
}

void Loop::Resume(Connection& c) {
  QueueReady(c);
  UpdateInterest(c);
}

void Loop::UpdateInterest(Connection& c) {
  Account(c);
  uint32_t want = 0;
  if (CanRead(c) || c.lingering()) want |= EPOLLIN;
  // A dirty connection is flushed before the loop waits again, so EPOLLOUT is only asked for
  // once a send would block: otherwise every request would cost two epoll_ctl calls.
  if (c.OutPending() > 0 && !c.dirty()) want |= EPOLLOUT;
  if (c.tls_read_wants_write()) want |= EPOLLOUT;
  if (c.tls_write_wants_read()) want |= EPOLLIN;
  if (c.registered() && c.epoll_events() == want) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c.id();
  epoll_ctl(epfd_, c.registered() ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd(), &ev);
  c.Registered(want);
}

bool Loop::MaySend(Connection& c) {
  if (c.close_now()) {
    Close(c, c.close_reason());
    return false;
  }
  return c.hold_until_ms() == 0;
}

void Loop::Flush(Connection& c, bool try_send) {
  if (MaySend(c)) SendAndResume(c, try_send);
}

void Loop::SendAndResume(Connection& c, bool try_send) {
  while (try_send && c.OutPending() > 0) {
    IoResult r = Transmit(c, c.PendingOutput().data(), c.OutPending());
    if (r.kind == IoResult::kAgain) break;
    if (r.kind != IoResult::kData) {
      Close(c, r.error);
      return;
    }
    c.Sent(r.bytes);
    ServerStats::Inc(stats_.bytes_out, r.bytes);
  }
  c.CompactOut();
  if (c.OutPending() == 0 && c.close_after_output()) {
    if (!c.lingering()) Linger(c);
    return;
  }
  Resume(c);
}

void Loop::ChargeFailedHandshake(Connection& c) {
  if (!c.handshaken() && !shutting_down_) {
    // Whatever ended it (a wrong token, a fatal error, EOF, a timeout): a failed handshake.
    ServerStats::Inc(stats_.handshake_failures);
    if (c.peer_charged()) core_->peers->HandshakeFailed(c.peer_key(), core_->PeerNowMs());
  }
}

void Loop::Linger(Connection& c) {
  ChargeFailedHandshake(c);  // now, not when the client gets round to closing
  c.BeginLinger(NowMs() + static_cast<int64_t>(core_->config.close_linger_ms));
  UpdateInterest(c);
  DrainLinger(c);  // what has arrived already (epoll would report it at the next wait too)
}

void Loop::DrainLinger(Connection& c) {
  // Bounded per call, so a client that keeps sending cannot hold the loop: the rest is read at
  // its next readiness, until the linger deadline (Sweep) closes the connection.
  const size_t bytes_max = kLingerReadsPerTurn * scratch_.size();
  if (DiscardInput(c.fd(), scratch_.data(), scratch_.size(), bytes_max) == Discarded::kPeerClosed) {
    Close(c, "");  // the client closed (or reset): nothing more to deliver
  }
}

void Loop::FlushDirty() {
  // A flush that closes nothing makes no new output (Resume only queues a turn), but a sweep's
  // or shutdown's marks can arrive while flushing: a few rounds until quiet.
  for (int round = 0; round < 4 && !dirty_.empty(); ++round) {
    std::vector<uint64_t> ids;
    ids.swap(dirty_);
    // The plain connections with output make their first send together (SocketSends: one
    // system call for all of them); the rest, and what a short send leaves, go through Flush.
    send_conns_.clear();
    send_items_.clear();
    for (uint64_t id : ids) {
      Connection* c = Find(id);
      if (!c) continue;
      c->set_dirty(false);
      if (c->OutPending() > core_->config.output_buffer_bytes_max && !c->close_now()) {
        c->RequestClose(Connection::CloseMode::kNow,
                        "output buffer above output-buffer-bytes-max (client not reading)");
        ServerStats::Inc(stats_.disconnects_slow);
      }
      if (!MaySend(*c)) continue;
      if (c->tls() != nullptr || c->OutPending() == 0) {
        SendAndResume(*c, /*try_send=*/true);
        continue;
      }
      send_conns_.push_back(c);
      send_items_.push_back({c->fd(), c->PendingOutput().data(), c->OutPending(), 0});
    }
    if (send_items_.empty()) continue;
    sends_->Send(send_items_);
    // SendAndResume closes only the connection it is given, so the others stay valid.
    for (size_t i = 0; i < send_conns_.size(); ++i) {
      Connection& c = *send_conns_[i];
      const int64_t r = send_items_[i].result;
      if (r >= 0) {
        c.Sent(static_cast<size_t>(r));
        ServerStats::Inc(stats_.bytes_out, static_cast<uint64_t>(r));
        // Sends the rest, if the send was short (the next send says EAGAIN).
        SendAndResume(c, /*try_send=*/true);
      } else if (r == -EAGAIN || r == -EWOULDBLOCK) {
        SendAndResume(c, /*try_send=*/false);  // waits for EPOLLOUT
      } else {
        Close(c, "");  // reset or closed by the peer: nothing worth logging
      }
    }
  }
}

void Loop::Close(Connection& c, std::string_view reason) {
  if (!reason.empty()) core_->Log("closing connection " + c.peer() + ": " + std::string(reason));
  if (!c.lingering()) ChargeFailedHandshake(c);  // a lingering one was charged as it began
  dispatcher_.Forget(c);
  epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd(), nullptr);
  core_->buffered_bytes.fetch_sub(c.buffered_counted(), std::memory_order_relaxed);
  core_->connections.fetch_sub(1);
  ServerStats::Inc(stats_.connections_open, static_cast<uint64_t>(-1));
  conns_.erase(c.id());
}

void Loop::DrainQueue() {
  uint64_t count = 0;
  ssize_t n = ::read(wakefd_, &count, sizeof(count));
  (void)n;
  {
    std::lock_guard lock(queue_mu_);
    running_.swap(queue_);
  }
  for (auto& fn : running_) fn(*this);
  running_.clear();
}

void Loop::ExpireWaits(int64_t now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    auto [conn_id, request_id] = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    dispatcher_.ExpireWait(conn_id, request_id);
  }
}

void Loop::Sweep(int64_t now) {
  last_sweep_ms_ = now;
  const ServerConfig& cfg = core_->config;
  std::vector<std::pair<Connection*, std::string>> victims;
  std::vector<Connection*> lingered;
  for (auto& [id, conn] : conns_) {
    Connection& c = *conn;
    if (c.lingering()) {
      if (now >= c.linger_until_ms()) lingered.push_back(&c);
      continue;
    }
    UpdateInterest(c);  // reading resumes once the buffer budget allows it again
    if (c.frame_start_ms() &&
        now - c.frame_start_ms() > static_cast<int64_t>(cfg.frame_deadline_ms)) {
      victims.emplace_back(&c, "frame not completed within frame-deadline-ms");
    } else if (c.OutPending() > 0 && c.hold_until_ms() == 0 &&
               now - c.out_progress_ms() > static_cast<int64_t>(cfg.send_stall_ms)) {
      victims.emplace_back(&c, "output stalled for send-stall-ms (client not reading)");
    } else if (c.tls() && now - c.created_ms() > static_cast<int64_t>(cfg.frame_deadline_ms) &&
               !c.tls()->handshake_done()) {
      victims.emplace_back(&c, "TLS handshake not completed within frame-deadline-ms");
    } else if (!c.Busy() && c.OutPending() == 0 &&
               now - c.last_active_ms() > static_cast<int64_t>(cfg.idle_timeout_ms)) {
      victims.emplace_back(&c, "idle for idle-timeout-ms");
    }
  }
  for (auto& [c, why] : victims) {
    bool stalled = why.starts_with("output");
    ServerStats::Inc(stalled ? stats_.disconnects_slow : stats_.disconnects_timeout);
    if (!stalled) {
      // Tell the client why before closing (best effort, no waiting for the peer).
      stats_.CountError(Code(proto::ErrorCode::kTimedOutConnection));
      c->Error(
          0, 0,
          Code(stalled ? proto::ErrorCode::kSlowConsumer : proto::ErrorCode::kTimedOutConnection),
          why, true);
      if (!c->tls() || c->tls()->handshake_done()) {
        IoResult r = Transmit(*c, c->PendingOutput().data(), c->OutPending());
        (void)r;
      }
    }
    Close(*c, why);
  }
  for (Connection* c : lingered) Close(*c, "");  // the client did not close within the linger
}

void Loop::BeginShutdown() {
  shutting_down_ = true;
  closing_.store(true, std::memory_order_relaxed);
  shutdown_deadline_ms_ = NowMs() + static_cast<int64_t>(core_->config.shutdown_drain_ms);
  epoll_ctl(epfd_, EPOLL_CTL_DEL, core_->listen_fd, nullptr);
  dispatcher_.ReleaseAllWaits();
  for (auto& [id, c] : conns_) {
    MarkDirty(*c);
    UpdateInterest(*c);
  }
}

bool Loop::Drained() const {
  for (const auto& [id, c] : conns_) {
    if (c->inflight() > 0 || c->OutPending() > 0 || c->scan()) return false;
  }
  return true;
}

}  // namespace tldb::server
