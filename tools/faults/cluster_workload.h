// ClusterWorkload: the kill -9 ledger workload (Ledger) against a replicated cluster through
// ClusterClient, one partition or a sharded cluster (docs/cluster.md), with a reader and a
// subscriber recording what they were served. Shared by tests/cluster_process_test.cc,
// tests/shard_chaos_test.cc, the cluster soak (tools/cluster_soak.sh, ClusterSoak) and the
// sharded soak (tools/shard_soak.sh, ShardSoak);
// docs/replication.md "Testing".
//
// Contract:
// - Start() starts `writers` threads, one reader and one subscriber, each with its own
//   ClusterClient (which follows NOT_PRIMARY and retries with the same client_msg_id). Writers
//   loop over: appends with client_msg_ids to the `store` namespace (70%), fan-outs of one
//   payload to 2..4 timelines of the `sync` namespace (15%), and recalls of one of their own
//   acknowledged store messages (15%); all with sync durability. Every request goes to its
//   timeline's server (ClusterClient::CallFor; a fan-out to its home, the slot of its smallest
//   member, so that one spanning partitions is kept as an intent there and its other members are
//   acknowledged pending, seq 0). Each operation is logged in
//   the Ledger before its first attempt and retried (the same client_msg_id) until it succeeds
//   or Stop() is called; an answer that is not worth a retry is a violation.
// - The reader serves itself the latest 20 messages of random timelines (Ledger::Seen). The
//   subscriber keeps SUBSCRIBE on one store and one sync timeline open at the primary,
//   re-subscribing after the last seq it saw whenever the subscription ends or the primary
//   moves, logs every pushed message and checks that pushes come in increasing seq order.
// - With record_served, every answered request is bracketed by CLUSTER_MAP probes and logged in
//   served() (ServedLog: which server answered which slot at which map versions); the caller
//   checks it against the map history.
// - Ledger keys are "ns/timeline". Check() first waits (WaitFanout, fanout_wait_ms each) until
//   every acknowledged fan-out that spanned partitions is delivered to every member (one that is
//   not is a violation), then reads every timeline back through a fresh ClusterClient and returns
//   the report: Ledger::Check's violations plus the workload's own.
// Thread-safety: Start/Stop/Check from one thread; acked() and WaitForAcks() from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ledger.h"
#include "served_log.h"
#include "tldb/cluster_client.h"
#include "tldb/status.h"

namespace tldb::faults {

struct ClusterWorkloadOptions {
  std::vector<std::string> servers;  // HOST:PORT of the replicas
  uint32_t writers = 2;
  uint32_t timelines = 6;               // store timelines t0.. (shared by the writers)
  uint32_t members = 6;                 // sync timelines m0.. (fan-out targets)
  uint32_t payload_bytes_max = 300;     // payloads are the id and 1..this many printable bytes
  uint32_t request_timeout_ms = 3'000;  // per request: a stopped primary is left after this
  uint32_t retry_ms_max = 30'000;       // one ClusterClient call (then the writer calls again)
  std::string token;  // the servers' access token SECRET (non-loopback listeners need one)
  uint64_t seed = 1;
  bool record_served = false;        // sharded only: log every answer in served()
  uint32_t fanout_wait_ms = 60'000;  // Check(): per cross-partition fan-out (a failover is ~3 s)
};

struct ClusterCheckReport {
  uint64_t sent = 0, acked = 0, acks = 0, fanouts = 0, recalls = 0;
  uint64_t failed_calls = 0;  // ClusterClient calls that failed (and were called again)
  // Appends (or fan-out timelines) a retry after a failover found committed already.
  uint64_t deduplicated = 0;
  uint64_t seen = 0, pushed = 0, resubscribes = 0, stored = 0;
  uint64_t fanouts_across = 0;  // fan-outs over several partitions, each waited for (WaitFanout)
  std::vector<std::string> violations;
  std::string ToString() const;
};

class ClusterWorkload {
 public:
  explicit ClusterWorkload(ClusterWorkloadOptions options);
  ~ClusterWorkload();  // stops the threads
  ClusterWorkload(const ClusterWorkload&) = delete;
  ClusterWorkload& operator=(const ClusterWorkload&) = delete;

  Status Start();
  void Stop();
  // Distinct messages acknowledged so far (appends and fan-out timelines).
  uint64_t acked() const { return ledger_.acked(); }
  // Waits until `more` messages beyond the count at the call are acknowledged; returns the ms
  // it took, or TimedOut after timeout_ms.
  Result<double> WaitForAcks(uint64_t more, uint64_t timeout_ms) const;
  Result<ClusterCheckReport> Check();
  // Violations found while running (unexpected answers, pushes out of order).
  std::vector<std::string> violations() const;
  // The answers' servers and map versions (record_served).
  const ServedLog& served() const { return served_; }

 private:
  struct Subscription;
  ClusterClientOptions MakeClientOptions() const;
  void WriterLoop(uint32_t w);
  void ReaderLoop();
  void SubscriberLoop();
  void Violation(std::string what);
  // op() on c for `slot`, logged in served_ when record_served.
  Status Serve(Client& c, uint16_t slot, std::string_view what, const std::function<Status()>& op);
  struct Across {  // an acknowledged fan-out over several partitions
    std::vector<std::string> members;
    std::string id;
  };

  const ClusterWorkloadOptions o_;
  Ledger ledger_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> fanouts_{0}, recalls_{0}, failed_{0}, pushed_{0}, resubscribes_{0};
  std::atomic<uint64_t> deduplicated_{0};
  mutable std::mutex mu_;
  std::vector<std::string> violations_;
  std::vector<Across> across_;  // guarded by mu_
  ServedLog served_;
  std::vector<std::thread> threads_;
};

}  // namespace tldb::faults
