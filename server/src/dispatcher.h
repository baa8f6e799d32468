// Dispatcher: executes decoded requests of one loop's connections against the Db.
//
// Contract: runs on its loop's thread only. Handle() answers every request exactly once
// (immediately, or later from a completion) unless the connection closes first; a request
// that is malformed, unknown or arrives before HELLO gets a fatal error. Rights are checked
// before the Db is touched. WAIT/SUBSCRIBE state lives here; TimelineAdvanced() is how a loop
// learns that an acknowledged append moved a timeline it watches.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "connection.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace tldb::server {

class AsyncCall;
class Loop;

class Dispatcher {
 public:
  explicit Dispatcher(Loop* loop) : loop_(loop) {}

  void Handle(Connection& conn, const proto::Frame& frame);
  // An append to `key` was acknowledged with `seq` (runs on each watching loop).
  void TimelineAdvanced(const std::string& key, Seq seq);
  void ExpireWait(uint64_t conn_id, uint64_t request_id);
  // Answers every parked WAIT now (shutdown).
  void ReleaseAllWaits();
  // Unregisters the connection's waits and subscriptions (before it is destroyed).
  void Forget(Connection& conn);

 private:
  friend class AsyncCall;  // Completed()

  struct WatchRef {
    uint64_t conn_id, id;
    bool subscription;
  };

  // dispatcher.cc
  void Hello(Connection& c, uint64_t id, std::string_view body);
  void Ping(Connection& c, uint64_t id, std::string_view body);
  void Stats(Connection& c, uint64_t id, std::string_view body);
  void NsCreate(Connection& c, uint64_t id, std::string_view body);
  void NsList(Connection& c, uint64_t id, std::string_view body);
  void NsDescribe(Connection& c, uint64_t id, std::string_view body);
  // dispatcher_data.cc
  void Append(Connection& c, uint64_t id, std::string_view body);
  void AppendFanout(Connection& c, uint64_t id, std::string_view body);
  void Get(Connection& c, uint64_t id, std::string_view body);
  void Scan(Connection& c, uint64_t id, std::string_view body);
  void LastSeq(Connection& c, uint64_t id, std::string_view body);
  void AppendDone(uint64_t conn_id, uint64_t id, const std::string& key, int64_t start_us,
                  const Result<AppendResult>& r);
  void FanoutDone(uint64_t conn_id, uint64_t id, const std::vector<std::string>& keys,
                  int64_t start_us, const Result<std::vector<AppendResult>>& r);
  // dispatcher_watch.cc
  void Wait(Connection& c, uint64_t id, std::string_view body);
  void Subscribe(Connection& c, uint64_t id, std::string_view body);
  void Unsubscribe(Connection& c, uint64_t id, std::string_view body);
  void Watch(const std::string& key, WatchRef ref);
  void Unwatch(const std::string& key, uint64_t conn_id, uint64_t id);
  void FinishWait(Connection& c, uint64_t id, bool ready, Seq last_seq);
  void PushUpTo(Connection& c, Subscription& s, uint64_t sub_id, Seq seq);
  // dispatcher_cursor.cc
  void CursorSet(Connection& c, uint64_t id, std::string_view body);
  void CursorGet(Connection& c, uint64_t id, std::string_view body);
  void CursorWrite(uint64_t conn_id, uint64_t id, std::string device, std::string ns,
                   std::string timeline, Seq seq, bool reset, int attempt);

  // dispatcher_maint.cc
  void Mutate(Connection& c, uint64_t id, std::string_view body);
  void MutateDone(uint64_t conn_id, uint64_t id, MutationKind kind, int64_t start_us,
                  const Result<MutationResult>& r);
  void NsSetOptions(Connection& c, uint64_t id, std::string_view body);
  void Compact(Connection& c, uint64_t id, std::string_view body);
  void CompactStatus(Connection& c, uint64_t id, std::string_view body);

  // Helpers (dispatcher.cc).
  bool CheckRead(Connection& c, uint8_t op, uint64_t id, std::string_view ns);
  bool CheckWrite(Connection& c, uint8_t op, uint64_t id, std::string_view ns);
  // `ns` empty: admin on every namespace ("*").
  bool CheckAdmin(Connection& c, uint8_t op, uint64_t id, std::string_view ns);
  void Fail(Connection& c, uint8_t op, uint64_t id, const Status& s);
  void Malformed(Connection& c, uint8_t op, uint64_t id);
  void Empty(Connection& c, proto::Op op, uint64_t id);
  // Starts an asynchronous request of `c`: counts it in flight; the AsyncCall brings its
  // completion back to this loop.
  AsyncCall StartAsync(Connection& c, uint64_t id);
  // After an async request of `conn_id` finished: bookkeeping and resume its input.
  Connection* Completed(uint64_t conn_id, int64_t start_us, bool append);
  void Notify(const std::string& key, Seq seq);

  Loop* loop_;
  std::unordered_map<std::string, std::vector<WatchRef>> watches_;  // key -> local watchers
};

}  // namespace tldb::server
