// ClientImpl: the connection core behind tldb::Client (framing, pipelining, deadlines,
// reconnection, subscriptions). Typed operations live in client.cc.
//
// Contract: Call() registers a request under a fresh request id and sends it (or queues it
// while reconnecting); its callback runs exactly once on the I/O thread: with the response
// body, an error Status, TimedOut at its deadline, IOError when the connection broke and the
// request could not be retried, or Closed on shutdown. Locks: mu_ guards the pending table and
// connection state, send_mu_ guards socket writes; send_mu_ may be taken inside mu_, never the
// other way round, and no lock is held while user callbacks run.
//
// Blocking calls (Blocking()) read their own response on the calling thread, like a
// synchronous hiredis call, instead of waiting for the I/O thread to wake them:
// - One thread at a time holds the read role (reader_): it alone receives from the socket and
//   parses in_. A blocking caller takes it when it is free and the connection is up; the I/O
//   thread takes it only when it has work there (asynchronous calls in flight, subscriptions,
//   a read error to handle, or the server closing an idle connection).
// - Calls made inside Blocking() are marked inline: their callbacks are library code (decode,
//   store the result, complete the waiter) and run on whichever thread reads the response.
//   Every other response, and every push, read by a blocking caller is handed to the I/O
//   thread (handoff_) and dispatched there in arrival order, so user callbacks and handlers
//   still run only on the I/O thread.
// - A blocking caller whose response was read by another thread (or that timed out, or failed
//   at a disconnect) is woken through its waiter; when a reader leaves, it passes the role to a
//   blocking caller still waiting, or wakes the I/O thread if that has work. Deadlines, retries
//   and reconnection stay with the I/O thread: a caller that reads EOF or a bad frame only
//   records it in read_error_ for the I/O thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "protocol/codes.h"
#include "protocol/frame.h"
#include "tldb/client.h"

namespace tldb {

class ClientImpl {
 public:
  using RawCallback = std::function<void(Status, std::string_view body)>;

  static Result<std::unique_ptr<ClientImpl>> Connect(const ClientOptions& options);
  ~ClientImpl();

  // `retriable`: re-sent after a reconnection (appends with a client_msg_id).
  void Call(proto::Op op, std::string body, uint32_t timeout_ms, bool retriable, RawCallback cb);

  // A blocking call: `start(done)` issues the operation's Call()s (their callbacks must be
  // library code); `done` runs once with the outcome, on any thread. Returns that outcome.
  template <typename T, typename StartFn>
  Result<T> Blocking(StartFn start) {
    SyncWaiter w;
    Result<T> out(Status::Closed("client closed"));
    BeginSync(&w);
    start([this, &out, &w](Result<T> r) {
      out = std::move(r);
      Complete(&w);
    });
    EndStart();
    WaitSync(&w);
    return out;
  }
  Result<SubscriptionId> Subscribe(std::string ns, std::string timeline, Seq after_seq,
                                   bool from_latest, SubscriptionHandler handler,
                                   uint32_t timeout_ms);
  Status Unsubscribe(SubscriptionId id, uint32_t timeout_ms);
  void Close();
  const ServerInfo& info() const { return info_; }
  const ClientOptions& options() const { return options_; }
  bool OnIoThread() const { return std::this_thread::get_id() == io_thread_.get_id(); }
  uint32_t Deadline(uint32_t timeout_ms) const {
    return timeout_ms ? timeout_ms : options_.request_timeout_ms;
  }

 private:
  struct Pending {
    uint8_t op = 0;
    std::string frame;  // kept until sent; kept for good when retriable
    int64_t deadline_ms = 0;
    bool retriable = false;
    bool sent = false;
    bool inline_ok = false;  // the callback may run on a blocking caller's thread
    RawCallback cb;
  };
  // A blocking caller waiting for its outcome (fields guarded by mu_).
  struct SyncWaiter {
    bool done = false;
    bool reading = false;  // holds the read role
    std::condition_variable cv;
  };
  struct Frame {
    proto::FrameHeader header;
    std::string body;
  };
  enum class Reader : uint8_t { kNone, kIo, kCaller };
  struct Sub {
    std::string ns, timeline;
    Seq last_seq = 0;
    SubscriptionHandler handler;
    uint64_t wire_id = 0;  // request id of the SUBSCRIBE on the current connection
    bool active = false;
  };

  explicit ClientImpl(const ClientOptions& options);
  Result<int> DialAndHello(ServerInfo* info);
  void Run();
  void IoRead(const Status& read_error);
  int CurrentFd();
  void IoWatch(bool watch_socket);
  void ReleaseRead(const Status& s);
  // Receives what the socket has and dispatches whole frames; non-OK on EOF, error or a bad
  // frame. `io`: on the I/O thread (else frames for it are handed off).
  Status ReadFrames(bool io);
  Status ReadAsCaller();
  void Dispatch(const proto::FrameHeader& h, std::string_view body, bool io);
  bool HandOff(const proto::FrameHeader& h, std::string_view body);
  RawCallback TakePending(std::unordered_map<uint64_t, Pending>::iterator it);  // mu_ held
  void BeginSync(SyncWaiter* w);
  void EndStart();
  void WaitSync(SyncWaiter* w);
  void Complete(SyncWaiter* w);
  bool IoHasReadWork() const;  // mu_ held
  void PassReadRole();         // mu_ held
  void WakeIo();               // mu_ held
  void DeliverPush(uint64_t wire_id, std::string_view body);
  void OnDisconnect(const Status& why);
  void Reconnect();
  void Resubscribe(const std::vector<SubscriptionId>& ids);
  void ExpireDeadlines();
  void FailAll(const Status& s);
  bool SendFrame(const std::string& frame, uint64_t generation);
  // Call() that also binds the request id to subscription `sub` (0: none) before sending.
  void CallBound(proto::Op op, std::string body, uint32_t timeout_ms, bool retriable,
                 SubscriptionId sub, RawCallback cb);
  void StartSubscribe(SubscriptionId sid, Seq after_seq, bool from_latest, uint32_t timeout_ms,
                      std::function<void(Status)> done);

  ClientOptions options_;
  ServerInfo info_;
  std::thread io_thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool connected_ = false;
  bool closing_ = false;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Pending> pending_;
  std::map<SubscriptionId, Sub> subs_;
  std::unordered_map<uint64_t, SubscriptionId> sub_by_wire_;
  SubscriptionId next_sub_ = 1;
  std::string last_fatal_;  // message of the last fatal error frame (for failures)

  std::mutex send_mu_;
  int fd_ = -1;
  uint64_t generation_ = 0;  // bumped on every disconnect

  // The read role (see the contract) and what it hands to the I/O thread; guarded by mu_.
  Reader reader_ = Reader::kNone;
  std::vector<SyncWaiter*> waiting_;  // blocking callers not yet returned
  std::vector<Frame> handoff_;        // frames read by a caller, for the I/O thread
  Status read_error_;                 // EOF / error a caller read, for the I/O thread
  size_t async_pending_ = 0;          // pending_ entries that are not inline
  bool io_watching_ = false;          // the I/O thread sleeps in IoWatch (wake it via wake_fd_)
  int wake_fd_ = -1;                  // eventfd: wakes the I/O thread
  int reader_wake_fd_ = -1;           // eventfd: wakes a blocking caller holding the role

  std::string in_;  // the reader's only
  int64_t last_expiry_ms_ = 0;
};

// Maps an error frame's code to a Status (engine codes pass through).
Status StatusFromWire(uint16_t code, std::string_view message);

}  // namespace tldb
