#include "protocol/host_port.h"

#include <arpa/inet.h>

#include <charconv>

namespace tldb::proto {

Status SplitHostPort(std::string_view s, std::string_view what, std::string* host, uint16_t* port) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    return Status::InvalidArgument(std::string(what) + " address must be HOST:PORT, got '" +
                                   std::string(s) + "'");
  }
  std::string_view h = s.substr(0, colon), p = s.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || value > 65535) {
    return Status::InvalidArgument("bad port in " + std::string(what) + " address '" +
                                   std::string(s) + "'");
  }
  *host = h == "localhost" ? "127.0.0.1" : std::string(h);
  *port = static_cast<uint16_t>(value);
  return Status::Ok();
}

Result<SocketAddress> ResolveHostPort(std::string_view host_port, std::string_view what) {
  std::string host;
  uint16_t port = 0;
  TLDB_RETURN_IF_ERROR(SplitHostPort(host_port, what, &host, &port));
  SocketAddress out;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out.addr_len = sizeof(sockaddr_in);
    out.loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out.addr_len = sizeof(sockaddr_in6);
    out.loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
  } else {
    return Status::InvalidArgument(
        std::string(what) + " host must be a numeric IP address or localhost, got '" + host + "'");
  }
  return out;
}

std::string FormatAddress(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof(buf));
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr);
  inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(ntohs(v4->sin_port));
}

}  // namespace tldb::proto
