#include "client_impl.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include "protocol/frame.h"
#include "protocol/messages.h"

namespace tldb {

namespace {

// How often the I/O thread checks deadlines while traffic flows. 10 ms bounds timeout skew.
constexpr int64_t kExpiryIntervalMs = 10;
constexpr size_t kReadChunkBytes = 64u << 10;

// Set while a thread runs the start of ClientImpl::Blocking(): the Call()s it makes are inline.
thread_local const ClientImpl* tls_inline_calls = nullptr;
// Set while a blocking caller holds the read role: the waiter it reads for.
thread_local const void* tls_reading = nullptr;

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

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + strerror(errno));
}

Result<sockaddr_storage> ParseAddress(const std::string& hp, socklen_t* len) {
  size_t colon = hp.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("server must be HOST:PORT");
  std::string host = hp.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  int port = std::atoi(hp.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return Status::InvalidArgument("bad port in '" + hp + "'");
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
  } else {
    return Status::InvalidArgument("server host must be a numeric address: '" + host + "'");
  }
  return ss;
}

// Waits for `events` on fd until deadline; false on timeout or error.
bool PollUntil(int fd, short events, int64_t deadline_ms) {
  while (true) {
    int64_t left = deadline_ms - NowMs();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

Result<int> Dial(const std::string& server, int64_t deadline_ms) {
  socklen_t len = 0;
  auto addr = ParseAddress(server, &len);
  if (!addr.ok()) return addr.status();
  int fd = ::socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&*addr), len) != 0 && errno != EINPROGRESS) {
    Status s = Errno("connect " + server);
    ::close(fd);
    return s;
  }
  int err = 0;
  socklen_t elen = sizeof(err);
  if (!PollUntil(fd, POLLOUT, deadline_ms) ||
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
    ::close(fd);
    return err ? Status::IOError("connect " + server + ": " + strerror(err))
               : Status::TimedOut("connect " + server + ": timed out");
  }
  return fd;
}

bool SendAll(int fd, std::string_view data, int64_t deadline_ms) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!PollUntil(fd, POLLOUT, deadline_ms)) return false;
    } else {
      return false;
    }
  }
  return true;
}

// Reads exactly one frame (the HELLO answer) within the deadline.
Result<std::pair<proto::FrameHeader, std::string>> ReadOneFrame(int fd, int64_t deadline_ms) {
  std::string buf;
  char chunk[4096];
  while (true) {
    proto::Frame f;
    auto r = proto::ParseFrame(buf.data(), buf.size(), proto::kFrameBodyBytesCeiling, &f);
    if (r.outcome == proto::ParseOutcome::kFrame) {
      return std::make_pair(f.header, std::string(f.body));
    }
    if (r.outcome == proto::ParseOutcome::kError) {
      return Status::Corruption("malformed frame from server");
    }
    if (!PollUntil(fd, POLLIN, deadline_ms)) return Status::TimedOut("no HELLO answer in time");
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n == 0) return Status::IOError("server closed the connection during HELLO");
    if (n < 0 && errno != EINTR && errno != EAGAIN) return Errno("recv");
    if (n > 0) buf.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

Status StatusFromWire(uint16_t code, std::string_view message) {
  std::string msg(message);
  if (code < proto::kFirstProtocolError) {
    if (code == 0 || code > static_cast<uint16_t>(Status::Code::kTimedOut)) {
      return Status::Corruption("server sent error code " + std::to_string(code) + ": " + msg);
    }
    return Status(static_cast<Status::Code>(code), msg);
  }
  std::string text = std::string(proto::ErrorName(code)) + ": " + msg;
  switch (static_cast<proto::ErrorCode>(code)) {
    case proto::ErrorCode::kHandshakeRequired:
    case proto::ErrorCode::kAuthFailed:
      return Status::PermissionDenied(text);
    case proto::ErrorCode::kTooManyConnections:
    case proto::ErrorCode::kSlowConsumer:
      return Status::Busy(text);
    case proto::ErrorCode::kShuttingDown:
      return Status::Closed(text);
    case proto::ErrorCode::kTimedOutConnection:
      return Status::TimedOut(text);
    case proto::ErrorCode::kUnknownOpcode:
    case proto::ErrorCode::kUnsupportedVersion:
      return Status::NotSupported(text);
    default:
      return Status::InvalidArgument(text);
  }
}

Result<std::unique_ptr<ClientImpl>> ClientImpl::Connect(const ClientOptions& options) {
  std::unique_ptr<ClientImpl> c(new ClientImpl(options));
  if (c->wake_fd_ < 0 || c->reader_wake_fd_ < 0) return Errno("eventfd");
  auto fd = c->DialAndHello(&c->info_);
  if (!fd.ok()) return fd.status();
  c->fd_ = *fd;
  c->connected_ = true;
  c->io_thread_ = std::thread([p = c.get()] { p->Run(); });
  return c;
}

Result<int> ClientImpl::DialAndHello(ServerInfo* info) {
  int64_t deadline = NowMs() + options_.connect_timeout_ms;
  TLDB_ASSIGN_OR_RETURN(int fd, Dial(options_.server, deadline));
  std::string body;
  proto::WireWriter w(&body);
  proto::Encode(proto::HelloRequest{proto::kVersion, options_.client_name, options_.token}, w);
  std::string frame = proto::EncodeFrame(static_cast<uint8_t>(proto::Op::kHello), 0, 0, body);
  auto reply = SendAll(fd, frame, deadline)
                   ? ReadOneFrame(fd, deadline)
                   : Result<std::pair<proto::FrameHeader, std::string>>(
                         Status::IOError("cannot send HELLO to " + options_.server));
  Status s = reply.status();
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
  return fd;
}

ClientImpl::ClientImpl(const ClientOptions& options) : options_(options) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  reader_wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

ClientImpl::~ClientImpl() {
  Close();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (reader_wake_fd_ >= 0) ::close(reader_wake_fd_);
}

void ClientImpl::Close() {
  {
    std::lock_guard lock(mu_);
    if (closing_ && !io_thread_.joinable()) return;
    closing_ = true;
    Signal(wake_fd_);
    Signal(reader_wake_fd_);
  }
  cv_.notify_all();
  {
    std::lock_guard lock(send_mu_);
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }
  if (io_thread_.joinable() && !OnIoThread()) io_thread_.join();
  std::unique_lock lock(mu_);
  while (reader_ == Reader::kCaller) {  // a blocking caller receiving: it sees the shutdown
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    lock.lock();
  }
  std::lock_guard slock(send_mu_);
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
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
    if (closing_) {
      lock.unlock();
      return cb(Status::Closed("client closed"), {});
    }
    id = next_id_++;
    frame = proto::EncodeFrame(static_cast<uint8_t>(op), 0, id, body);
    Pending& p = pending_[id];
    p.op = static_cast<uint8_t>(op);
    p.deadline_ms = NowMs() + Deadline(timeout_ms);
    p.retriable = retriable;
    p.inline_ok = tls_inline_calls == this;
    p.cb = std::move(cb);
    if (!p.inline_ok) {
      ++async_pending_;
      if (reader_ == Reader::kNone) WakeIo();  // it now has a response to read
    }
    if (sub) {
      sub_by_wire_[id] = sub;
      subs_[sub].wire_id = id;
    }
    if (!connected_) {
      p.frame = std::move(frame);  // sent by the reconnection
      cv_.notify_all();
      return;
    }
    p.sent = true;
    if (retriable) p.frame = frame;
    std::lock_guard slock(send_mu_);
    gen = generation_;
  }
  SendFrame(frame, gen);
}

bool ClientImpl::SendFrame(const std::string& frame, uint64_t generation) {
  std::lock_guard lock(send_mu_);
  if (generation != generation_ || fd_ < 0) return false;  // that connection is gone
  if (SendAll(fd_, frame, NowMs() + options_.request_timeout_ms)) return true;
  ::shutdown(fd_, SHUT_RDWR);  // the reader sees it and the I/O thread reconnects
  return false;
}

// ---------------------------------------------------------------- the I/O thread

void ClientImpl::Run() {
  while (true) {
    Status read_error;
    std::vector<Frame> frames;
    bool read = false, watch_socket = false;
    {
      std::unique_lock lock(mu_);
      io_watching_ = false;
      if (closing_) break;
      if (!connected_) {
        if (pending_.empty() && subs_.empty()) {
          cv_.wait_for(lock, std::chrono::milliseconds(100));
          continue;
        }
        lock.unlock();
        Reconnect();
        continue;
      }
      frames.swap(handoff_);
      read_error = std::exchange(read_error_, Status());
      read = reader_ == Reader::kNone && (!read_error.ok() || IoHasReadWork());
      if (read) {
        reader_ = Reader::kIo;
      } else {
        io_watching_ = true;
        watch_socket = reader_ == Reader::kNone;
      }
    }
    for (auto& f : frames) Dispatch(f.header, f.body, true);  // before anything read later
    if (read) {
      IoRead(read_error);
    } else {
      IoWatch(watch_socket);
    }
    ExpireDeadlines();
  }
  FailAll(Status::Closed("client closed"));
}

// Holds the read role: handles a read error a caller reported, or receives for up to one
// expiry interval; then gives the role back.
void ClientImpl::IoRead(const Status& read_error) {
  Status s = read_error;
  if (s.ok()) {
    pollfd p[2] = {{CurrentFd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int n = ::poll(p, 2, static_cast<int>(kExpiryIntervalMs));
    if (n > 0 && p[1].revents) Drain(wake_fd_);
    if (n > 0 && p[0].revents) s = ReadFrames(true);
  }
  if (!s.ok()) OnDisconnect(s);
  std::lock_guard lock(mu_);
  reader_ = Reader::kNone;
  PassReadRole();
}

// Nothing to read for the I/O thread: sleeps until woken or the next expiry check. With the
// role free it watches the idle socket for the server closing it (POLLRDHUP, not data).
void ClientImpl::IoWatch(bool watch_socket) {
  pollfd p[2] = {{wake_fd_, POLLIN, 0}, {CurrentFd(), POLLRDHUP, 0}};
  int n = ::poll(p, watch_socket ? 2 : 1, static_cast<int>(kExpiryIntervalMs));
  if (n > 0 && p[0].revents) Drain(wake_fd_);
  if (n <= 0 || !watch_socket || !p[1].revents) return;
  {
    std::lock_guard lock(mu_);
    io_watching_ = false;
    if (reader_ != Reader::kNone) return;
    reader_ = Reader::kIo;
  }
  IoRead(Status::Ok());  // reads what is left, then the EOF
}

int ClientImpl::CurrentFd() {
  std::lock_guard lock(send_mu_);
  return fd_;
}

Status ClientImpl::ReadFrames(bool io) {
  char chunk[kReadChunkBytes];
  const int fd = CurrentFd();
  Status end;
  while (true) {
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

void ClientImpl::BeginSync(SyncWaiter* w) {
  {
    std::lock_guard lock(mu_);
    waiting_.push_back(w);
  }
  tls_inline_calls = this;
}

void ClientImpl::EndStart() {
  tls_inline_calls = nullptr;
}

void ClientImpl::WaitSync(SyncWaiter* w) {
  std::unique_lock lock(mu_);
  while (!w->done) {
    if (reader_ == Reader::kNone && connected_ && !closing_ && read_error_.ok()) {
      reader_ = Reader::kCaller;
      w->reading = true;
      lock.unlock();
      tls_reading = w;
      Status s = ReadAsCaller();
      tls_reading = nullptr;
      lock.lock();
      w->reading = false;
      reader_ = Reader::kNone;
      if (!s.ok()) read_error_ = s;  // for the I/O thread: it disconnects and reconnects
      if (w->done || !s.ok()) PassReadRole();
      continue;
    }
    w->cv.wait_for(lock, std::chrono::milliseconds(kExpiryIntervalMs));
  }
  waiting_.erase(std::find(waiting_.begin(), waiting_.end(), w));
}

// Waits up to one expiry interval for the socket (or a wake-up), then receives.
Status ClientImpl::ReadAsCaller() {
  pollfd p[2] = {{CurrentFd(), POLLIN, 0}, {reader_wake_fd_, POLLIN, 0}};
  int n = ::poll(p, 2, static_cast<int>(kExpiryIntervalMs));
  if (n <= 0) return Status::Ok();
  if (p[1].revents) Drain(reader_wake_fd_);
  return p[0].revents ? ReadFrames(false) : Status::Ok();
}

void ClientImpl::Complete(SyncWaiter* w) {
  std::lock_guard lock(mu_);
  w->done = true;
  if (!w->reading) {
    w->cv.notify_one();
  } else if (tls_reading != w) {
    Signal(reader_wake_fd_);  // it polls the socket: wake it
  }
}

bool ClientImpl::IoHasReadWork() const {
  return async_pending_ > 0 || !subs_.empty();
}

void ClientImpl::PassReadRole() {
  if (closing_ || !connected_ || reader_ != Reader::kNone) return;
  if (!read_error_.ok()) return WakeIo();
  for (SyncWaiter* w : waiting_) {
    if (!w->done) {
      w->cv.notify_one();
      return;
    }
  }
  if (IoHasReadWork() || !handoff_.empty()) WakeIo();
}

void ClientImpl::WakeIo() {
  if (!io_watching_) return;
  io_watching_ = false;
  Signal(wake_fd_);
}

// ---------------------------------------------------------------- dispatch

bool ClientImpl::HandOff(const proto::FrameHeader& h, std::string_view body) {
  std::lock_guard lock(mu_);
  if (!(h.flags & proto::kFlagPush)) {
    auto it = pending_.find(h.request_id);
    if (it == pending_.end() || it->second.inline_ok) return false;
  }
  handoff_.push_back(Frame{h, std::string(body)});
  WakeIo();
  return true;
}

ClientImpl::RawCallback ClientImpl::TakePending(
    std::unordered_map<uint64_t, Pending>::iterator it) {
  RawCallback cb = std::move(it->second.cb);
  if (!it->second.inline_ok) --async_pending_;
  pending_.erase(it);
  return cb;
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
      last_fatal_ = status.ToString();
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

void ClientImpl::OnDisconnect(const Status& why) {
  {
    std::lock_guard slock(send_mu_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ++generation_;
  }
  in_.clear();
  std::vector<RawCallback> failed;
  std::string reason;
  bool closing;
  {
    std::lock_guard lock(mu_);
    connected_ = false;
    closing = closing_;
    reason = last_fatal_.empty() ? why.ToString() : last_fatal_;
    last_fatal_.clear();
    int64_t now = NowMs();
    for (auto it = pending_.begin(); it != pending_.end();) {
      Pending& p = it->second;
      if (p.sent && !(p.retriable && p.deadline_ms > now)) {
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
    {
      std::unique_lock lock(mu_);
      if (closing_) return;
      if (attempt > 0) {
        auto backoff = std::chrono::milliseconds(options_.reconnect_backoff_ms << (attempt - 1));
        cv_.wait_for(lock, backoff, [this] { return closing_; });
        if (closing_) return;
      }
    }
    ServerInfo info;
    auto fd = DialAndHello(&info);
    if (!fd.ok()) {
      last = fd.status();
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
        fd_ = *fd;
        gen = generation_;
      }
      connected_ = true;
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
    std::lock_guard lock(mu_);
    PassReadRole();  // a blocking caller whose request was re-sent reads again
    return;
  }
  FailAll(Status::IOError("cannot reconnect to " + options_.server + ": " + last.ToString()));
}

void ClientImpl::FailAll(const Status& s) {
  std::vector<RawCallback> cbs;
  std::vector<SubscriptionHandler> handlers;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, p] : pending_) cbs.push_back(std::move(p.cb));
    pending_.clear();
    async_pending_ = 0;
    // After Close() the user ended the subscriptions: their handlers are not called again
    // (they may refer to state the caller is destroying).
    if (!closing_) {
      for (auto& [id, sub] : subs_) handlers.push_back(std::move(sub.handler));
    }
    subs_.clear();
    sub_by_wire_.clear();
  }
  for (auto& cb : cbs) cb(s, {});
  for (auto& h : handlers) h(SubscriptionEvent{s, {}, {}, {}});
}

void ClientImpl::ExpireDeadlines() {
  int64_t now = NowMs();
  if (now - last_expiry_ms_ < kExpiryIntervalMs) return;
  last_expiry_ms_ = now;
  std::vector<std::pair<uint8_t, RawCallback>> expired;
  {
    std::lock_guard lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline_ms <= now) {
        uint8_t op = it->second.op;
        expired.emplace_back(op, TakePending(it++));
      } else {
        ++it;
      }
    }
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
    if (closing_) return Status::Closed("client closed");
    sid = next_sub_++;
    Sub& s = subs_[sid];
    s.ns = std::move(ns);
    s.timeline = std::move(timeline);
    s.last_seq = from_latest ? 0 : after_seq;
    s.handler = std::move(handler);
  }
  std::promise<Status> p;
  auto f = p.get_future();
  StartSubscribe(sid, after_seq, from_latest, timeout_ms, [&p](Status s) { p.set_value(s); });
  Status s = f.get();
  if (!s.ok()) {
    std::lock_guard lock(mu_);
    subs_.erase(sid);
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
    connected = connected_;
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
