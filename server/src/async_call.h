// AsyncCall: an asynchronous request of one connection (an engine callback or an admin-thread
// task) on its way back to the connection's loop.
//
// Contract: Dispatcher::StartAsync() counts the request in its connection's inflight and
// returns the AsyncCall, which is copied into the callback. It keeps the ServerCore (so the
// loop) alive while the callback exists; what it posts to the loop does not hold the core.
// Post() and Complete() may run on any thread; what they post runs on the loop thread.
// Complete() is the usual end: Dispatcher::Completed() (latency, inflight, resume input), then
// done(dispatcher, connection), unless the connection has closed meanwhile.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "loop.h"

namespace tldb::server {

class AsyncCall {
 public:
  AsyncCall(Loop* loop, std::shared_ptr<ServerCore> keep, uint64_t conn_id, uint64_t id,
            int64_t start_us)
      : loop_(loop), keep_(std::move(keep)), conn_id_(conn_id), id_(id), start_us_(start_us) {}

  ServerCore& core() const { return *keep_; }
  uint64_t conn_id() const { return conn_id_; }
  uint64_t id() const { return id_; }
  int64_t start_us() const { return start_us_; }

  // Runs fn(dispatcher) on the loop (a completion that does more than Complete()).
  template <typename Fn>
  void Post(Fn fn) const {
    loop_->Post([fn = std::move(fn)](Loop& l) mutable { fn(l.dispatcher()); });
  }
  // Runs done(dispatcher, connection) on the loop once the request is completed.
  template <typename Done>
  void Complete(Done done) const {
    loop_->Post([conn_id = conn_id_, start = start_us_, done = std::move(done)](Loop& l) mutable {
      Dispatcher& d = l.dispatcher();
      Connection* c = d.Completed(conn_id, start, /*append=*/true);
      if (!c) return;
      done(d, *c);
    });
  }

 private:
  Loop* loop_;
  std::shared_ptr<ServerCore> keep_;
  uint64_t conn_id_;
  uint64_t id_;
  int64_t start_us_;
};

}  // namespace tldb::server
