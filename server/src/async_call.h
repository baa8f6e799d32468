// AsyncCall: an asynchronous request of one connection (an engine callback or an admin-thread
// task) on its way back to the connection's loop.
//
// Contract: HandlerContext::StartAsync() counts the request in its connection's inflight and
// returns the AsyncCall, which is copied into the callback. It keeps the ServerCore (so the
// loop, its Dispatcher and their handlers) alive while the callback exists; what it posts to
// the loop does not hold the core. Post() and Complete() may run on any thread; what they post
// runs on the loop thread, so it may refer to the handler that started the call (a handler
// lives as long as its loop, and a loop runs what is posted to it or destroys it unrun).
// Complete() is the usual end: HandlerContext::Completed() (latency, inflight, resume input),
// then done(context, connection), unless the connection has closed meanwhile.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "handler_context.h"
#include "loop.h"

namespace tldb::server {

class AsyncCall {
 public:
  AsyncCall(HandlerContext* ctx, std::shared_ptr<ServerCore> keep, uint64_t conn_id, uint8_t op,
            uint64_t id, int64_t start_us)
      : ctx_(ctx),
        keep_(std::move(keep)),
        conn_id_(conn_id),
        op_(op),
        id_(id),
        start_us_(start_us) {}

  ServerCore& core() const { return *keep_; }
  uint64_t conn_id() const { return conn_id_; }
  uint64_t id() const { return id_; }
  int64_t start_us() const { return start_us_; }

  // Runs fn() on the loop (a completion that does more than Complete()).
  template <typename Fn>
  void Post(Fn fn) const {
    ctx_->loop().Post([fn = std::move(fn)](Loop&) mutable { fn(); });
  }
  // Runs done(context, connection) on the loop once the request is completed.
  template <typename Done>
  void Complete(Done done) const {
    ctx_->loop().Post([ctx = ctx_, conn_id = conn_id_, op = op_, start = start_us_,
                       done = std::move(done)](Loop&) mutable {
      Connection* c = ctx->Completed(conn_id, start, op);
      if (!c) return;
      done(*ctx, *c);
    });
  }

 private:
  HandlerContext* ctx_;
  std::shared_ptr<ServerCore> keep_;
  uint64_t conn_id_;
  uint8_t op_;
  uint64_t id_;
  int64_t start_us_;
};

}  // namespace tldb::server
