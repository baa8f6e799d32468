// ListenAddress: parsing "HOST:PORT" / "[V6]:PORT" into a socket address.
//
// Contract: Resolve() accepts numeric IPv4/IPv6 hosts and "localhost" (resolved numerically to
// 127.0.0.1), never does DNS, and reports malformed input as InvalidArgument.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <string_view>

#include "tldb/status.h"

namespace tldb::server {

struct ListenAddress {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  bool loopback = false;

  static Result<ListenAddress> Resolve(std::string_view host_port);
};

// "127.0.0.1:7070" / "[::1]:7070" for a bound socket.
std::string FormatAddress(const sockaddr_storage& addr);

}  // namespace tldb::server
