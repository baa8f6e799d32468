// ReplicaMove: moves one replica of a partition from server S to server T (`tldb cluster move P
// --from S --to T`, docs/cluster.md "Moving a replica"), adding before it removes: T's replica
// runs beside S's as the partition's spare (node id = the number of replicas, which follows
// and never counts) until it holds every committed frame, and only then takes S's position k.
// The steps, each reported through `progress`:
//   1. check: the map lists S in P's replicas (position k) and not T, P has no spare or T is
//      it (for S), and T is registered (servers/<T>: its ShardHost runs).
//   2. the spare: P's entry with spare T for S, version + 1 (SlotMapStore::Update, a
//      compare-and-swap; a concurrent change is re-read and the step computed again). T's
//      server starts the spare on an empty directory; the primary ships it the log (or has it
//      rebuilt from a snapshot).
//   3. wait until partitions/<P>/spare-ready names T (its server writes it once the primary
//      told the spare it holds every committed frame), up to catch_up_timeout_ms, calling
//      `while_catching_up` about twice a second.
//   4. hand over: when replica k leads P (partitions/<P>/leader), ask another replica whose
//      node key is registered to lead (partitions/<P>/promote, as `tldb cluster promote`) and
//      wait until the leader key names another replica, asking again while it does not.
//   5. the map: P's replicas with T in position k and no spare, version + 1 (compare-and-swap).
//   6. wait until partitions/<P>/nodes/<k> names T's client address: S's server stopped its
//      replica (revoking its lease, so the key went at once), and T's server stopped the spare
//      and started it again, on the same directory, as replica k: a learner until the primary
//      sees it hold every committed frame (the frames of the last few seconds at most).
// A re-run goes on from where the map says the move is: spare T for S (from 3), or T in S's
// position (from 6). What follows step 6 (replica k becoming a voter) the caller watches in
// T's STATS.
//
// Contract: Run() returns the map it wrote (or found, on a re-run) and the position k, or the
// first error: InvalidArgument for a move the map does not allow (nothing written),
// TimedOut when a wait passed its bound (the map may have been written: a re-run goes on).
// Cancel() takes a spare out of the map (its server stops it and sets its directory aside).
// Blocking etcd calls: a tool's thread, not a server's request path.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
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
  // Bound on each wait but the catch-up (the handover, T's replica taking position k).
  int64_t timeout_ms = 60'000;
  // Bound on the spare's catch-up (step 3): a rebuild from a snapshot of a large partition
  // takes minutes.
  int64_t catch_up_timeout_ms = 3'600'000;
  // Called about twice a second while step 3 waits (a CLI shows progress); may be empty.
  std::function<void()> while_catching_up;
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

  // `map` with server `to` as partition `partition`'s spare for `from`, version + 1 (step 2).
  // InvalidArgument when the partition does not exist, does not list `from`, already lists
  // `to`, has another spare, or from == to.
  [[nodiscard]] static Result<proto::SlotMap> WithSpare(const proto::SlotMap& map,
                                                        uint32_t partition, uint32_t from,
                                                        uint32_t to);
  // `map` with server `to` in the position of `from` in partition `partition` and no spare,
  // version + 1 (step 5). InvalidArgument as WithSpare, and when the spare is not `to`.
  [[nodiscard]] static Result<proto::SlotMap> Moved(const proto::SlotMap& map, uint32_t partition,
                                                    uint32_t from, uint32_t to);
  // `map` without partition `partition`'s spare, version + 1; NotFound when it has none.
  [[nodiscard]] static Result<proto::SlotMap> WithoutSpare(const proto::SlotMap& map,
                                                           uint32_t partition);

  [[nodiscard]] Result<ReplicaMoveResult> Run(
      const ReplicaMoveRequest& request, const std::function<void(std::string_view)>& progress);
  // Takes partition `partition`'s spare out of the map; returns the version written.
  // NotFound when it has none.
  [[nodiscard]] Result<uint64_t> Cancel(uint32_t partition);

 private:
  // The leader key's replica index, or none.
  Result<std::optional<uint32_t>> Leader(uint32_t partition);
  // Writes the map `change` computes from the stored one, re-reading on a concurrent change.
  Result<StoredSlotMap> Change(
      const std::function<Result<proto::SlotMap>(const proto::SlotMap&)>& change);
  // Step 3: until partitions/<P>/spare-ready names server `to`.
  Status WaitSpareReady(const ReplicaMoveRequest& r);
  Status HandOver(const ReplicaMoveRequest& r, const proto::PartitionEntry& p, uint32_t node,
                  const std::function<void(std::string_view)>& progress);

  EtcdClient& client_;
  const std::string prefix_;
  SlotMapStore store_;
};

}  // namespace tldb::cluster
