// Loop: one event-loop thread (epoll) serving a share of the connections.
//
// Contract:
// - Every connection is owned by the loop that accepted it; its requests are parsed and
//   answered on that thread. Reads (GET/SCAN/LAST_SEQ) run inline; appends are handed to the
//   engine asynchronously and their completions come back through Post().
// - Post() is the only thread-safe entry point: it appends to an MPSC queue and writes the
//   loop's eventfd only when the queue was empty, so a burst of completions costs one wake-up.
// - Responses are queued per connection and sent once per loop iteration (one send() for all
//   the responses a pipelined batch produced); the first sends of all the plain connections
//   with output go out together, in one system call where io_uring is allowed (SocketSends,
//   ServerConfig::net_backend).
// - Fairness (turn_budget.h): one iteration gives each connection with work at most one turn,
//   bounded by a TurnBudget. Authenticated connections take their turns first (in the order
//   epoll reported them, then the ready list: connections that still held complete requests when
//   their budget ran out); connections that have not completed HELLO come after them; accepting
//   new connections comes last and takes at most kAcceptsPerIteration. A connection's requests
//   are handled, and answered, in the order it sent them. A SCAN longer than one ChunkedScan
//   step takes one step per turn of its connection; its later requests wait for its answer.
// - Per-address budgets (PeerBudgets, shared by the loops): an accepted socket whose address is
//   over budget gets no Connection: it is held kRefusalHoldMs (bounded), then answered
//   TOO_MANY_CONNECTIONS and closed; an
//   admitted connection's token comes back at its HELLO, and its close before HELLO is charged
//   as a failed handshake.
// - Per-client budgets of refused requests (FailureBudgets, shared): a fatal protocol error
//   after HELLO or a PERMISSION_DENIED is charged to the connection's client; a HELLO of a
//   client over budget is answered TOO_MANY_CONNECTIONS (fatal), held kRefusalHoldMs first
//   (HoldAnswer; bounded like the refused sockets).
// - A connection closed for a FATAL error lingers once its output is sent (Linger): its sending
//   side is shut down and its input read and dropped until the client closes, at most
//   ServerConfig::close_linger_ms, so that a reset does not destroy the error frame on its way.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connection.h"
#include "dispatcher.h"
#include "log_throttle.h"
#include "protocol/codes.h"
#include "server_core.h"
#include "server_stats.h"
#include "tldb/socket_sends.h"
#include "turn_budget.h"

namespace tldb::server {

class Loop {
 public:
  Loop(ServerCore* core, size_t index);
  ~Loop();
  Status Init();
  void Start();
  void Join();

  // Thread-safe: runs `fn` on this loop's thread soon.
  void Post(std::function<void(Loop&)> fn);

  size_t index() const { return index_; }
  ServerCore& core() { return *core_; }
  ServerStats& stats() { return stats_; }
  Dispatcher& dispatcher() { return dispatcher_; }
  Connection* Find(uint64_t conn_id);
  // Queues `conn` for sending at the end of this iteration (after encoding into conn.out).
  void MarkDirty(Connection& conn);
  // Buffered requests may be parsed again (in-flight work finished or output drained): queues
  // the connection for a turn in the next iteration.
  void Resume(Connection& conn);
  // Graceful stop: no more accepts or requests; exits once in-flight work and output drained.
  void BeginShutdown();
  // Holds `conn`'s queued output (a refused HELLO's fatal answer) for kRefusalHoldMs, like a
  // refused socket, or sends it at once when kRefusalsHeldMax answers are held already.
  // Logs the refusal of `client` (at most one line a second).
  void HoldAnswer(Connection& conn, std::string_view client);
  // Parked WAIT deadlines: (deadline ms) -> (connection id, request id).
  std::multimap<int64_t, std::pair<uint64_t, uint64_t>>& wait_deadlines() { return deadlines_; }

 private:
  static constexpr uint64_t kListenTag = 0;
  static constexpr uint64_t kWakeTag = 1;
  static constexpr size_t kReadChunkBytes = 64u << 10;
  // Connections accepted per iteration, after every turn. Each accept is an accept4(), a
  // setsockopt(), an epoll_ctl() and an allocation: 16 bound what a connection flood adds to an
  // iteration, while a backlog still drains by 16 per iteration (an idle iteration is one
  // epoll_wait()). The listening socket is level-triggered: what is left is reported again.
  static constexpr int kAcceptsPerIteration = 16;
  // A loop logs refusals by the per-address budgets at most once per this interval (with the
  // count since its last such line): one line per refused connection would let a flood fill
  // the log and spend the CPU the refusal saves.
  static constexpr int64_t kRefusalLogIntervalMs = 1'000;
  // A connection refused by the per-address budgets gets its answer (and its close) this long
  // after its accept, not at once: a client that fails handshakes in a loop waits for each
  // answer, and an immediate refusal would only make it come back at once, cheaper for it and
  // for nobody else (measured: 3x the connection attempts of an attacker on the same machine).
  // Holding a refused socket costs its descriptor and a deque entry, no epoll registration and
  // no read; 500 ms is long enough to slow such a loop to two attempts per second and short
  // enough that a refused well-behaved client hears why well within its request timeout.
  static constexpr int64_t kRefusalHoldMs = 500;
  // Refused sockets one loop holds at most (descriptors): beyond, refusals are answered at
  // once. 1,024 per loop stays far below the unit's descriptor limit (65,536).
  static constexpr size_t kRefusalsHeldMax = 1'024;
  // How often idle/slowloris/stall deadlines are checked. 100 ms: cheap, precise enough.
  static constexpr int64_t kSweepIntervalMs = 100;
  // Reads of scratch_'s size a lingering connection gets per readiness (DrainLinger): 16 ×
  // 64 KiB, so a client that keeps sending after its FATAL error costs a bounded turn.
  static constexpr int kLingerReadsPerTurn = 16;

  // One non-blocking receive or send on a connection's socket, plain or through its TLS
  // session (TLS wants of the other direction are noted on the connection).
  struct IoResult {
    enum Kind : uint8_t { kData, kAgain, kEof, kError };
    Kind kind = kAgain;
    size_t bytes = 0;
    std::string error;  // kError: why (logged when the connection is closed)
  };

  void Run();
  void Accept();
  // The loop with the fewest open connections (this one on a tie), its count already raised
  // for the connection about to be handed to it.
  Loop& LeastLoaded();
  // Takes an accepted, admitted socket as one of this loop's connections (on this loop's
  // thread; its connections_open was raised by LeastLoaded). A loop shutting down closes it.
  void Adopt(int fd, std::string peer, const PeerKey& key, bool charged);
  // Refuses an accepted socket at connections-max.
  void Reject(int fd, const std::string& peer);
  // Refuses an accepted socket whose address is over a per-address budget (PeerBudgets).
  void RefusePeer(int fd, const sockaddr_storage& addr, PeerBudgets::Verdict why);
  // Answers a refused socket that was held (RefusePeer), or one that could not be held.
  void RefuseNow(int fd, bool failures);
  // Answers and closes the held refusals whose time has come (all of them with INT64_MAX).
  void ReleaseHeld(int64_t now);
  // Sends TOO_MANY_CONNECTIONS with `message` (plain TCP; best effort) and closes `fd`.
  void Refuse(int fd, const std::string& message);
  // Best effort: one non-blocking send of a fatal error frame on a raw socket (not through TLS).
  static void SendRawError(int fd, proto::ErrorCode code, const std::string& message);
  IoResult Receive(Connection& conn, char* buf, size_t cap);
  // Reads and drops what the socket holds, up to `bytes_max`: before a close (closing with
  // unread input makes the kernel send a reset, which can destroy the answer sent just before:
  // a TLS alert, the plain-text "TLS required" error), and while a connection lingers.
  enum class Discarded : uint8_t { kEmpty, kPeerClosed, kBoundReached };
  [[nodiscard]] static Discarded DiscardInput(int fd, char* buf, size_t cap, size_t bytes_max);
  static constexpr size_t kDiscardBytesMax = 256u << 10;
  IoResult Transmit(Connection& conn, const char* data, size_t size);
  // Handles one epoll event of a connection.
  void OnEvent(uint64_t id, uint32_t events);
  // Gives `conn` its turn now (authenticated) or after the others (not yet).
  void Serve(Connection& conn);
  // One turn: buffered requests first, then the socket, within a TurnBudget; or, while the
  // connection has a SCAN pending, the SCAN's next step (ContinueScan) and nothing else.
  void Turn(Connection& conn);
  void ContinueScan(Connection& conn);
  // Parses conn.in within `budget`; false when nothing was handled.
  bool ParseBuffered(Connection& conn, TurnBudget& budget);
  // Receives and parses within `budget`; false when the connection was closed.
  bool ReadInput(Connection& conn, TurnBudget& budget, bool* progressed);
  size_t Parse(Connection& conn, const char* data, size_t size, TurnBudget& budget);
  // Keeps `conn` for a turn in the next iteration (it still has requests to parse).
  void QueueReady(Connection& conn);
  // The turns of the ready list, then of the unauthenticated connections of this iteration.
  void RunDeferredTurns();
  void AfterInput(Connection& conn, bool progressed);
  bool CanParse(const Connection& conn) const;
  // CanParse, and the server-wide buffer budget allows reading more from this connection.
  bool CanRead(const Connection& conn) const;
  // Brings conn's share of ServerCore::buffered_bytes up to date.
  void Account(Connection& conn);
  // Closes conn if it must close now, and keeps a held one waiting (ReleaseHeld marks it dirty
  // when its time comes); true when it may send: the one rule Flush and FlushDirty share.
  bool MaySend(Connection& conn);
  // MaySend, then SendAndResume.
  void Flush(Connection& conn, bool try_send = true);
  // Sends conn's output (unless !try_send: a send just said EAGAIN), then closes, lingers or
  // resumes it. MaySend(conn) was true.
  void SendAndResume(Connection& conn, bool try_send);
  void FlushDirty();
  void UpdateInterest(Connection& conn);
  void Close(Connection& conn, std::string_view reason);
  // A kAfterOutput close once its output is sent: Connection::BeginLinger, then DrainLinger
  // at each readiness until the client closes; Sweep closes it at the linger deadline.
  void Linger(Connection& conn);
  // A connection that ends before its HELLO succeeded: counted, and charged to its address.
  void ChargeFailedHandshake(Connection& conn);
  void DrainLinger(Connection& conn);
  void DrainQueue();
  void Sweep(int64_t now);
  void ExpireWaits(int64_t now);
  int NextTimeoutMs(int64_t now) const;
  bool Drained() const;

  ServerCore* core_;
  size_t index_;
  int epfd_ = -1;
  int wakefd_ = -1;
  std::thread thread_;
  ServerStats stats_;
  Dispatcher dispatcher_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> conns_;
  std::vector<uint64_t> dirty_;
  // FlushDirty's first sends of a round, made together (tldb/socket_sends.h), and their
  // connections; kept to reuse their memory.
  std::unique_ptr<SocketSends> sends_;
  std::vector<SocketSends::Item> send_items_;
  std::vector<Connection*> send_conns_;
  std::vector<uint64_t> ready_;     // turns for the next iteration (Connection::ready_queued())
  std::vector<uint64_t> later_;     // this iteration's unauthenticated turns
  std::vector<uint64_t> turn_ids_;  // RunDeferredTurns' working copy
  uint64_t iteration_ = 0;
  bool accept_pending_ = false;  // the listening socket was readable in this iteration
  std::multimap<int64_t, std::pair<uint64_t, uint64_t>> deadlines_;
  std::string scratch_;
  int64_t last_sweep_ms_ = 0;
  // Refused sockets waiting for their answer (kRefusalHoldMs), oldest first.
  struct HeldRefusal {
    int fd;
    int64_t until_ms;
    bool failures;  // the budget spent: failed handshakes (else unauthenticated connections)
  };
  std::deque<HeldRefusal> held_;
  // Connections whose answer is held (HoldAnswer): (until ms, connection id), oldest first.
  std::deque<std::pair<int64_t, uint64_t>> held_answers_;
  LogThrottle held_log_{kRefusalLogIntervalMs};     // log lines about refused HELLOs
  LogThrottle refused_log_{kRefusalLogIntervalMs};  // log lines about per-address refusals
  bool shutting_down_ = false;
  std::atomic<bool> closing_{false};  // BeginShutdown ran: other loops hand it no connection
  int64_t shutdown_deadline_ms_ = 0;
  bool exit_ = false;

  std::mutex queue_mu_;
  std::vector<std::function<void(Loop&)>> queue_;
  std::vector<std::function<void(Loop&)>> running_;
};

}  // namespace tldb::server
