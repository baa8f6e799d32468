// ReplicaMove: moves one replica of a partition from server S to server T (`tldb cluster move P
// --from S --to T`, docs/cluster.md "Moving a replica"). The steps, each reported through
// `progress`:
//   1. check: the map lists S in P's replicas (position k) and not T, and T is registered
//      (servers/<T>: its ShardHost runs and will start the replica). A map that already lists
//      T at a position and not S is a move done before (a re-run): the steps go on from 3.
//   2. hand over: when replica k leads P (partitions/<P>/leader), ask another replica whose
//      node key is registered to lead (partitions/<P>/promote, as `tldb cluster promote`) and
//      wait until the leader key names another replica, asking again while it does not (a
//      handover is dropped when the target does not catch up in time). So the partition does
//      not wait for a lease to expire when S's replica stops.
//   3. the map: P's replicas with T in position k, version + 1 (SlotMapStore::Update, a
//      compare-and-swap; a concurrent change is re-read and the move computed again).
//   4. wait until partitions/<P>/nodes/<k> names T's client address: S's ShardHost stopped its
//      replica (revoking its lease, so the key went at once) and T's started one in its place.
// What follows (T's replica, a learner on an empty directory, catching up or rebuilt from a
// snapshot until the primary makes it a voter) is watched by the caller from T's STATS.
//
// Contract: Run() returns the map it wrote (or found, on a re-run) and the position k, or the
// first error: InvalidArgument for a move the map does not allow (nothing written),
// TimedOut when a wait passed `timeout_ms` (the map may have been written: a re-run goes on).
// Blocking etcd calls: a tool's thread, not a server's request path.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/etcd_client.h"
#include "cluster/slot_map_store.h"
#include "protocol/slot_map.h"

namespace tldb::cluster {

struct ReplicaMoveRequest {
  uint32_t partition = 0;
  uint32_t from = 0;  // server id S
  uint32_t to = 0;    // server id T
  // Bound on each wait (the handover, T's replica taking position k).
  int64_t timeout_ms = 60'000;
};

struct ReplicaMoveResult {
  uint64_t version = 0;            // of the map listing T
  std::vector<uint32_t> replicas;  // the partition's replicas in that map
  uint32_t node = 0;               // k: the replica's position (node id) in the partition
  std::string address;             // T's client address
  bool handed_over = false;        // the primary was S's replica and was handed over
};

class ReplicaMove {
 public:
  ReplicaMove(EtcdClient& client, std::string prefix)
      : client_(client), prefix_(std::move(prefix)), store_(client, prefix_) {}

  // `map` with server `to` in the position of `from` in partition `partition`, version + 1.
  // InvalidArgument when the partition does not exist, does not list `from`, already lists
  // `to`, or from == to.
  [[nodiscard]] static Result<proto::SlotMap> Moved(const proto::SlotMap& map, uint32_t partition,
                                                    uint32_t from, uint32_t to);

  [[nodiscard]] Result<ReplicaMoveResult> Run(
      const ReplicaMoveRequest& request, const std::function<void(std::string_view)>& progress);

 private:
  // The leader key's replica index, or none.
  Result<std::optional<uint32_t>> Leader(uint32_t partition);
  Status HandOver(const ReplicaMoveRequest& r, const proto::PartitionEntry& p, uint32_t node,
                  const std::function<void(std::string_view)>& progress);

  EtcdClient& client_;
  const std::string prefix_;
  SlotMapStore store_;
};

}  // namespace tldb::cluster
