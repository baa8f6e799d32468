// WatchHandler: WAIT (long-poll, optionally answered with the messages it waited for),
// SUBSCRIBE / UNSUBSCRIBE (pushes), and the notifications of acknowledged appends that drive
// them.
//
// Contract: one per Loop; runs on that loop's thread only. Blocks on nothing: it reads LastSeq
// and scans (from memory and mmap'ed segments) inline, and takes only a WatchHub shard lock
// for a moment (it owns no lock). Its state is the loop's map of watched timelines plus the
// waits and subscriptions of each Connection. No lost wake-up: a watcher is registered
// (locally and in the WatchHub) before LastSeq is read, so an append acknowledged concurrently
// is either visible to that read or notifies this loop.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "connection.h"
#include "handler_context.h"

namespace tldb::server {

class WatchHandler {
 public:
  explicit WatchHandler(HandlerContext& ctx) : ctx_(ctx) {}

  void Wait(Connection& c, uint64_t id, std::string_view body);
  void Subscribe(Connection& c, uint64_t id, std::string_view body);
  void Unsubscribe(Connection& c, uint64_t id, std::string_view body);

  // An append to `key` was acknowledged with `seq` on this loop: tells every loop that
  // watches it (this one at once, the others through their queues).
  void Notify(const std::string& key, Seq seq);
  // An append to `key` was acknowledged with `seq` (runs on each watching loop).
  void TimelineAdvanced(const std::string& key, Seq seq);
  // The deadline of a parked WAIT passed (the loop already removed it from its map).
  void ExpireWait(uint64_t conn_id, uint64_t request_id);
  // Answers every parked WAIT now (shutdown).
  void ReleaseAllWaits();
  // Unregisters the connection's waits and subscriptions (before it is destroyed).
  void Forget(Connection& c);

 private:
  struct WatchRef {
    uint64_t conn_id, id;
    bool subscription;
  };

  void Watch(const std::string& key, WatchRef ref);
  void Unwatch(const std::string& key, uint64_t conn_id, uint64_t id);
  void FinishWait(Connection& c, uint64_t id, bool ready, Seq last_seq);
  // Encodes a WAIT's answer: the old one, or with messages (read up to last_seq when ready).
  void AnswerWait(Connection& c, uint64_t id, const PendingWait& w, bool ready, Seq last_seq);
  void PushUpTo(Connection& c, Subscription& s, uint64_t sub_id, Seq seq);

  HandlerContext& ctx_;
  std::unordered_map<std::string, std::vector<WatchRef>> watches_;  // key -> local watchers
};

}  // namespace tldb::server
