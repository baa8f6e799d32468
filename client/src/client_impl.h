// ClientImpl: the connection core behind tldb::Client (framing, pipelining, deadlines,
// reconnection, subscriptions). Typed operations live in client.cc.
//
// Contract: Call() registers a request under a fresh request id and sends it (or queues it
// while reconnecting); its callback runs exactly once: with the response body, an error Status,
// TimedOut at its deadline, IOError when the connection broke and the request could not be
// retried, or Closed on shutdown. Callbacks of asynchronous calls and subscription handlers run
// on the I/O thread only; calls made inside Blocking() are "inline": their callbacks are
// library code (decode, store the outcome, wake the caller) and run on whichever thread reads
// the response.
//
// Threading, in one paragraph: any thread sends its own request under send_mu_. The socket's
// read side has exactly one owner at a time, the I/O thread or one blocking caller, and a
// single state machine (ReadSide, read_side.h) decides under mu_ who it is. A blocking caller
// takes the side when it is free and reads until its own outcome is in, so a synchronous call
// costs no thread hop; a caller that finds the side taken sleeps on its condition variable and
// is woken either with its outcome (read by the owner) or as the next owner. Frames a caller
// reads for others (asynchronous responses, pushes) go to the I/O thread through handoff_,
// dispatched there in arrival order. The I/O thread owns the side when it has asynchronous work
// and no caller waits, after a hang-up, while disconnected, and when closing; it alone closes
// the socket, and only as the owner, so no thread ever reads a closed descriptor. Nothing polls:
// the I/O thread sleeps in poll() on its eventfd (wake_fd_), a timerfd armed at the earliest
// deadline, and the socket (POLLIN while it owns the side; POLLRDHUP otherwise, to see an idle
// connection closed by the server); the owning caller sleeps in poll() on the socket and
// reader_wake_fd_ (signalled when another thread completes its call, or to make it yield); other
// callers on their condition variable. An idle client therefore sleeps until something happens.
//
// Locks: mu_ guards the pending table, subscriptions, the ReadSide and the wake-ups;
// send_mu_ guards socket writes. Lock order: mu_ before send_mu_. fd_, tls_ and generation_
// change under both (read under either). No lock is held while callbacks run or while reading.
#pragma once

#include <atomic>
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
#include "read_side.h"
#include "tldb/client.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"

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
    BeginStart();
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
  bool OnIoThread() const { return std::this_thread::get_id() == io_id_.load(); }
  uint32_t Deadline(uint32_t timeout_ms) const {
    return timeout_ms ? timeout_ms : options_.request_timeout_ms;
  }

 private:
  using DeadlineMap = std::multimap<int64_t, uint64_t>;  // deadline -> request id
  struct Pending {
    uint8_t op = 0;
    std::string frame;  // kept until sent; kept for good when retriable
    DeadlineMap::iterator deadline;
    bool retriable = false;
    bool sent = false;
    bool inline_ok = false;  // the callback may run on a blocking caller's thread
    RawCallback cb;
  };
  // A blocking caller waiting for its outcome (done guarded by mu_).
  struct SyncWaiter : ReadSide::Caller {
    bool done = false;
    const std::thread::id thread = std::this_thread::get_id();
    std::condition_variable cv;
  };
  struct Frame {
    proto::FrameHeader header;
    std::string body;
  };
  struct Sub {
    std::string ns, timeline;
    Seq last_seq = 0;
    SubscriptionHandler handler;
    uint64_t wire_id = 0;  // request id of the SUBSCRIBE on the current connection
    bool active = false;
  };
  // One turn of the I/O thread, decided under mu_.
  struct IoTurn {
    enum Action : uint8_t { kWait, kDispatch, kDisconnect, kReconnect, kStop };
    Action action = kWait;
    std::vector<Frame> handed;       // kDispatch: frames callers read for it
    Status why;                      // kDisconnect: the read error a caller saw
    bool owns = false;               // kWait: it owns the read side (POLLIN on the socket)
    bool watch_hup = false;          // kWait: it does not; POLLRDHUP on the socket
    int fd = -1;                     // kWait: the socket (-1: disconnected)
    tls::TlsSession* tls = nullptr;  // kWait: its TLS session (null: plain TCP)
  };

  // A connected, handshaken socket (and its TLS session when ClientOptions::tls).
  struct Dialed {
    int fd = -1;
    std::unique_ptr<tls::TlsSession> tls;
  };

  explicit ClientImpl(const ClientOptions& options);
  Result<Dialed> DialAndHello(ServerInfo* info);
  // Closes the socket and drops its TLS session (mu_ and send_mu_ held; fd_ >= 0 or not).
  void CloseSocket();

  // The I/O thread.
  void Run();
  IoTurn PlanTurn();
  void WaitTurn(const IoTurn& turn);
  bool SleepUnlessClosing(uint32_t ms);  // reconnection backoff; false when closing
  void OnDisconnect(const Status& why);
  void Reconnect();
  void Resubscribe(const std::vector<SubscriptionId>& ids);
  void ExpireDeadlines();
  void FailAll(const Status& s);

  // Blocking callers.
  void BeginStart();
  void EndStart();
  void WaitSync(SyncWaiter* w);
  void Complete(SyncWaiter* w);
  Status ReadAsCaller(int fd, tls::TlsSession* tls);

  // Reading (by the read side's owner). Receives what the socket has and dispatches whole
  // frames; non-OK on EOF, an error or a bad frame. `io`: on the I/O thread (else frames for
  // it are handed off).
  Status ReadFrames(int fd, tls::TlsSession* tls, bool io);
  void Dispatch(const proto::FrameHeader& h, std::string_view body, bool io);
  bool HandOff(const proto::FrameHeader& h, std::string_view body);
  void DeliverPush(uint64_t wire_id, std::string_view body);

  // mu_ held.
  void Apply(ReadSide::Wake w);
  void UpdateIoWork();
  void ArmTimer();
  RawCallback TakePending(std::unordered_map<uint64_t, Pending>::iterator it);

  bool SendFrame(const std::string& frame, uint64_t generation);
  // Call() that also binds the request id to subscription `sub` (0: none) before sending.
  void CallBound(proto::Op op, std::string body, uint32_t timeout_ms, bool retriable,
                 SubscriptionId sub, RawCallback cb);
  void StartSubscribe(SubscriptionId sid, Seq after_seq, bool from_latest, uint32_t timeout_ms,
                      std::function<void(Status)> done);

  ClientOptions options_;
  ServerInfo info_;
  std::thread io_thread_;
  std::atomic<std::thread::id> io_id_;  // set by the I/O thread itself

  std::mutex mu_;
  ReadSide side_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Pending> pending_;
  DeadlineMap deadlines_;
  size_t async_pending_ = 0;  // pending_ entries that are not inline
  std::map<SubscriptionId, Sub> subs_;
  std::unordered_map<uint64_t, SubscriptionId> sub_by_wire_;
  SubscriptionId next_sub_ = 1;
  std::string last_fatal_;      // message of the last fatal error frame (for failures)
  Status broken_;               // the read error a caller saw (for the I/O thread)
  std::vector<Frame> handoff_;  // frames read by a caller, for the I/O thread
  int64_t timer_at_ms_ = 0;     // when timer_fd_ fires (kNever: disarmed)
  int wake_fd_ = -1;            // eventfd: wakes the I/O thread
  int reader_wake_fd_ = -1;     // eventfd: wakes the blocking caller that owns the read side
  int timer_fd_ = -1;           // timerfd: the earliest deadline

  std::shared_ptr<const tls::TlsContext> tls_ctx_;  // set when options_.tls

  std::mutex send_mu_;
  int fd_ = -1;
  // The TLS session over fd_ (null: plain TCP); replaced and dropped with fd_. Reads and writes
  // from different threads serialize inside it.
  std::unique_ptr<tls::TlsSession> tls_;
  uint64_t generation_ = 0;  // bumped on every disconnect

  std::string in_;  // the read side owner's only
};

}  // namespace tldb
