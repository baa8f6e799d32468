// ShardHost: a tldb-server's part in a sharded cluster (docs/cluster.md "Servers"). Started when
// etcd holds a slot map: for every partition the map lists this server in, it runs that
// partition's replica (a ClusterNode: partition P, node id = the server's position in P's
// replicas, data directory DATA/partition-<P>/, peer port = the --peer-listen port + P, or an
// ephemeral one when that port is 0). It registers servers/<id> on a lease of its own, and a
// thread of its own polls etcd every poll_ms (and at once when nudged by NamespaceMiss):
//   - the map (slotmap): a newer version is taken; replicas of partitions no longer listing
//     this server are retired (taken out of the routing, stopped, their etcd lease revoked so
//     that partitions/<P>/nodes/<k> disappears, and DATA/partition-<P>/ renamed aside to
//     DATA/partition-<P>.moved-v<version>/); replicas of partitions newly listing this server
//     are started, but only once partitions/<P>/nodes/<k> is absent or names this server's
//     client address (the replica that held position k elsewhere has stopped: two processes
//     never act as replica k while both reach etcd). One that cannot start yet is logged and
//     retried at the next poll. See docs/cluster.md "Moving a replica";
//   - at Start, a DATA/partition-<P>/ directory of a partition the map does not list this
//     server in is renamed aside the same way (its replica left while the server was down: a
//     later return must start empty, as a learner, not as a voter with an old log), and a
//     split's clone left by a stop mid-split is removed unless it may still be used
//     (LeftoverClone);
//   - every partition's primary (partitions/<P>/leader, a replica index mapped to its server
//     id) and every server's client address (servers/<id>);
//   - the namespace catalog (namespaces/, ClusterNamespaces): each namespace missing from a
//     partition this server is the serving primary of is created there, and changed options
//     are set.
//   - a running split (the split keys, cluster/partition_split.h; read before the map): while
//     a split of P runs and the map read is older than the one it writes, P's WriteGate is
//     frozen (writes are answered Busy); P's serving primary, once every admitted write is
//     answered, writes the frozen positions; this server's replica of P, once its log ends
//     there, is cloned into DATA/partition-<Q>.split-<id>/ and acknowledged. A gate is
//     unfrozen only after a routing with the map of that poll is published, and only when that
//     map is the split's or the split key was read gone: no write for a slot the child took
//     is admitted to P once the child may serve it. A clone of a split that ended without the
//     map is removed. A partition that a split's map lists here (partitions/<Q>/split names
//     its id) starts on that clone, renamed DATA/partition-<Q>/. See docs/cluster.md
//     "Splitting a partition".
// What the requests read (routing()) is a snapshot published by that thread: no request waits
// for etcd. Writes enter the partition's WriteGate through Admit().
//
// Contract:
// - Start(): NotFound when etcd holds no slot map (the caller runs an unsharded node); any
//   other error when the map is unreadable or a replica cannot start. Returns once every local
//   replica is open and the first routing snapshot is published.
// - routing() is never null after Start and stays valid (a shared_ptr) while used; its Db
//   pointers stay valid until Stop() (a retired replica's ClusterNode is stopped but kept: a
//   request that took its Db before the retirement is answered NOT_PRIMARY).
// - Stop() (also the destructor) stops the poll thread, then every replica (a primary
//   resigns), then drops the server key's lease keeper. Requests must have stopped first.
// - Thread-safe. One mutex (mu_) guards the published routing, the early-poll time and the
//   calls waiting for a poll. nodes_ belongs to Start, the poll thread and Stop (once the
//   thread ended); requests reach the replicas through the published routing only.
#pragma once

#include <climits>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster_namespaces.h"
#include "cluster/cluster_node.h"
#include "cluster/etcd_client.h"
#include "cluster/lease_keeper.h"
#include "cluster/partition_split.h"
#include "cluster/slot_map_store.h"
#include "cluster/write_gate.h"
#include "protocol/slot_map.h"

namespace tldb::cluster {

struct ShardHostOptions {
  std::vector<std::string> etcd_endpoints;
  std::string etcd_prefix = "/tldb/";
  uint32_t server = 0;         // this server's id in the map (tldb-server --node-id)
  std::string client_address;  // what clients dial (servers/<id>, MOVED, NOT_PRIMARY)
  std::string peer_listen;     // HOST:PORT; partition P listens on PORT + P (0: ephemeral)
  std::string peer_tls_cert, peer_tls_key, peer_tls_ca;  // as ClusterNodeOptions
  std::string data_dir;                                  // partition P in DATA/partition-<P>/
  Options db_options;
  std::vector<std::pair<std::string, NamespaceOptions>> namespaces;  // created on every replica
  int64_t lease_ttl_s = 2;
  int64_t retain_for_absent_s = 600;
  // How often etcd is read for the map, the primaries, the servers, the namespaces and a running
  // split. 250 ms: a failover shows in CLUSTER_MAP within a quarter second of its leader key, for
  // five small range reads per server per poll.
  int64_t poll_ms = 250;
  // A namespace miss wakes the poll thread at most this often (a client naming a namespace
  // that exists nowhere must not turn into a stream of etcd reads).
  int64_t miss_poll_interval_ms = 200;
  std::function<void(std::string_view)> log;  // notable events; null: stderr
};

// What requests are routed by: the map with primaries and addresses, and the local replicas.
struct ShardRouting {
  proto::SlotMap map;
  std::map<uint32_t, ClusterNode*> local;  // partition id -> this server's replica of it
  // partition id -> the namespaces its local replica had when the snapshot was made
  std::map<uint32_t, std::set<std::string, std::less<>>> namespaces;
  // The names of the cluster's namespace catalog (etcd) at the last poll that read it.
  std::set<std::string, std::less<>> catalog;
  std::string wire;  // the CLUSTER_MAP body of `map`
  // partition id -> the write gate of its local replica (frozen while a split of it runs)
  std::map<uint32_t, std::shared_ptr<WriteGate>> gates;
};

class ShardHost {
 public:
  [[nodiscard]] static Result<std::unique_ptr<ShardHost>> Start(ShardHostOptions options);
  ~ShardHost();
  ShardHost(const ShardHost&) = delete;
  ShardHost& operator=(const ShardHost&) = delete;

  std::shared_ptr<const ShardRouting> routing() const;
  // Admits a write to local partition `p`, routed by `r`: a ticket that keeps it counted in
  // p's WriteGate until released (once the write is answered). Busy while p is frozen for a
  // split; a null ticket when a newer routing was published since `r` (route again). A
  // partition without a local replica gets a ticket that counts nothing.
  Result<std::shared_ptr<void>> Admit(const std::shared_ptr<const ShardRouting>& r, uint32_t p);
  // The CLUSTER_MAP body (ServerConfig::cluster_map): the published copy, never waits for etcd.
  Result<std::string> ClusterMapBody() const { return routing()->wire; }
  // The cluster's namespace catalog (blocking etcd calls: admin thread only).
  ClusterNamespaces& namespaces() { return namespaces_; }
  // A request named a namespace a local replica lacks: wake the poll thread to read the
  // catalog (at most once per miss_poll_interval_ms). Never blocks.
  void NamespaceMiss();
  // Runs `fn` on the poll thread once a poll that started after this call has ended (it read
  // the catalog and applied it), waking the thread as NamespaceMiss does. Never blocks; fn must
  // not block either. Once stopping, fn runs at once (in Stop() for those already waiting,
  // before the replicas stop).
  void AfterNextPoll(std::function<void()> fn);
  // STATS counters: shard_map_version, shard_partitions_local, and every local replica's
  // cluster_* counters as cluster_p<P>_*.
  void AddStats(std::vector<std::pair<std::string, uint64_t>>* out) const;
  void Stop();

 private:
  explicit ShardHost(ShardHostOptions options, std::unique_ptr<EtcdClient> client);
  // Server `server`'s node id in `p`: its position in p.replicas, replicas.size() when it is
  // p's spare, none otherwise.
  static std::optional<uint32_t> NodeIdIn(const proto::PartitionEntry& p, uint32_t server);
  Status StartNode(const proto::PartitionEntry& p, uint32_t node);  // poll thread or Start
  // OK when replica `node` of partition `p` may start here: partitions/<p>/nodes/<node> is
  // absent or names this server's client address. Unavailable (with what it waits for)
  // otherwise.
  Status MayStart(uint32_t p, uint32_t node);
  // Stops and unregisters the replica of `p` and, unless `keep_dir` (a spare that takes a
  // replica's position), renames its directory aside (poll thread).
  void Retire(uint32_t p, bool keep_dir);
  // Writes partitions/<P>/spare-ready ({"server": id, "version": map version}, on the server's
  // lease) for each local spare its primary told it holds every committed frame; deleted when
  // the spare stops. What `tldb cluster move` waits for before it hands the spare a position.
  void MarkSparesReady();
  // Renames DATA/partition-<p>/ to DATA/partition-<p>.moved-v<map_version_>/ (or with a
  // suffix .N when that exists).
  void MoveDirAside(uint32_t p);
  // The routing snapshot of `serving` and nodes_ (less the partitions `without`), published
  // for requests.
  void Publish(proto::SlotMap serving, const std::set<uint32_t>& without = {});
  // A split's part on this server (the class comment), after the routing was published.
  void HandleSplit(const std::optional<SplitState>& split);
  // Writes the frozen positions of `s`'s parent (its serving primary, once drained).
  void PublishFrozen(const SplitState& s, ClusterNode& node);
  // Clones this server's replica of `s`'s parent for the child and acknowledges.
  void Clone(const SplitState& s, ClusterNode& node);
  // DATA/partition-<p>/ from a split's clone, when the map's split of `p` names one here.
  void AdoptClone(uint32_t p);
  // At Start, a clone directory `name` (DATA/partition-<Q>.split-<id>) left by a run that
  // stopped mid-split: tracked when its split still runs (HandleSplit removes it if the split
  // ends without its map), kept when the split's map gave Q a replica here that AdoptClone will
  // start on it, removed otherwise.
  void LeftoverClone(const std::string& name, const std::optional<SplitState>& split);
  // Gives each local replica's store the rule of what it keeps (PartitionOwns at map_), once
  // per map version and replica: after a split, parent and child compact away each other's
  // timelines. Poll thread.
  void SetOwnership();
  // One read of etcd (see the class comment). `starting`: a replica that cannot start is an
  // error (Start fails); later it is logged and retried at the next poll.
  Status Poll(bool starting);
  void ApplyNamespaces();  // also refreshes catalog_names_
  void Run();
  void Log(const std::string& line) const;
  void WakeSoon();  // mu_ held: the next poll at once, or when the rate limit allows
  Status RegisterServer();

  const ShardHostOptions o_;
  const std::unique_ptr<EtcdClient> client_;
  SlotMapStore store_;
  ClusterNamespaces namespaces_;
  std::unique_ptr<LeaseKeeper> keeper_;  // the servers/<id> key's lease; poll thread

  uint64_t map_version_ = 0;           // poll thread
  std::optional<proto::SlotMap> map_;  // poll thread: the map as stored
  std::map<uint32_t, std::unique_ptr<ClusterNode>> nodes_;
  std::map<uint32_t, std::shared_ptr<WriteGate>> gates_;  // poll thread: by partition
  std::map<uint32_t, uint64_t> owned_at_;  // poll thread: map version of each replica's ownership
  std::map<uint32_t, uint32_t> node_ids_;  // poll thread: each running replica's node id
  std::set<uint32_t> spare_ready_;         // poll thread: spares whose spare-ready key is written
  struct CloneMade {
    int64_t id = 0;
    uint32_t child = 0;
    std::string dir;
  };
  std::optional<CloneMade> clone_;  // poll thread: the clone of the running split made here
  std::string split_error_;         // poll thread: the last said
  // Retired replicas, stopped; kept until Stop() so that Db pointers requests took stay valid.
  std::vector<std::unique_ptr<ClusterNode>> retired_;
  std::map<uint32_t, std::string> waiting_;          // poll thread: the last MayStart answer, per P
  std::map<uint32_t, std::string> start_errors_;     // poll thread: the last, per partition
  std::map<std::string, std::string> apply_errors_;  // poll thread: the last, per namespace
  std::set<std::string, std::less<>> catalog_names_;  // poll thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const ShardRouting> routing_;  // guarded by mu_
  bool stopping_ = false;                        // guarded by mu_
  // guarded by mu_: when a miss wants the next poll (INT64_MAX: none), and when the last
  // such early poll began (they are at least miss_poll_interval_ms apart)
  int64_t wake_at_ms_ = INT64_MAX;
  int64_t last_wake_ms_ = 0;
  std::vector<std::function<void()>> after_poll_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace tldb::cluster
