#include "cluster/primary_balance.h"

#include <chrono>
#include <map>
#include <thread>

#include "cluster/etcd_coordinator.h"
#include "cluster/steady_ms.h"

namespace tldb::cluster {
std::vector<PrimaryMove> PrimaryBalance::Plan(const proto::SlotMap& map) {
  std::map<uint32_t, uint32_t> given;  // server id -> primaries planned on it
  std::vector<PrimaryMove> out;
  for (const proto::PartitionEntry& p : map.partitions()) {
    uint32_t best = 0;
    for (uint32_t k = 1; k < p.replicas.size(); ++k) {
      const uint32_t a = given[p.replicas[k]], b = given[p.replicas[best]];
      if (a < b || (a == b && p.replicas[k] == p.primary)) best = k;
    }
    const uint32_t to = p.replicas[best];
    given[to]++;
    if (to != p.primary) out.push_back(PrimaryMove{p.id, p.primary, to, best});
  }
  return out;
}

Result<std::vector<PrimaryMove>> PrimaryBalance::Run(
    const proto::SlotMap& map, int64_t timeout_ms,
    const std::function<void(std::string_view)>& progress) {
  const std::vector<PrimaryMove> plan = Plan(map);
  progress(std::to_string(plan.size()) + " of " + std::to_string(map.partitions().size()) +
           " partitions change primary");
  std::vector<PrimaryMove> done;
  for (const PrimaryMove& m : plan) {
    progress("partition " + std::to_string(m.partition) + ": primary from server " +
             (m.from == proto::kNoServer ? std::string("-") : std::to_string(m.from)) +
             " to server " + std::to_string(m.to) + " (replica " + std::to_string(m.node) + ")");
    const std::string leader = EtcdCoordinator::PartitionKey(prefix_, m.partition, "leader");
    const int64_t deadline = SteadyMs() + timeout_ms;
    int64_t asked_at = 0;
    while (true) {
      TLDB_ASSIGN_OR_RETURN(auto kv, client_.Get(leader));
      if (kv && kv->value == std::to_string(m.node)) break;
      if (SteadyMs() >= deadline) {
        return Status::TimedOut("partition " + std::to_string(m.partition) + ": replica " +
                                std::to_string(m.node) + " did not lead within " +
                                std::to_string(timeout_ms) + " ms");
      }
      // Asked again while it does not lead: a handover to a replica that does not catch up in
      // time is dropped.
      if (SteadyMs() - asked_at >= 3'000) {
        TLDB_RETURN_IF_ERROR(
            client_.Put(EtcdCoordinator::PromoteKey(prefix_, m.partition), std::to_string(m.node))
                .status());
        asked_at = SteadyMs();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    done.push_back(m);
  }
  return done;
}

}  // namespace tldb::cluster
