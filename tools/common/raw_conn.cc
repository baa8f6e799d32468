#include "common/raw_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace tldb::common {

namespace {
using Clock = std::chrono::steady_clock;
int MsLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}
}  // namespace

RawConn::RawConn(uint16_t port, int rcvbuf_bytes, const char* source_ip) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  if (source_ip != nullptr) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (inet_pton(AF_INET, source_ip, &from.sin_addr) != 1 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
  if (rcvbuf_bytes > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof(int));
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

RawConn::~RawConn() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConn::Send(std::string_view bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

long RawConn::SendSome(std::string_view bytes) {
  ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
  return n;
}

bool RawConn::SendFrame(proto::Op op, uint64_t id, std::string_view body) {
  return Send(proto::EncodeFrame(static_cast<uint8_t>(op), 0, id, body));
}

bool RawConn::Hello(std::string_view token, std::string_view client_name) {
  if (!SendMsg(proto::Op::kHello, 0, proto::HelloRequest{proto::kVersion, client_name, token})) {
    return false;
  }
  auto f = ReadFrame(5'000);
  return f && !f->error();
}

uint16_t RawConn::Frame::ErrorCode() const {
  if (!error()) return 0;
  proto::ErrorBody e;
  return proto::Decode(body, &e) ? e.code : 0;
}

std::optional<RawConn::Frame> RawConn::ReadFrame(int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    proto::Frame f;
    auto r = proto::ParseFrame(buf_.data(), buf_.size(), proto::kFrameBodyBytesCeiling, &f);
    if (r.outcome == proto::ParseOutcome::kFrame) {
      Frame out{f.header, std::string(f.body)};
      buf_.erase(0, r.frame_bytes);
      return out;
    }
    if (eof_ || MsLeft(deadline) == 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, MsLeft(deadline)) <= 0) continue;
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      eof_ = true;
      continue;
    }
    buf_.append(chunk, static_cast<size_t>(n));
  }
}

bool RawConn::WaitEof(int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!eof_ && MsLeft(deadline) > 0) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, std::min(50, MsLeft(deadline))) <= 0) continue;
    char chunk[65536];
    if (::recv(fd_, chunk, sizeof(chunk), 0) <= 0) eof_ = true;
  }
  return eof_;
}

bool RawConn::PeerClosed() const {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return true;
  return info.tcpi_state == TCP_CLOSE_WAIT || info.tcpi_state == TCP_CLOSE;
}

}  // namespace tldb::common
