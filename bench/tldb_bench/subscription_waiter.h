// SubscriptionWaiter: tldb-server's live delivery for the longpoll workload when it runs with
// --server-wait subscribe. It keeps one SUBSCRIBE open on the timeline being waited on (the
// server pushes each message once its append is acknowledged: one trip, the message itself)
// and hands the pushed messages to the waiting thread. Wait() resubscribes when asked for
// another timeline, or for a position other than the last message it handed out.
// Used by one thread; the client's I/O thread fills the queue.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "target.h"
#include "tldb/client.h"

namespace tldb::peerbench {

class SubscriptionWaiter {
 public:
  SubscriptionWaiter(Client* c, std::string_view ns) : c_(c), ns_(ns) {}

  // Session::WaitAfter's contract; false with *err on failure.
  bool Wait(const std::string& timeline, uint64_t after_seq, uint32_t n, uint32_t timeout_ms,
            ReadResult* out, std::string* err) {
    if (!live_ || timeline != timeline_ || after_seq != handed_) {
      if (!Subscribe(timeline, after_seq, err)) return false;
    }
    std::unique_lock l(live_->mu);
    live_->cv.wait_for(l, std::chrono::milliseconds(timeout_ms),
                       [&] { return !live_->queue.empty() || !live_->end.ok(); });
    while (!live_->queue.empty() && out->count < n) {
      const auto [seq, bytes] = live_->queue.front();
      live_->queue.pop_front();
      ++out->count;
      out->last_seq = seq;
      out->bytes += bytes;
    }
    if (out->count > 0) handed_ = out->last_seq;
    if (out->count == 0 && !live_->end.ok()) {
      *err = "subscription ended: " + live_->end.ToString();
      return false;
    }
    return true;
  }

 private:
  struct Live {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<uint64_t, uint64_t>> queue;  // (seq, payload bytes)
    Status end;
  };

  bool Subscribe(const std::string& timeline, uint64_t after_seq, std::string* err) {
    if (live_) (void)c_->Unsubscribe(id_);
    live_ = std::make_shared<Live>();
    auto r = c_->Subscribe(ns_, timeline, after_seq, /*from_latest=*/false,
                           [live = live_](const SubscriptionEvent& e) {
                             {
                               std::lock_guard g(live->mu);
                               if (e.status.ok()) {
                                 live->queue.emplace_back(e.message.seq, e.message.payload.size());
                               } else {
                                 live->end = e.status;
                               }
                             }
                             live->cv.notify_one();
                           });
    if (!r.ok()) {
      *err = r.status().ToString();
      live_.reset();
      return false;
    }
    id_ = *r;
    timeline_ = timeline;
    handed_ = after_seq;
    return true;
  }

  Client* c_;
  std::string ns_, timeline_;
  uint64_t handed_ = 0;
  SubscriptionId id_ = 0;
  std::shared_ptr<Live> live_;
};

}  // namespace tldb::peerbench
