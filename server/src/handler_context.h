// HandlerContext: what the request handlers of one loop share (dispatcher.h lists them):
// failure answers, rights checks and the bookkeeping of asynchronous requests.
//
// Contract: one per Loop (inside its Dispatcher); every method but the accessors runs on that
// loop's thread only and blocks on nothing (it encodes into a Connection's output or reads the
// loop's state). loop(), core() and stats() never change after construction: AsyncCall calls
// loop() from any thread to post back. It owns no lock. Fail(), Malformed() and Fatal() count
// the error answer by code in the loop's stats; Malformed() and Fatal() close the connection once
// the answer is sent. A Check*() that returns false has already answered the request
// (PERMISSION_DENIED). StartAsync() and Completed() bracket every asynchronous request: the first
// counts it in its connection's inflight, the second (on the loop, when the answer is back) records
// its latency and uncounts it.
#pragma once

#include <cstdint>
#include <string_view>

#include "connection.h"
#include "protocol/codes.h"
#include "protocol/messages.h"

namespace tldb::server {

class AsyncCall;
class Loop;
struct ServerCore;
struct ServerStats;

class HandlerContext {
 public:
  explicit HandlerContext(Loop* loop);

  Loop& loop() const { return *loop_; }
  ServerCore& core() const { return *core_; }
  ServerStats& stats() const { return *stats_; }

  // Rights on namespace `ns`; false (and the request answered) without them.
  bool CheckRead(Connection& c, uint8_t op, uint64_t id, std::string_view ns);
  // CheckRead for a read of one timeline: an intent's timeline of the system namespace
  // __intents (docs/protocol.md "APPEND_FANOUT") is readable with a read right on the
  // namespace its key names.
  bool CheckReadTimeline(Connection& c, uint8_t op, uint64_t id, std::string_view ns,
                         std::string_view timeline);
  bool CheckWrite(Connection& c, uint8_t op, uint64_t id, std::string_view ns);
  // `ns` empty: admin on every namespace ("*").
  bool CheckAdmin(Connection& c, uint8_t op, uint64_t id, std::string_view ns);
  // A list of timelines in one read request (LAST_SEQ, CURSOR_GET, READ_MULTI): at most
  // fanout_timelines_max (announced in HELLO), so that the answer stays far below the frame
  // limit; false (and the request answered INVALID_ARGUMENT) above it.
  bool CheckTimelineCount(Connection& c, uint8_t op, uint64_t id, size_t count);

  // A non-fatal error answer carrying `s`.
  void Fail(Connection& c, uint8_t op, uint64_t id, const Status& s);
  // A fatal MALFORMED_FRAME answer (the body does not decode as `op`'s request).
  void Malformed(Connection& c, uint8_t op, uint64_t id);
  // A fatal answer with a protocol error code.
  void Fatal(Connection& c, uint8_t op, uint64_t id, proto::ErrorCode code,
             std::string_view message);
  // A response without a body.
  void Empty(Connection& c, proto::Op op, uint64_t id);

  // Starts an asynchronous request of `c`: counts it in flight; the AsyncCall brings its
  // completion back to this loop.
  AsyncCall StartAsync(Connection& c, uint8_t op, uint64_t id);
  // The same for a request already counted in flight (a retry of it): counts nothing.
  AsyncCall ContinueAsync(uint64_t conn_id, uint8_t op, uint64_t id, int64_t start_us);
  // After an async request `op` of `conn_id` finished: latency (by opcode), inflight, output
  // and resumed input. Null when the connection has closed meanwhile (nothing is answered then).
  Connection* Completed(uint64_t conn_id, int64_t start_us, uint8_t op);

 private:
  Loop* loop_;
  ServerCore* core_;    // loop_->core()
  ServerStats* stats_;  // loop_->stats()
};

}  // namespace tldb::server
