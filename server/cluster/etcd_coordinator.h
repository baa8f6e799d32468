// EtcdCoordinator: the Coordinator of a replica (replication/coordinator.h) over etcd
// (docs/replication.md "What etcd holds"). Keys of partition P (0 in an unsharded cluster),
// under a prefix (default "/tldb/"):
//   <prefix>partitions/P/nodes/<node>   this replica's addresses (JSON), on its lease
//   <prefix>partitions/P/voters         the partition's voters, "0,1,2" (created once)
//   <prefix>partitions/P/leader         the primary's node id, on its lease; the key's create
//                                       revision is the epoch
//   <prefix>partitions/P/promote        a planned switchover's target node (tldb cluster promote)
//   <prefix>partitions/P/initialized    "1" once a primary served (created once, never deleted)
// The lease is kept alive by a LeaseKeeper; when it is lost (expired, or no refresh for a
// whole TTL) the next KeepAlive grants a new one (a new incarnation) and registers again, so
// any leader key of the old one is gone.
//
// Contract: thread-safe (calls are serialised on the EtcdClient's connection).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "cluster/etcd_client.h"
#include "cluster/lease_keeper.h"
#include "replication/coordinator.h"

namespace tldb::cluster {

struct EtcdCoordinatorOptions {
  EtcdClientOptions etcd;
  std::string prefix = "/tldb/";
  // The partition this replica belongs to (docs/cluster.md); 0 in an unsharded cluster.
  uint32_t partition = 0;
  uint32_t node = 0;
  uint32_t voters = 3;
  // This node's addresses, registered under partitions/P/nodes/<node>: what clients and peers
  // dial.
  std::string client_address;
  std::string peer_address;
  // This run of the replica (repl::ReplicaConfig::incarnation), registered beside the
  // addresses: peers drop messages of any other run of this position.
  uint64_t incarnation = 0;
  // The lease's TTL: a dead primary's key goes after this. etcd's minimum is about 2 s.
  int64_t lease_ttl_s = 2;
};

struct NodeAddresses {
  std::string client;
  std::string peer;
  uint64_t incarnation = 0;  // 0: the key names none
};

class EtcdCoordinator : public repl::Coordinator {
 public:
  [[nodiscard]] static Result<std::unique_ptr<EtcdCoordinator>> Start(
      EtcdCoordinatorOptions options);
  ~EtcdCoordinator() override;

  Result<repl::LeaderInfo> Campaign(uint32_t node) override;
  Result<repl::LeaderInfo> Leader(uint32_t node) override;
  Status Resign(uint32_t node, uint64_t epoch) override;
  Status KeepAlive(uint32_t node) override;
  Result<std::optional<uint32_t>> PromoteTarget(uint32_t node) override;
  Status ClearPromote(uint32_t node) override;
  Result<bool> Initialized(uint32_t node) override;
  Status MarkInitialized(uint32_t node) override;

  // Every registered node's addresses, by node id.
  Result<std::map<uint32_t, NodeAddresses>> Nodes();
  // The replica leaves for good (its server no longer holds it, docs/cluster.md "Moving a
  // replica"): the lease keeper stops and the lease is revoked, so the node key (and a leader
  // key on it) disappears now rather than after the TTL; KeepAlive registers no more. Call it
  // once the replica stopped.
  Status Unregister();
  // The client address in a partitions/<P>/nodes/<k> value ("" when it does not parse): the
  // server that runs that replica.
  static std::string NodeClient(const std::string& value);
  // "<prefix>partitions/<partition>/<name>": the one place these keys are spelt.
  static std::string PartitionKey(const std::string& prefix, uint32_t partition,
                                  std::string_view name) {
    return prefix + "partitions/" + std::to_string(partition) + "/" + std::string(name);
  }
  std::string Key(std::string_view name) const {
    return PartitionKey(options_.prefix, options_.partition, name);
  }
  std::string LeaderKey() const { return Key("leader"); }
  std::string InitializedKey() const { return Key("initialized"); }
  // Written by `tldb cluster promote NODE [--partition P]`: the node to hand over to.
  static std::string PromoteKey(const std::string& prefix, uint32_t partition = 0) {
    return PartitionKey(prefix, partition, "promote");
  }

 private:
  explicit EtcdCoordinator(EtcdCoordinatorOptions options) : options_(std::move(options)) {}
  // A new lease, its keeper, and the node key on it; mu_ held. Refused (Busy) while the key
  // names another server: this position was moved there (a server that was cut off from etcd
  // must not take it back).
  Status Register();

  const EtcdCoordinatorOptions options_;
  std::mutex mu_;
  std::unique_ptr<EtcdClient> client_;
  std::unique_ptr<LeaseKeeper> keeper_;
  int64_t lease_ = 0;
  bool unregistered_ = false;  // guarded by mu_
};

}  // namespace tldb::cluster
