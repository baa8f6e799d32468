// CursorHandler: device cursors (CURSOR_SET / CURSOR_GET), stored in the system namespace
// __cursors (the storage layout is described in cursor_handler.cc).
//
// Contract: one per Loop; its request methods and completions run on that loop's thread only.
// Blocks on nothing: the stored cursor is read inline (a backward scan of one record), a new
// record is appended with Db::AppendAsync and its completion (or its retry after a Conflict
// with a racing CURSOR_SET) comes back through the loop's queue (AsyncCall). Owns no lock and
// no state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "connection.h"
#include "handler_context.h"

namespace tldb::server {

class CursorHandler {
 public:
  explicit CursorHandler(HandlerContext& ctx) : ctx_(ctx) {}

  void CursorSet(Connection& c, uint64_t id, std::string_view body);
  void CursorGet(Connection& c, uint64_t id, std::string_view body);

 private:
  // Reads the stored cursor and appends a new record if it moves (runs again on Conflict).
  void CursorWrite(uint64_t conn_id, uint64_t id, std::string device, std::string ns,
                   std::string timeline, Seq seq, bool reset, int attempt);

  HandlerContext& ctx_;
};

}  // namespace tldb::server
