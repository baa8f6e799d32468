#include "replication/tcp_transport.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "protocol/host_port.h"
#include "tldb/errno_status.h"
#include "tls/tls_session.h"

namespace tldb::repl {
namespace {

// A send that cannot progress for this long fails: a peer that stopped reading (stopped, or
// hung) must not hold the sender for ever.
constexpr int kSendStallMs = 1000;

// One peer connection: the socket, and its TLS session when the transport uses TLS (the socket
// is then non-blocking and waits happen in poll()).
struct Stream {
  int fd = -1;
  std::unique_ptr<tls::TlsSession> tls;
};

// Waits until `fd` is ready for `events` (timeout_ms -1: no limit). False on timeout or error.
bool WaitFor(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

// All of [p, p + n) through the stream's TLS session: written (`write`) or read, waiting for the
// readiness the session asks for, each wait at most `timeout_ms` (-1: no limit).
bool TlsAll(Stream& s, bool write, char* p, size_t n, int timeout_ms) {
  while (n > 0) {
    const tls::TlsSession::Outcome o = write ? s.tls->Write(p, n) : s.tls->Read(p, n);
    if (o.io == tls::TlsSession::Io::kDone) {
      p += o.bytes;
      n -= o.bytes;
    } else if (o.io == tls::TlsSession::Io::kWantRead || o.io == tls::TlsSession::Io::kWantWrite) {
      const short ev = o.io == tls::TlsSession::Io::kWantRead ? POLLIN : POLLOUT;
      if (!WaitFor(s.fd, ev, timeout_ms)) return false;
    } else {
      return false;
    }
  }
  return true;
}

bool WriteAll(Stream& s, const char* p, size_t n) {
  // A send that waits longer than kSendStallMs fails (the peer stopped reading).
  if (s.tls) return TlsAll(s, true, const_cast<char*>(p), n, kSendStallMs);
  while (n > 0) {
    const ssize_t w = ::send(s.fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool ReadAll(Stream& s, char* p, size_t n) {
  // No limit: a quiet peer is normal; Stop() shuts the socket down, which wakes the wait.
  if (s.tls) return TlsAll(s, false, p, n, -1);
  while (n > 0) {
    const ssize_t r = ::recv(s.fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL, 0);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// The host part of "HOST:PORT" or "[V6]:PORT": the name the peer's certificate must carry.
std::string HostOf(const std::string& address) {
  std::string host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

int Connect(const std::string& address) {
  auto a = proto::ResolveHostPort(address, "peer address");
  if (!a.ok()) return -1;
  const int fd = ::socket(a->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a->addr), a->addr_len) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{kSendStallMs / 1000, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

}  // namespace

Status TcpTransport::LoadTls(const std::string& cert_file, const std::string& key_file,
                             const std::string& ca_file, Options* options) {
  if (cert_file.empty() || key_file.empty() || ca_file.empty()) {
    return Status::InvalidArgument(
        "peer TLS needs a certificate, its key and the CA that signs every peer's certificate");
  }
  TLDB_ASSIGN_OR_RETURN(options->tls_server,
                        tls::TlsContext::ForServer(cert_file, key_file, ca_file));
  TLDB_ASSIGN_OR_RETURN(options->tls_client,
                        tls::TlsContext::ForClient(ca_file, cert_file, key_file));
  return Status::Ok();
}

Result<std::unique_ptr<TcpTransport>> TcpTransport::Start(Options options) {
  if (!options.on_message || !options.address_of) {
    return Status::InvalidArgument("TcpTransport needs on_message and address_of");
  }
  if ((options.tls_server == nullptr) != (options.tls_client == nullptr)) {
    return Status::InvalidArgument("peer TLS needs both its server and its client context");
  }
  TLDB_ASSIGN_OR_RETURN(proto::SocketAddress a,
                        proto::ResolveHostPort(options.listen, "peer listen address"));
  std::unique_ptr<TcpTransport> t(new TcpTransport(std::move(options)));
  t->listen_fd_ = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (t->listen_fd_ < 0) return StatusFromErrno(errno, "socket");
  const int one = 1;
  (void)::setsockopt(t->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(t->listen_fd_, reinterpret_cast<const sockaddr*>(&a.addr), a.addr_len) != 0 ||
      ::listen(t->listen_fd_, 16) != 0) {
    return StatusFromErrno(errno, "peer listen on " + t->options_.listen);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  (void)::getsockname(t->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  t->listen_address_ = proto::FormatAddress(bound);
  t->acceptor_ = std::thread([p = t.get()] { p->AcceptLoop(); });
  return t;
}

TcpTransport::~TcpTransport() {
  Stop();
}

void TcpTransport::Stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> readers;
  {
    std::lock_guard l(mu_);
    for (int fd : reader_fds_) ::shutdown(fd, SHUT_RDWR);
    readers.swap(readers_);
    for (auto& [n, p] : peers_) {
      std::lock_guard pl(p->mu);
      p->cv.notify_all();
    }
  }
  for (auto& r : readers) r.join();
  std::lock_guard l(mu_);
  for (auto& [n, p] : peers_) {
    if (p->sender.joinable()) p->sender.join();
  }
}

void TcpTransport::AcceptLoop() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    std::lock_guard l(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    reader_fds_.push_back(fd);
    readers_.emplace_back([this, fd] { ReadLoop(fd); });
  }
}

void TcpTransport::ReadLoop(int fd) {
  Stream in{fd, nullptr};
  bool ok = true;
  if (options_.tls_server) {
    auto session = tls::TlsSession::Accept(options_.tls_server, fd);
    ok = session.ok() && SetNonBlocking(fd);
    if (ok) in.tls = std::move(session).value();
  }
  std::string body;
  while (ok) {
    char len_bytes[4];
    if (!ReadAll(in, len_bytes, 4)) break;
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i) {
      len |= static_cast<uint32_t>(static_cast<uint8_t>(len_bytes[i])) << (8 * i);
    }
    if (len > options_.message_bytes_max) break;
    body.resize(len);
    if (!ReadAll(in, body.data(), len)) break;
    options_.on_message(std::move(body));
    body = std::string();
  }
  in.tls.reset();  // before the socket it uses is closed
  std::lock_guard l(mu_);
  std::erase(reader_fds_, fd);
  ::close(fd);
}

void TcpTransport::Send(uint32_t, uint32_t to, std::string bytes) {
  if (stopping_) return;
  Peer* p = nullptr;
  {
    std::lock_guard l(mu_);
    auto& slot = peers_[to];
    if (!slot) {
      slot = std::make_unique<Peer>();
      Peer* raw = slot.get();
      slot->sender = std::thread([this, to, raw] { SendLoop(to, raw); });
    }
    p = slot.get();
  }
  std::lock_guard pl(p->mu);
  if (p->queued_bytes + bytes.size() > options_.queue_bytes_max) return;  // dropped
  p->queued_bytes += bytes.size();
  p->queue.push_back(std::move(bytes));
  p->cv.notify_one();
}

void TcpTransport::SendLoop(uint32_t to, Peer* p) {
  Stream out;
  const auto drop = [&] {
    out.tls.reset();
    if (out.fd >= 0) ::close(out.fd);
    out.fd = -1;
  };
  while (!stopping_) {
    std::string msg;
    {
      std::unique_lock l(p->mu);
      p->cv.wait(l, [&] { return stopping_ || !p->queue.empty(); });
      if (stopping_) break;
      msg = std::move(p->queue.front());
      p->queue.pop_front();
      p->queued_bytes -= msg.size();
    }
    if (out.fd < 0) {
      const std::string address = options_.address_of(to);
      if (!address.empty()) out.fd = Connect(address);
      if (out.fd >= 0 && options_.tls_client) {
        // The peer's certificate must name the host this node dials it at.
        auto session = tls::TlsSession::Connect(options_.tls_client, out.fd, HostOf(address));
        if (session.ok() && SetNonBlocking(out.fd)) {
          out.tls = std::move(session).value();
        } else {
          drop();
        }
      }
      if (out.fd < 0) {
        // Unreachable: this message is lost, and the queue is dropped until a connection
        // works again (the protocol resends what matters).
        std::unique_lock l(p->mu);
        p->queue.clear();
        p->queued_bytes = 0;
        p->cv.wait_for(l, std::chrono::milliseconds(100), [&] { return stopping_.load(); });
        continue;
      }
    }
    char len_bytes[4];
    const auto n = static_cast<uint32_t>(msg.size());
    for (int i = 0; i < 4; ++i) len_bytes[i] = static_cast<char>(n >> (8 * i));
    if (!WriteAll(out, len_bytes, 4) || !WriteAll(out, msg.data(), msg.size())) drop();
  }
  drop();
}

}  // namespace tldb::repl
