// ClusterNode: a tldb-server's part in a replicated partition (docs/replication.md): the
// EtcdCoordinator, the TcpTransport to the other replicas, the Replica, and the driver thread
// that hands it received messages and ticks it every tick_ms. db() is what the server serves
// (a ReplicatedDb).
//
// Contract: Start() returns once the replica's Db is open and the node is registered in etcd;
// Stop() (or the destructor) stops the driver, the transport and the replica, and resigns the
// leader key if this node holds it (a planned switchover: another replica leads at once).
// Each start is a new incarnation of the replica (a random id, registered with its addresses):
// peers take messages only from the incarnation etcd last named for a position.
// Lock order: the replica's lock, then addresses_mu_ (the replica asks for peers'
// incarnations while it holds its own); inbox_mu_ and addresses_mu_ are never held together.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/etcd_coordinator.h"
#include "cluster/polled_coordinator.h"
#include "replication/replica.h"
#include "replication/replicated_db.h"
#include "replication/tcp_transport.h"

namespace tldb::cluster {

struct ClusterNodeOptions {
  std::vector<std::string> etcd_endpoints;
  std::string etcd_prefix = "/tldb/";
  // The partition this replica belongs to (docs/cluster.md); 0 in an unsharded cluster.
  uint32_t partition = 0;
  uint32_t node = 0;
  uint32_t voters = 3;
  std::string client_address;  // what clients dial (named in NOT_PRIMARY answers)
  std::string peer_listen;     // HOST:PORT for the other replicas
  // Mutual TLS between replicas (docs/replication.md "Peer TLS"): this node's certificate and
  // key (used to serve its peers and to dial them) and the CA that signs every replica's. All
  // three, or none (plain TCP).
  std::string peer_tls_cert, peer_tls_key, peer_tls_ca;
  std::string data_dir;
  Options db_options;
  std::vector<std::pair<std::string, NamespaceOptions>> namespaces;
  int64_t lease_ttl_s = 2;
  int64_t tick_ms = 10;
  // How long the primary keeps its log as written for a follower it does not hear from
  // (ReplicaConfig::retain_for_absent_ms); one away longer is rebuilt from a snapshot.
  int64_t retain_for_absent_s = 600;
};

class ClusterNode {
 public:
  // "etcd=URL[,URL...]" (tldb-server --cluster) → the etcd client URLs.
  static Result<std::vector<std::string>> ParseClusterSpec(std::string_view spec);
  [[nodiscard]] static Result<std::unique_ptr<ClusterNode>> Start(ClusterNodeOptions options);
  ~ClusterNode();
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  Db* db() { return db_.get(); }
  repl::ReplicaStatus status() const { return replica_->status(); }
  // Whether this replica is its partition's serving primary now (what routing, the namespace
  // catalog and intent delivery ask).
  bool serving_primary() const {
    const repl::ReplicaStatus s = status();
    return s.role == repl::Role::kPrimary && s.serving;
  }
  // STATS counters (docs/protocol.md): cluster_role, cluster_epoch, cluster_serving, ...
  void AddStats(std::vector<std::pair<std::string, uint64_t>>* out) const;
  std::string peer_address() const { return transport_->listen_address(); }
  // A split's clone of this replica into `dir` (repl::Replica::CloneForSplit).
  Result<SnapshotInfo> CloneForSplit(const std::string& dir) {
    return replica_->CloneForSplit(dir);
  }
  void Stop();
  // Stop() for good: the replica left this server (a move, docs/cluster.md "Moving a
  // replica"). Its etcd lease is revoked as well, so partitions/P/nodes/<node> disappears at
  // once and the replica's successor on another server may start.
  Status Retire();

 private:
  explicit ClusterNode(ClusterNodeOptions options) : options_(std::move(options)) {}
  void Drive();
  std::string AddressOf(uint32_t node, bool client);
  void RefreshAddresses();

  const ClusterNodeOptions options_;
  std::unique_ptr<EtcdCoordinator> coordinator_;
  // What the replica asks etcd through: its reads never wait for etcd (polled_coordinator.h).
  std::unique_ptr<PolledCoordinator> polled_;
  std::unique_ptr<repl::TcpTransport> transport_;
  std::unique_ptr<repl::Replica> replica_;
  std::unique_ptr<repl::ReplicatedDb> db_;

  std::mutex inbox_mu_;
  std::condition_variable inbox_cv_;
  std::deque<std::string> inbox_;
  std::atomic<bool> stopping_{false};
  std::thread driver_;

  std::mutex addresses_mu_;
  // Each node's last registration read from etcd; a node whose key is gone keeps its last one.
  std::map<uint32_t, NodeAddresses> addresses_;
};

}  // namespace tldb::cluster
