// PolledCoordinator: a Coordinator (replication/coordinator.h) whose reads never wait for etcd.
// A Replica calls KeepAlive, Leader and PromoteTarget on its driver thread, under the lock its
// appends need, every heartbeat; over etcd each is an HTTP call that a stalled or unreachable
// member holds for its timeouts, so a primary stopped acknowledging (and then stepped down,
// hearing no majority while its driver was blocked) whenever etcd stalled. Here a thread of its
// own makes those calls on the wrapped coordinator every poll_ms and keeps the answers; the
// reads return the latest answer while it is fresh (asked less than stale_ms ago), and an
// IOError ("etcd unreachable": the replica starts no election, and a primary goes on) after.
//
// Contract:
// - Campaign, Resign, ClearPromote, MarkInitialized and Initialized go to the wrapped
//   coordinator at once (the first four change etcd and are rare; Initialized is asked only by
//   a replica that found no state of its own, before it takes part). A won Campaign becomes the
//   cached leader at once; Resign forgets the cached leader and ClearPromote the cached target,
//   until the next poll that started after them.
// - Nodes(): every registered node's addresses, read every nodes_poll_ms by the same thread
//   (the last answer; an error until the first). PollNodesSoon() asks for the next poll to
//   read them too, if nodes_soon_ms have passed since they were last read (a peer's message
//   named an incarnation the last answer did not: it restarted, or its position moved).
// - Staleness is safe: the leader key only decides who campaigns (a compare-and-create) and
//   when a primary notices it was replaced; fencing is by the replicas' promises.
// - Thread-safe. Start() once; Stop() (also the destructor) joins the thread before the
//   wrapped coordinator may go.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "cluster/etcd_coordinator.h"
#include "replication/coordinator.h"

namespace tldb::cluster {

struct PolledCoordinatorOptions {
  uint32_t node = 0;
  int64_t poll_ms = 50;  // the replica's heartbeat: how often it used to ask
  // Answers asked longer ago than this are not used. Below the lease TTL (2 s), so that
  // cluster_etcd_ok turns 0 while a lease could still be kept.
  int64_t stale_ms = 1'000;
  int64_t nodes_poll_ms = 1'000;
  // PollNodesSoon's bound: a stream of messages from a run etcd does not name (a server that
  // lost its position and does not know it) reads the node keys at most this often.
  int64_t nodes_soon_ms = 200;
  std::function<int64_t()> now_ms;  // monotonic clock
};

class PolledCoordinator : public repl::Coordinator {
 public:
  using NodesFn = std::function<Result<std::map<uint32_t, NodeAddresses>>()>;
  PolledCoordinator(repl::Coordinator& inner, NodesFn nodes, PolledCoordinatorOptions options);
  ~PolledCoordinator() override;

  void Start();
  void Stop();

  Result<repl::LeaderInfo> Campaign(uint32_t node) override;
  Result<repl::LeaderInfo> Leader(uint32_t node) override;
  Status Resign(uint32_t node, uint64_t epoch) override;
  Status KeepAlive(uint32_t node) override;
  Result<std::optional<uint32_t>> PromoteTarget(uint32_t node) override;
  Status ClearPromote(uint32_t node) override;
  Result<bool> Initialized(uint32_t node) override;
  Status MarkInitialized(uint32_t node) override;
  Result<std::map<uint32_t, NodeAddresses>> Nodes();
  void PollNodesSoon();

 private:
  // A cached answer: the value and when the call that got it started.
  template <typename T>
  struct Answer {
    std::optional<T> value;
    int64_t asked_ms = 0;
    uint64_t generation = 0;  // leader/promote: bumped by writes, so older polls are dropped
  };
  void Poll();
  Status Stale(const char* what, int64_t asked_ms) const;

  repl::Coordinator& inner_;
  const NodesFn nodes_fn_;
  const PolledCoordinatorOptions o_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  Answer<Status> keepalive_;
  Answer<repl::LeaderInfo> leader_;
  Answer<std::optional<uint32_t>> promote_;
  std::optional<std::map<uint32_t, NodeAddresses>> nodes_;
  // PollNodesSoon calls, and how many of them a read of the nodes has answered (a read that
  // started before a call does not answer it).
  uint64_t nodes_soon_asked_ = 0, nodes_soon_answered_ = 0;
  std::thread thread_;
};

}  // namespace tldb::cluster
