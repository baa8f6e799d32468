#include "dial.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

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

std::string HostOf(const std::string& server) {
  std::string host = server.substr(0, server.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

Status TlsFailure(const std::string& server, const tls::TlsSession& tls) {
  std::string why = tls.error();
  // A plain-TCP server answers a ClientHello with a plain error frame, which TLS reads as a
  // record of an unknown version.
  if (why.find("wrong version number") != std::string::npos ||
      why.find("packet length too long") != std::string::npos) {
    why += " (the server does not speak TLS on this port?)";
  }
  return Status::IOError("TLS with " + server + ": " + why);
}

Result<std::unique_ptr<tls::TlsSession>> TlsHandshake(int fd,
                                                      std::shared_ptr<const tls::TlsContext> ctx,
                                                      const std::string& server,
                                                      const std::string& server_name,
                                                      int64_t deadline_ms) {
  TLDB_ASSIGN_OR_RETURN(
      auto session, tls::TlsSession::Connect(std::move(ctx), fd,
                                             server_name.empty() ? HostOf(server) : server_name));
  while (true) {
    const tls::TlsSession::Outcome o = session->Handshake();
    switch (o.io) {
      case tls::TlsSession::Io::kDone:
        return session;
      case tls::TlsSession::Io::kWantRead:
      case tls::TlsSession::Io::kWantWrite:
        if (!PollUntil(fd, o.io == tls::TlsSession::Io::kWantRead ? POLLIN : POLLOUT,
                       deadline_ms)) {
          return Status::TimedOut("TLS handshake with " + server + ": timed out");
        }
        break;
      case tls::TlsSession::Io::kClosed:
        return Status::IOError("TLS handshake with " + server +
                               ": the server closed the connection");
      case tls::TlsSession::Io::kError:
        return TlsFailure(server, *session);
    }
  }
}

bool SendAll(int fd, tls::TlsSession* tls, std::string_view data, int64_t deadline_ms) {
  size_t off = 0;
  while (off < data.size() && tls) {
    const tls::TlsSession::Outcome o = tls->Write(data.data() + off, data.size() - off);
    if (o.io == tls::TlsSession::Io::kDone) {
      off += o.bytes;
    } else if (o.io == tls::TlsSession::Io::kWantWrite) {
      if (!PollUntil(fd, POLLOUT, deadline_ms)) return false;
    } else if (o.io == tls::TlsSession::Io::kWantRead) {
      // Only during a handshake; the reading thread consumes what arrives, so wait briefly and
      // try again rather than competing for the socket's input.
      if (!PollUntil(fd, POLLIN, std::min(deadline_ms, NowMs() + 10)) && NowMs() >= deadline_ms) {
        return false;
      }
    } else {
      return false;
    }
  }
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

Result<std::pair<proto::FrameHeader, std::string>> ReadOneFrame(int fd, tls::TlsSession* tls,
                                                                int64_t deadline_ms) {
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
    if (tls) {
      const tls::TlsSession::Outcome o = tls->Read(chunk, sizeof(chunk));
      if (o.io == tls::TlsSession::Io::kDone) {
        buf.append(chunk, o.bytes);
        continue;
      }
      if (o.io == tls::TlsSession::Io::kClosed) {
        return Status::IOError("server closed the connection during HELLO");
      }
      if (o.io == tls::TlsSession::Io::kError) return Status::IOError(tls->error());
      if (!PollUntil(fd, o.io == tls::TlsSession::Io::kWantRead ? POLLIN : POLLOUT, deadline_ms)) {
        return Status::TimedOut("no HELLO answer in time");
      }
      continue;
    }
    if (!PollUntil(fd, POLLIN, deadline_ms)) return Status::TimedOut("no HELLO answer in time");
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n == 0) return Status::IOError("server closed the connection during HELLO");
    if (n < 0 && errno != EINTR && errno != EAGAIN) return Errno("recv");
    if (n > 0) buf.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace tldb
