// PrimaryBalance: spreads partitions' primaries over the servers (`tldb cluster rebalance`,
// docs/cluster.md "Rebalancing primaries"). Replicas do not move; only which replica leads:
//   Plan(map with primaries): partitions in id order, each given the replica whose server has
//   the fewest primaries given so far (a partition without a primary counts for none); a tie
//   keeps the current primary, then the lower position. One greedy pass: with the round-robin
//   placement of `tldb cluster init` every server ends with floor or ceil of (partitions /
//   servers) primaries; it is not the plan with the fewest handovers.
//   Run(): for each partition whose planned primary is not its current one, asks that replica
//   to lead (partitions/<P>/promote, as `tldb cluster promote`) and waits until the leader key
//   names it, asking again every 3 s, for at most timeout_ms per partition; one partition at a
//   time, so that at most one partition is between primaries at any moment.
//
// Contract: Plan is pure. Run returns the handovers done, or the first error (TimedOut names the
// partition; handovers before it stay done). Blocking etcd calls: a tool's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/etcd_client.h"
#include "protocol/slot_map.h"

namespace tldb::cluster {

struct PrimaryMove {
  uint32_t partition = 0;
  uint32_t from = proto::kNoServer;  // server id of the current primary (kNoServer: none)
  uint32_t to = 0;                   // server id of the planned one
  uint32_t node = 0;                 // its replica index in the partition
};

class PrimaryBalance {
 public:
  PrimaryBalance(EtcdClient& client, std::string prefix)
      : client_(client), prefix_(std::move(prefix)) {}

  // `map` must carry the primaries (SlotMapStore::Serving). The handovers that even them out.
  static std::vector<PrimaryMove> Plan(const proto::SlotMap& map);

  [[nodiscard]] Result<std::vector<PrimaryMove>> Run(
      const proto::SlotMap& map, int64_t timeout_ms,
      const std::function<void(std::string_view)>& progress);

 private:
  EtcdClient& client_;
  const std::string prefix_;
};

}  // namespace tldb::cluster
