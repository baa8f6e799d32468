// LeaseKeeper: keeps one etcd lease alive from a thread of its own, with its own connection
// (an EtcdClient over the same endpoints), and says when the lease is lost.
//
// Contract:
// - Refreshes at once, then every TTL/3 (the TTL etcd last answered); after a failed refresh
//   it retries every 250 ms (at most every TTL/3). A refresh fails over between endpoints like
//   EtcdClient, each endpoint bounded by min(request_timeout_ms, TTL/3/endpoints, at least
//   50 ms), so a refresh takes about TTL/3 at most.
// - on_lost(status) is called once, on the keeper's thread, and the keeper stops, when etcd
//   answers that the lease expired (TTL 0 or lease not found: NotFound), or when no refresh
//   succeeded for a full TTL counted from the send time of the last successful one (or from
//   Start when none did): TimedOut. A refresh that hangs delays the report by at most TTL/3.
//   The holder must consider the lease gone from then on (etcd may have expired it already).
// - Stop() wakes the thread (a condition variable, no polling) and joins it; no callback runs
//   after it returns. It does not revoke the lease. The destructor stops.
// Thread-safety: Stop() and the accessors may be called from any thread, but Stop() not from
// on_lost. One mutex (mu_), a leaf.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "cluster/etcd_client.h"
#include "cluster/etcd_types.h"
#include "tldb/status.h"

namespace tldb::cluster {

class LeaseKeeper {
 public:
  using LostCallback = std::function<void(const Status&)>;

  // InvalidArgument for a lease id or TTL <= 0 or no on_lost; the EtcdClient's option errors.
  [[nodiscard]] static Result<std::unique_ptr<LeaseKeeper>> Start(const EtcdClientOptions& options,
                                                                  int64_t lease_id, int64_t ttl_s,
                                                                  LostCallback on_lost);
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  void Stop();
  int64_t lease_id() const { return lease_id_; }
  bool lost() const { return lost_.load(); }
  // Successful refreshes so far.
  uint64_t refreshes() const { return refreshes_.load(); }

 private:
  LeaseKeeper(std::unique_ptr<EtcdClient> client, int64_t lease_id, int64_t ttl_s,
              LostCallback on_lost);
  void Run();

  const std::unique_ptr<EtcdClient> client_;  // keeper thread only
  const int64_t lease_id_;
  int64_t ttl_s_;  // keeper thread only
  const LostCallback on_lost_;

  std::mutex mu_;
  std::condition_variable cv_;  // with mu_: Stop() wakes the wait
  bool stop_ = false;           // guarded by mu_
  std::atomic<bool> lost_{false};
  std::atomic<uint64_t> refreshes_{0};
  std::thread thread_;  // last: started after everything above exists
};

}  // namespace tldb::cluster
