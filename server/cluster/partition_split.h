// PartitionSplit: splits a partition's slots into two partitions (`tldb cluster split P [--at
// SLOT]`, docs/cluster.md "Splitting a partition"). The child Q (the largest partition id + 1)
// gets P's slots from SLOT on and P's replicas in the same positions; each of its replicas is a
// clone of the replica of P on the same server, made by that server's ShardHost. The steps,
// each reported through `progress`:
//   1. check: P exists, SLOT is one of its slots other than its first (default: the slot that
//      starts the upper half of P's slots, by count), every server of P is registered. A map
//      where SLOT's partition is a child of P (partitions/<Q>/split names P) is a split done
//      before: nothing is written.
//   2. freeze: the split key (below) is created on a lease of the splitter's own; every server
//      with a replica of P stops admitting writes to it (ShardHost, at its next poll), and P's
//      serving primary, once every admitted write is answered, writes the frozen positions
//      (each namespace's log end). Waits for them.
//   3. clone: every server of P, once its replica's log ends at the frozen positions, makes
//      DATA/partition-<Q>.split-<id>/ (Db::Snapshot: hard links of sealed segments, a copy of
//      the rest, plus a REPLICA file that keeps it a voter) and acknowledges. Waits for all.
//   4. the map: one etcd transaction, only if the map is still the one read and the split key
//      still the one created: the map with Q (version + 1), partitions/<Q>/initialized, and
//      partitions/<Q>/split naming P and the split id (so a server starts Q on that clone).
//   5. unfreeze: the split key is deleted (P's servers go on with the new map: MOVED for the
//      slots Q took), and the lease revoked; then waits until Q has a primary.
// A failure or timeout in steps 2-4 deletes the split key (P unfreezes; the clones are
// removed by their servers), and the error is returned. A splitter that dies leaves the key to
// its lease (lease_ttl_s): P unfreezes then. A re-run while the key of the same split is still
// there keeps that lease alive and goes on, or, when that split's map was written, deletes the
// key and reports it done.
//
// Keys, under the cluster prefix:
//   split                 {"parent": P, "child": Q, "at": SLOT, "version": V+1, "lease": L}
//                         on lease L; its create revision is the split's id
//   split/frozen          {"id": ID, "ends": {"<ns>": [segment, offset], ...}} on lease L
//   split/cloned/<server> {"id": ID} or {"id": ID, "error": "..."} on lease L
//   partitions/<Q>/split  {"parent": P, "id": ID}, written with the map, never deleted
//
// Contract: Run() blocks (a tool's thread); InvalidArgument for a split the map does not allow
// (nothing written), Busy while another split runs, TimedOut after timeout_ms in a wait.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/etcd_client.h"
#include "cluster/slot_map_store.h"
#include "protocol/slot_map.h"
#include "tldb/replication.h"

namespace tldb::cluster {

struct PartitionSplitRequest {
  uint32_t partition = 0;
  std::optional<uint16_t> at;   // the first slot the child takes; none: the upper half
  int64_t timeout_ms = 60'000;  // bound on each wait (frozen, cloned, the child's primary)
  // The split key's lease: a splitter that dies unfreezes the partition after this long.
  int64_t lease_ttl_s = 5;
};

struct PartitionSplitResult {
  uint64_t version = 0;  // of the map with the child
  uint32_t child = 0;
  uint16_t at = 0;
  std::vector<proto::SlotRange> moved;  // the child's ranges
  bool done_before = false;             // a re-run found the split in the map
};

// What etcd holds of the running split (the keys above), as one range read.
struct SplitState {
  uint32_t parent = 0, child = 0;
  uint16_t at = 0;
  uint64_t version = 0;
  int64_t lease = 0;
  int64_t id = 0;  // the split key's create revision
  std::optional<std::map<std::string, LogPosition>> frozen;
  std::map<uint32_t, std::string> cloned;  // server -> "" (done) or its error
};

class PartitionSplit {
 public:
  PartitionSplit(EtcdClient& client, std::string prefix)
      : client_(client), prefix_(std::move(prefix)), store_(client, prefix_) {}

  static std::string Key(const std::string& prefix) { return prefix + "split"; }
  static std::string FrozenKey(const std::string& prefix) { return prefix + "split/frozen"; }
  static std::string ClonedKey(const std::string& prefix, uint32_t server) {
    return prefix + "split/cloned/" + std::to_string(server);
  }
  // partitions/<child>/split
  static std::string ChildKey(const std::string& prefix, uint32_t child);
  // The clone's directory name inside a server's data directory.
  static std::string CloneDirName(uint32_t child, int64_t id) {
    return "partition-" + std::to_string(child) + ".split-" + std::to_string(id);
  }
  static std::string EncodeFrozen(int64_t id, const std::map<std::string, LogPosition>& ends);
  static std::string EncodeCloned(int64_t id, std::string_view error);
  // The split's id named by partitions/<child>/split when it names `parent` (any parent when
  // `parent` is none); none otherwise.
  static std::optional<int64_t> ChildSplitId(std::string_view value,
                                             std::optional<uint32_t> parent = std::nullopt);
  // The running split, none when there is none (records of another id are ignored).
  [[nodiscard]] static Result<std::optional<SplitState>> Read(EtcdClient& client,
                                                              const std::string& prefix);

  // `map` with partition `partition`'s slots from `at` on (none: the upper half by count)
  // given to a new partition (the largest id + 1) with the same replicas, version + 1.
  // InvalidArgument naming the fault: the partition does not exist, `at` is not one of its
  // slots, or the split would leave it empty. *at_out: the slot used.
  [[nodiscard]] static Result<proto::SlotMap> Split(const proto::SlotMap& map, uint32_t partition,
                                                    std::optional<uint16_t> at,
                                                    uint16_t* at_out = nullptr);

  [[nodiscard]] Result<PartitionSplitResult> Run(
      const PartitionSplitRequest& request, const std::function<void(std::string_view)>& progress);

 private:
  // Deletes the split key `id` and revokes `lease`; returns `why`.
  Status Abort(int64_t id, int64_t lease, Status why);

  EtcdClient& client_;
  const std::string prefix_;
  SlotMapStore store_;
};

}  // namespace tldb::cluster
