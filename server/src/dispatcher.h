// Dispatcher: routes the decoded requests of one loop's connections to their handlers.
//
// Contract: runs on its loop's thread only, blocks on nothing and owns no lock. Handle() checks
// what every request must satisfy (no flags, a known opcode, HELLO first: otherwise a fatal
// error) and passes the request to the handler of its opcode, which decodes its body, checks
// rights before the Db is touched and answers it exactly once (immediately, or later from a
// completion) unless the connection closes first. The handlers, one .h/.cc pair each:
//   SessionHandler  HELLO, PING
//   DataHandler     APPEND, APPEND_FANOUT, MUTATE, GET, SCAN, LAST_SEQ
//   WatchHandler    WAIT, SUBSCRIBE, UNSUBSCRIBE (and the notifications of acknowledged appends)
//   CursorHandler   CURSOR_SET, CURSOR_GET
//   MaintHandler    STATS, NS_CREATE, NS_LIST, NS_DESCRIBE, NS_SET_OPTIONS, COMPACT,
//                   COMPACT_STATUS
//   BackupHandler   BACKUP_OPEN, BACKUP_READ, BACKUP_CLOSE
// They share one HandlerContext (failure answers, rights checks, async-request bookkeeping).
// Handle() records the latency of the requests answered inside their handler; those answered
// from a completion are recorded by HandlerContext::Completed() (ServerStats::CompletesAsync),
// and a SCAN answered over several turns by DataHandler::ContinueScan.
// The other methods are the loop's way into the WAIT/SUBSCRIBE state (WatchHandler).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "backup_handler.h"
#include "connection.h"
#include "cursor_handler.h"
#include "data_handler.h"
#include "handler_context.h"
#include "maint_handler.h"
#include "protocol/frame.h"
#include "session_handler.h"
#include "watch_handler.h"

namespace tldb::server {

class Loop;

class Dispatcher {
 public:
  explicit Dispatcher(Loop* loop);
  Dispatcher(const Dispatcher&) = delete;  // the handlers refer to ctx_ and watch_
  Dispatcher& operator=(const Dispatcher&) = delete;

  void Handle(Connection& conn, const proto::Frame& frame);
  // The next step of the connection's pending SCAN (conn.scan() set), answered once done.
  void ContinueScan(Connection& conn) { data_.ContinueScan(conn); }

  // An append to `key` was acknowledged with `seq` (runs on each watching loop).
  void TimelineAdvanced(const std::string& key, Seq seq) { watch_.TimelineAdvanced(key, seq); }
  void ExpireWait(uint64_t conn_id, uint64_t request_id) { watch_.ExpireWait(conn_id, request_id); }
  // Answers every parked WAIT now (shutdown).
  void ReleaseAllWaits() { watch_.ReleaseAllWaits(); }
  // Unregisters the connection's waits and subscriptions and releases its backups (before it
  // is destroyed).
  void Forget(Connection& conn) {
    watch_.Forget(conn);
    backup_.Forget(conn);
  }

 private:
  // Calls the handler of `op` (a known request opcode).
  void Route(Connection& conn, uint8_t op, uint64_t id, std::string_view body);

  // Declaration order is construction order: the context first, the WatchHandler before the
  // DataHandler that refers to it.
  HandlerContext ctx_;
  SessionHandler session_;
  WatchHandler watch_;
  DataHandler data_;
  CursorHandler cursor_;
  MaintHandler maint_;
  BackupHandler backup_;
};

}  // namespace tldb::server
