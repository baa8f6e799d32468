// EtcdWatch: a running etcd watch (POST /v3/watch, a chunked stream of JSON objects, one per
// line) on a thread and connection of its own. Made by EtcdClient::Watch.
//
// Contract:
// - Delivers PUT and DELETE events of spec.key (or the prefix) to spec.on_events in revision
//   order, from spec.start_revision (0: from when the watch is established), each revision once.
// - When the stream breaks (the member died, its connection reset, it answered an error) the
//   watch re-creates itself from the last delivered revision + 1 on the next endpoint, then the
//   one after, waiting 100 ms between attempts. If no endpoint establishes it for
//   spec.reconnect_give_up_ms it ends with IOError through spec.on_end; if etcd compacted the
//   history it still needs it ends with NotFound. A member that hangs without closing the
//   connection (SIGSTOP) is not detected: the watch waits for it.
// - Stop() ends the watch promptly (the curl loop is woken, not polled) and joins the thread;
//   no callback runs after it returns. The destructor stops.
// Thread-safety: Stop(), last_revision(), reconnects() and ended() may be called from any
// thread, but Stop() not from the watch's own callbacks. One mutex (mu_), a leaf.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cluster/etcd_types.h"
#include "tldb/status.h"

namespace tldb::cluster {

class EtcdWatch {
 public:
  // Checks the spec (InvalidArgument: no on_events, an empty key without prefix, a negative
  // revision) and starts the thread at endpoint `first_endpoint`.
  [[nodiscard]] static Result<std::unique_ptr<EtcdWatch>> Start(const EtcdClientOptions& options,
                                                                size_t first_endpoint,
                                                                WatchSpec spec);
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  void Stop();
  // The revision of the last delivered event (or the store revision the watch began at).
  int64_t last_revision() const { return last_revision_.load(); }
  // How many times the stream was re-created after it broke.
  uint64_t reconnects() const { return reconnects_.load(); }
  // True once the watch ended by itself (on_end was called).
  bool ended() const { return ended_.load(); }

 private:
  enum class End { kStopped, kBroken, kCompacted };

  EtcdWatch(EtcdClientOptions options, size_t first_endpoint, WatchSpec spec);
  void Run();
  End RunStream(const std::string& endpoint, std::string* error);
  // Consumes bytes of the stream; false aborts it (error_ or compacted_revision_ set).
  bool OnData(std::string_view data);
  bool OnLine(std::string_view line);
  void Finish(const Status& status);

  const EtcdClientOptions options_;
  const WatchSpec spec_;
  size_t endpoint_;  // watch thread only

  CURLM* multi_ = nullptr;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;  // with mu_: wakes the reconnect wait on Stop()

  // Watch thread only, reset per stream.
  std::string buffer_;
  std::string error_;
  bool established_ = false;
  int64_t compacted_revision_ = 0;
  int64_t min_revision_ = 0;  // events below this (already delivered) are dropped
  bool revision_known_ = false;

  std::atomic<int64_t> last_revision_{0};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<bool> ended_{false};
  std::thread thread_;  // last: started after everything above exists
};

}  // namespace tldb::cluster
