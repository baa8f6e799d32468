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

}  // namespace

namespace {

// `server`'s position in `e`'s replicas, or replicas.size() when it has none.
uint32_t PositionOf(const proto::PartitionEntry& e, uint32_t server) {
  return static_cast<uint32_t>(std::find(e.replicas.begin(), e.replicas.end(), server) -
                               e.replicas.begin());
}

// The move from `from` to `to` is done in `e`: `to` holds a position and `from` none.
bool MoveDone(const proto::PartitionEntry& e, uint32_t from, uint32_t to) {
  return PositionOf(e, from) == e.replicas.size() && PositionOf(e, to) < e.replicas.size();
}

// Checks a move of partition `partition` from `from` to `to` in `map`; the partition's entry.
Result<const proto::PartitionEntry*> MoveOf(const proto::SlotMap& map, uint32_t partition,
                                            uint32_t from, uint32_t to) {
  if (from == to) return Status::InvalidArgument("--from and --to name the same server");
  const proto::PartitionEntry* p = map.Partition(partition);
  if (p == nullptr) {
    return Status::InvalidArgument("slot map version " + std::to_string(map.version()) +
                                   " has no partition " + std::to_string(partition));
  }
  if (PositionOf(*p, from) == p->replicas.size()) {
    return Status::InvalidArgument("partition " + std::to_string(partition) +
                                   " has no replica on server " + std::to_string(from));
  }
  if (PositionOf(*p, to) < p->replicas.size()) {
    return Status::InvalidArgument("partition " + std::to_string(partition) +
                                   " already has a replica on server " + std::to_string(to));
  }
  if (p->spare != proto::kNoServer && (p->spare != to || p->spare_for != from)) {
    return Status::InvalidArgument(
        "partition " + std::to_string(partition) + " has a move running: server " +
        std::to_string(p->spare) + " is its spare for server " + std::to_string(p->spare_for) +
        " (finish it with `tldb cluster move " + std::to_string(partition) + " --from " +
        std::to_string(p->spare_for) + " --to " + std::to_string(p->spare) +
        "`, or cancel it with `tldb cluster move " + std::to_string(partition) + " --cancel`)");
  }
  return p;
}

// `map` with `edit` applied to partition `partition`'s entry, version + 1.
Result<proto::SlotMap> Edited(const proto::SlotMap& map, uint32_t partition,
                              const std::function<void(proto::PartitionEntry&)>& edit) {
  std::vector<proto::PartitionEntry> parts = map.partitions();
  for (proto::PartitionEntry& e : parts) {
    e.primary = proto::kNoServer;
    if (e.id == partition) edit(e);
  }
  return proto::SlotMap::Make(map.version() + 1, std::move(parts));
}

}  // namespace

Result<proto::SlotMap> ReplicaMove::WithSpare(const proto::SlotMap& map, uint32_t partition,
                                              uint32_t from, uint32_t to) {
  TLDB_ASSIGN_OR_RETURN(const proto::PartitionEntry* p, MoveOf(map, partition, from, to));
  if (p->spare == to) {
    return Status::InvalidArgument("server " + std::to_string(to) + " is partition " +
                                   std::to_string(partition) + "'s spare already");
  }
  return Edited(map, partition, [&](proto::PartitionEntry& e) {
    e.spare = to;
    e.spare_for = from;
  });
}

Result<proto::SlotMap> ReplicaMove::Moved(const proto::SlotMap& map, uint32_t partition,
                                          uint32_t from, uint32_t to) {
  TLDB_ASSIGN_OR_RETURN(const proto::PartitionEntry* p, MoveOf(map, partition, from, to));
  if (p->spare != to) {
    return Status::InvalidArgument("server " + std::to_string(to) + " is not partition " +
                                   std::to_string(partition) + "'s spare");
  }
  const uint32_t at = PositionOf(*p, from);
  return Edited(map, partition, [&](proto::PartitionEntry& e) {
    e.replicas[at] = to;
    e.spare = e.spare_for = proto::kNoServer;
  });
}

Result<proto::SlotMap> ReplicaMove::WithoutSpare(const proto::SlotMap& map, uint32_t partition) {
  const proto::PartitionEntry* p = map.Partition(partition);
  if (p == nullptr || p->spare == proto::kNoServer) {
    return Status::NotFound("partition " + std::to_string(partition) + " has no move running");
  }
  return Edited(map, partition,
                [](proto::PartitionEntry& e) { e.spare = e.spare_for = proto::kNoServer; });
}

Result<StoredSlotMap> ReplicaMove::Change(
    const std::function<Result<proto::SlotMap>(const proto::SlotMap&)>& change) {
  for (int attempt = 0;; ++attempt) {
    TLDB_ASSIGN_OR_RETURN(StoredSlotMap now, store_.Load());
    TLDB_ASSIGN_OR_RETURN(proto::SlotMap next, change(now.map));
    auto written = store_.Update(now, next);
    if (written.ok() || written.status().code() != Status::Code::kConflict || attempt >= 5) {
      return written;
    }
  }
}

Result<uint64_t> ReplicaMove::Cancel(uint32_t partition) {
  TLDB_ASSIGN_OR_RETURN(StoredSlotMap written, Change([&](const proto::SlotMap& m) {
                          return WithoutSpare(m, partition);
                        }));
  return written.map.version();
}

Status ReplicaMove::WaitSpareReady(const ReplicaMoveRequest& r) {
  const std::string key = EtcdCoordinator::PartitionKey(prefix_, r.partition, "spare-ready");
  const int64_t deadline = SteadyMs() + r.catch_up_timeout_ms;
  int64_t shown = 0;
  while (true) {
    TLDB_ASSIGN_OR_RETURN(auto kv, client_.Get(key));
    if (kv) {
      try {
        if (nlohmann::json::parse(kv->value).at("server").get<uint32_t>() == r.to) {
          return Status::Ok();
        }
      } catch (const nlohmann::json::exception&) {
      }
    }
    if (SteadyMs() >= deadline) {
      return Status::TimedOut("partition " + std::to_string(r.partition) + "'s spare on server " +
                              std::to_string(r.to) + " did not catch up within " +
                              std::to_string(r.catch_up_timeout_ms) +
                              " ms (the move goes on: run it again to finish it)");
    }
    if (r.while_catching_up && SteadyMs() - shown >= 500) {
      r.while_catching_up();
      shown = SteadyMs();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
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
  const uint32_t from_at = PositionOf(*p, r.from), to_at = PositionOf(*p, r.to);
  if (MoveDone(*p, r.from, r.to)) {
    progress("step 1/6: slot map version " + std::to_string(stored.map.version()) +
             " already lists server " + std::to_string(r.to) + " as replica " +
             std::to_string(to_at) + " of partition " + std::to_string(r.partition) +
             " and not server " + std::to_string(r.from) + ": going on from step 6");
    out.node = to_at;
    out.version = stored.map.version();
    out.replicas = p->replicas;
  } else {
    TLDB_RETURN_IF_ERROR(MoveOf(stored.map, r.partition, r.from, r.to).status());
    out.node = from_at;
    const uint32_t spare_node = static_cast<uint32_t>(p->replicas.size());
    progress("step 1/6: partition " + std::to_string(r.partition) + ": replica " +
             std::to_string(out.node) + " moves from server " + std::to_string(r.from) +
             " to server " + std::to_string(r.to) + " (" + out.address + ")");
    // 2. The spare.
    if (p->spare == r.to) {
      progress("step 2/6: slot map version " + std::to_string(stored.map.version()) +
               " already has server " + std::to_string(r.to) + " as the spare (replica " +
               std::to_string(spare_node) + "): going on from step 3");
    } else {
      TLDB_ASSIGN_OR_RETURN(StoredSlotMap written, Change([&](const proto::SlotMap& m) {
                              return WithSpare(m, r.partition, r.from, r.to);
                            }));
      progress("step 2/6: slot map version " + std::to_string(written.map.version()) +
               " written: server " + std::to_string(r.to) + " runs replica " +
               std::to_string(spare_node) + " as the spare, beside server " +
               std::to_string(r.from) + "'s");
    }
    // 3. Its catch-up.
    progress("step 3/6: waiting for the spare to hold every committed frame");
    TLDB_RETURN_IF_ERROR(WaitSpareReady(r));
    progress("step 3/6: the spare holds every committed frame");
    // 4. Hand over.
    TLDB_ASSIGN_OR_RETURN(auto leader, Leader(r.partition));
    if (leader && *leader == out.node) {
      progress("step 4/6: replica " + std::to_string(out.node) +
               " is the primary: handing over first");
      TLDB_RETURN_IF_ERROR(HandOver(r, *p, out.node, progress));
      out.handed_over = true;
    } else {
      progress("step 4/6: replica " + std::to_string(out.node) +
               " is not the primary: no handover");
    }
    // 5. The map; or found written by another run of the same move (the controller finishes
    // a move left in the map).
    auto written = Change([&](const proto::SlotMap& m) -> Result<proto::SlotMap> {
      const proto::PartitionEntry* q = m.Partition(r.partition);
      if (q != nullptr && MoveDone(*q, r.from, r.to)) {
        return Status::AlreadyExists("moved by another run");
      }
      return Moved(m, r.partition, r.from, r.to);
    });
    if (!written.ok() && written.status().code() == Status::Code::kAlreadyExists) {
      written = store_.Load();
    }
    if (!written.ok()) return written.status();
    out.version = written->map.version();
    out.replicas = written->map.Partition(r.partition)->replicas;
    out.node = PositionOf(*written->map.Partition(r.partition), r.to);
    progress("step 5/6: slot map version " + std::to_string(out.version) + " written: server " +
             std::to_string(r.from) + " stops its replica, server " + std::to_string(r.to) +
             "'s spare takes position " + std::to_string(out.node));
  }
  // 6. T's replica holds position k.
  const std::string key =
      EtcdCoordinator::PartitionKey(prefix_, r.partition, "nodes/" + std::to_string(out.node));
  const int64_t deadline = SteadyMs() + r.timeout_ms;
  while (true) {
    TLDB_ASSIGN_OR_RETURN(auto kv, client_.Get(key));
    if (kv && EtcdCoordinator::NodeClient(kv->value) == out.address) break;
    if (SteadyMs() >= deadline) {
      return Status::TimedOut(
          "replica " + std::to_string(out.node) + " of partition " + std::to_string(r.partition) +
          " did not start on server " + std::to_string(r.to) + " within " +
          std::to_string(r.timeout_ms) + " ms (" + key + " " +
          (kv ? "names " + EtcdCoordinator::NodeClient(kv->value) : std::string("is absent")) +
          ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
  progress("step 6/6: replica " + std::to_string(out.node) + " runs on server " +
           std::to_string(r.to) + "; it joins as a learner and votes once it holds every " +
           "committed frame");
  return out;
}

}  // namespace tldb::cluster
