// SessionHandler: the connection-level requests, HELLO (version check, authentication,
// limits) and PING.
//
// Contract: one per Loop; runs on that loop's thread only. Blocks on nothing (the token table
// is immutable once the server started). Owns no lock and no state: a successful HELLO marks
// the Connection handshaken with the token's rights.
#pragma once

#include <cstdint>
#include <string_view>

#include "connection.h"
#include "handler_context.h"

namespace tldb::server {

class SessionHandler {
 public:
  explicit SessionHandler(HandlerContext& ctx) : ctx_(ctx) {}

  void Hello(Connection& c, uint64_t id, std::string_view body);
  void Ping(Connection& c, uint64_t id, std::string_view body);

 private:
  HandlerContext& ctx_;
};

}  // namespace tldb::server
