// HOST:PORT addresses: "127.0.0.1:7070", "[::1]:7070", "localhost:7070". The one parser of the
// server's --listen, the client's and the tools' --server and the benchmarks' addresses.
//
// Contract: ResolveHostPort() accepts numeric IPv4/IPv6 hosts and "localhost" (resolved
// numerically to 127.0.0.1), never does DNS, and reports malformed input as InvalidArgument,
// naming the address by `what` ("listen address must be HOST:PORT, ..."). Port 0 is accepted
// (callers that need a real port check it).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "tldb/status.h"

namespace tldb::proto {

struct SocketAddress {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  bool loopback = false;
};

// Splits "HOST:PORT" / "[V6]:PORT" into the host (brackets dropped, localhost -> 127.0.0.1) and
// the port.
Status SplitHostPort(std::string_view host_port, std::string_view what, std::string* host,
                     uint16_t* port);
Result<SocketAddress> ResolveHostPort(std::string_view host_port, std::string_view what);

// "127.0.0.1:7070" / "[::1]:7070" for a socket address.
std::string FormatAddress(const sockaddr_storage& addr);

}  // namespace tldb::proto
