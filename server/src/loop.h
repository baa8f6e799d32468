// Loop: one event-loop thread (epoll) serving a share of the connections.
//
// Contract:
// - Every connection is owned by the loop that accepted it; its requests are parsed and
//   answered on that thread. Reads (GET/SCAN/LAST_SEQ) run inline; appends are handed to the
//   engine asynchronously and their completions come back through Post().
// - Post() is the only thread-safe entry point: it appends to an MPSC queue and writes the
//   loop's eventfd only when the queue was empty, so a burst of completions costs one wake-up.
// - Responses are queued per connection and sent once per loop iteration (one send() for all
//   the responses a pipelined batch produced).
#pragma once

#include <sys/epoll.h>

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
#include "server_core.h"
#include "server_stats.h"

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
  // Re-parses buffered requests after in-flight work finished or output drained.
  void Resume(Connection& conn);
  // Graceful stop: no more accepts or requests; exits once in-flight work and output drained.
  void BeginShutdown();
  // Parked WAIT deadlines: (deadline ms) -> (connection id, request id).
  std::multimap<int64_t, std::pair<uint64_t, uint64_t>>& wait_deadlines() { return deadlines_; }

 private:
  static constexpr uint64_t kListenTag = 0;
  static constexpr uint64_t kWakeTag = 1;
  // Read at most this much per readable event before serving others (fairness).
  static constexpr size_t kReadBytesPerEvent = 256u << 10;
  static constexpr size_t kReadChunkBytes = 64u << 10;
  // How often idle/slowloris/stall deadlines are checked. 100 ms: cheap, precise enough.
  static constexpr int64_t kSweepIntervalMs = 100;

  void Run();
  void Accept();
  void Reject(int fd, const std::string& peer);
  void OnReadable(Connection& conn);
  size_t Parse(Connection& conn, const char* data, size_t size);
  void AfterInput(Connection& conn, bool progressed);
  bool CanParse(const Connection& conn) const;
  // CanParse, and the server-wide buffer budget allows reading more from this connection.
  bool CanRead(const Connection& conn) const;
  // Brings conn's share of ServerCore::buffered_bytes up to date.
  void Account(Connection& conn);
  void Flush(Connection& conn);
  void FlushDirty();
  void UpdateInterest(Connection& conn);
  void Close(Connection& conn, std::string_view reason);
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
  std::multimap<int64_t, std::pair<uint64_t, uint64_t>> deadlines_;
  std::string scratch_;
  int64_t last_sweep_ms_ = 0;
  bool shutting_down_ = false;
  int64_t shutdown_deadline_ms_ = 0;
  bool exit_ = false;

  std::mutex queue_mu_;
  std::vector<std::function<void(Loop&)>> queue_;
  std::vector<std::function<void(Loop&)>> running_;
};

}  // namespace tldb::server
