#include "dial.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "protocol/host_port.h"

namespace tldb {

namespace {

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

}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + strerror(errno));
}

Result<int> Dial(const std::string& server, int64_t deadline_ms) {
  socklen_t len = 0;
  auto resolved = proto::ResolveHostPort(server, "server");
  if (!resolved.ok()) return resolved.status();
  if (resolved->addr.ss_family == AF_INET
          ? reinterpret_cast<const sockaddr_in*>(&resolved->addr)->sin_port == 0
          : reinterpret_cast<const sockaddr_in6*>(&resolved->addr)->sin6_port == 0) {
    return Status::InvalidArgument("bad port in '" + server + "'");
  }
  const sockaddr_storage* addr = &resolved->addr;
  len = resolved->addr_len;
  int fd = ::socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(addr), len) != 0 && errno != EINPROGRESS) {
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

}  // namespace tldb
