#include "replication/tcp_transport.h"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "protocol/host_port.h"

namespace tldb::repl {
namespace {

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool ReadAll(int fd, char* p, size_t n) {
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
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
  // A peer that stopped reading (stopped, or hung) must not hold the sender for ever.
  timeval tv{1, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

}  // namespace

Result<std::unique_ptr<TcpTransport>> TcpTransport::Start(Options options) {
  if (!options.on_message || !options.address_of) {
    return Status::InvalidArgument("TcpTransport needs on_message and address_of");
  }
  TLDB_ASSIGN_OR_RETURN(proto::SocketAddress a,
                        proto::ResolveHostPort(options.listen, "peer listen address"));
  std::unique_ptr<TcpTransport> t(new TcpTransport(std::move(options)));
  t->listen_fd_ = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (t->listen_fd_ < 0) return Status::IOError(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  (void)::setsockopt(t->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(t->listen_fd_, reinterpret_cast<const sockaddr*>(&a.addr), a.addr_len) != 0 ||
      ::listen(t->listen_fd_, 16) != 0) {
    return Status::IOError("peer listen on " + t->options_.listen + ": " + std::strerror(errno));
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
  std::string body;
  for (;;) {
    char len_bytes[4];
    if (!ReadAll(fd, len_bytes, 4)) break;
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i) {
      len |= static_cast<uint32_t>(static_cast<uint8_t>(len_bytes[i])) << (8 * i);
    }
    if (len > options_.message_bytes_max) break;
    body.resize(len);
    if (!ReadAll(fd, body.data(), len)) break;
    options_.on_message(std::move(body));
    body = std::string();
  }
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
  int fd = -1;
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
    if (fd < 0) {
      const std::string address = options_.address_of(to);
      if (!address.empty()) fd = Connect(address);
      if (fd < 0) {
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
    if (!WriteAll(fd, len_bytes, 4) || !WriteAll(fd, msg.data(), msg.size())) {
      ::close(fd);
      fd = -1;
    }
  }
  if (fd >= 0) ::close(fd);
}

}  // namespace tldb::repl
