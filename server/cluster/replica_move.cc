#include "cluster/replica_move.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster/etcd_coordinator.h"
#include "cluster/steady_ms.h"

namespace tldb::cluster {
namespace {

// How often the waits read etcd: a handover or a replica start shows within this.
constexpr int64_t kPollMs = 100;

// The client address in a partitions/<P>/nodes/<k> value ("" when it does not parse).
std::string ClientOf(const std::string& value) {
  try {
    return nlohmann::json::parse(value).at("client").get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return "";
  }
}

}  // namespace

Result<proto::SlotMap> ReplicaMove::Moved(const proto::SlotMap& map, uint32_t partition,
                                          uint32_t from, uint32_t to) {
  if (from == to) return Status::InvalidArgument("--from and --to name the same server");
  const proto::PartitionEntry* p = map.Partition(partition);
  if (p == nullptr) {
    return Status::InvalidArgument("slot map version " + std::to_string(map.version()) +
                                   " has no partition " + std::to_string(partition));
  }
  auto at = std::find(p->replicas.begin(), p->replicas.end(), from);
  if (at == p->replicas.end()) {
    return Status::InvalidArgument("partition " + std::to_string(partition) +
                                   " has no replica on server " + std::to_string(from));
  }
  if (std::find(p->replicas.begin(), p->replicas.end(), to) != p->replicas.end()) {
    return Status::InvalidArgument("partition " + std::to_string(partition) +
                                   " already has a replica on server " + std::to_string(to));
  }
  std::vector<proto::PartitionEntry> parts = map.partitions();
  for (proto::PartitionEntry& e : parts) {
    e.primary = proto::kNoServer;
    if (e.id == partition) e.replicas[at - p->replicas.begin()] = to;
  }
  return proto::SlotMap::Make(map.version() + 1, std::move(parts));
}

Result<std::optional<uint32_t>> ReplicaMove::Leader(uint32_t partition) {
  TLDB_ASSIGN_OR_RETURN(auto kv,
                        client_.Get(EtcdCoordinator::PartitionKey(prefix_, partition, "leader")));
  if (!kv) return std::optional<uint32_t>();
  try {
    return std::optional<uint32_t>(static_cast<uint32_t>(std::stoul(kv->value)));
  } catch (const std::exception&) {
    return Status::Corruption("leader key of partition " + std::to_string(partition) + " holds '" +
                              kv->value + "'");
  }
}

Status ReplicaMove::HandOver(const ReplicaMoveRequest& r, const proto::PartitionEntry& p,
                             uint32_t node, const std::function<void(std::string_view)>& progress) {
  // The other replicas with a registered node key, in position order.
  TLDB_ASSIGN_OR_RETURN(RangeResult nodes, client_.GetPrefix(EtcdCoordinator::PartitionKey(
                                               prefix_, r.partition, "nodes/")));
  std::vector<uint32_t> targets;
  for (uint32_t k = 0; k < p.replicas.size(); ++k) {
    if (k == node) continue;
    const std::string key =
        EtcdCoordinator::PartitionKey(prefix_, r.partition, "nodes/" + std::to_string(k));
    for (const KeyValue& kv : nodes.kvs) {
      if (kv.key == key) targets.push_back(k);
    }
  }
  if (targets.empty()) {
    return Status::Busy("partition " + std::to_string(r.partition) +
                        ": no other replica is registered to hand the primary over to");
  }
  const int64_t deadline = SteadyMs() + r.timeout_ms;
  size_t next = 0;
  int64_t asked_at = 0;
  while (true) {
    TLDB_ASSIGN_OR_RETURN(auto leader, Leader(r.partition));
    if (leader && *leader != node) {
      progress("  the primary is now replica " + std::to_string(*leader) + " (server " +
               std::to_string(p.replicas[*leader]) + ")");
      return Status::Ok();
    }
    if (SteadyMs() >= deadline) {
      return Status::TimedOut("partition " + std::to_string(r.partition) +
                              ": the primary was not handed over within " +
                              std::to_string(r.timeout_ms) + " ms");
    }
    // Ask (again, another target each time) when the last request is older than a few
    // election timeouts' worth: a handover to a replica that does not catch up is dropped.
    if (leader && SteadyMs() - asked_at >= 3'000) {
      const uint32_t t = targets[next++ % targets.size()];
      TLDB_RETURN_IF_ERROR(
          client_.Put(EtcdCoordinator::PromoteKey(prefix_, r.partition), std::to_string(t))
              .status());
      progress("  asked replica " + std::to_string(t) + " (server " +
               std::to_string(p.replicas[t]) + ") to lead partition " +
               std::to_string(r.partition));
      asked_at = SteadyMs();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
}

Result<ReplicaMoveResult> ReplicaMove::Run(const ReplicaMoveRequest& r,
                                           const std::function<void(std::string_view)>& progress) {
  ReplicaMoveResult out;
  // 1. Check.
  TLDB_ASSIGN_OR_RETURN(StoredSlotMap stored, store_.Load());
  TLDB_ASSIGN_OR_RETURN(auto servers, store_.Servers());
  auto addr = servers.find(r.to);
  if (addr == servers.end()) {
    return Status::InvalidArgument("server " + std::to_string(r.to) +
                                   " is not registered (servers/" + std::to_string(r.to) +
                                   "): start it before moving a replica to it");
  }
  out.address = addr->second;
  const proto::PartitionEntry* p = stored.map.Partition(r.partition);
  if (p == nullptr) {
    return Status::InvalidArgument("slot map version " + std::to_string(stored.map.version()) +
                                   " has no partition " + std::to_string(r.partition));
  }
  auto find = [](const proto::PartitionEntry& e, uint32_t s) {
    return static_cast<uint32_t>(std::find(e.replicas.begin(), e.replicas.end(), s) -
                                 e.replicas.begin());
  };
  const uint32_t from_at = find(*p, r.from), to_at = find(*p, r.to);
  const bool done_before = from_at == p->replicas.size() && to_at < p->replicas.size();
  if (done_before) {
    progress("step 1/4: slot map version " + std::to_string(stored.map.version()) +
             " already lists server " + std::to_string(r.to) + " as replica " +
             std::to_string(to_at) + " of partition " + std::to_string(r.partition) +
             " and not server " + std::to_string(r.from) + ": going on from step 4");
    out.node = to_at;
    out.version = stored.map.version();
    out.replicas = p->replicas;
  } else {
    TLDB_RETURN_IF_ERROR(Moved(stored.map, r.partition, r.from, r.to).status());
    out.node = from_at;
    progress("step 1/4: partition " + std::to_string(r.partition) + ": replica " +
             std::to_string(out.node) + " moves from server " + std::to_string(r.from) +
             " to server " + std::to_string(r.to) + " (" + out.address + ")");
    // 2. Hand over.
    TLDB_ASSIGN_OR_RETURN(auto leader, Leader(r.partition));
    if (leader && *leader == out.node) {
      progress("step 2/4: replica " + std::to_string(out.node) +
               " is the primary: handing over first");
      TLDB_RETURN_IF_ERROR(HandOver(r, *p, out.node, progress));
      out.handed_over = true;
    } else {
      progress("step 2/4: replica " + std::to_string(out.node) +
               " is not the primary: no handover");
    }
    // 3. The map (computed again from a fresh read when another change came between).
    for (int attempt = 0;; ++attempt) {
      TLDB_ASSIGN_OR_RETURN(StoredSlotMap now, store_.Load());
      TLDB_ASSIGN_OR_RETURN(proto::SlotMap next, Moved(now.map, r.partition, r.from, r.to));
      const proto::PartitionEntry* q = now.map.Partition(r.partition);
      if (find(*q, r.from) != out.node) {
        return Status::Conflict("partition " + std::to_string(r.partition) +
                                "'s replicas changed while moving: run the move again");
      }
      auto written = store_.Update(now, next);
      if (written.ok()) {
        out.version = written->map.version();
        out.replicas = written->map.Partition(r.partition)->replicas;
        break;
      }
      if (written.status().code() != Status::Code::kConflict || attempt >= 5) {
        return written.status();
      }
    }
    progress("step 3/4: slot map version " + std::to_string(out.version) + " written: server " +
             std::to_string(r.from) + " stops its replica, server " + std::to_string(r.to) +
             " starts one on an empty directory");
  }
  // 4. T's replica holds position k.
  const std::string key =
      EtcdCoordinator::PartitionKey(prefix_, r.partition, "nodes/" + std::to_string(out.node));
  const int64_t deadline = SteadyMs() + r.timeout_ms;
  while (true) {
    TLDB_ASSIGN_OR_RETURN(auto kv, client_.Get(key));
    if (kv && ClientOf(kv->value) == out.address) break;
    if (SteadyMs() >= deadline) {
      return Status::TimedOut(
          "replica " + std::to_string(out.node) + " of partition " + std::to_string(r.partition) +
          " did not start on server " + std::to_string(r.to) + " within " +
          std::to_string(r.timeout_ms) + " ms (" + key + " " +
          (kv ? "names " + ClientOf(kv->value) : std::string("is absent")) + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
  progress("step 4/4: replica " + std::to_string(out.node) + " runs on server " +
           std::to_string(r.to) + "; it joins as a learner and catches up");
  return out;
}

}  // namespace tldb::cluster
