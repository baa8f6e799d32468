// Controller: the sharded cluster's controller (docs/cluster.md "The controller"). Every sharded
// tldb-server runs one; one at a time acts, elected through etcd:
//   - election: the key <prefix>controller ({"server": ID, "client": "HOST:PORT"}) is created
//     with CreateIfAbsent on a lease of the controller's own (TTL lease_ttl_s, kept by a
//     LeaseKeeper). The creator is the controller while the key exists with the create revision
//     it created (checked every round) and its lease is kept; the others try to create the key
//     every round, so one takes over within a round of the key going (the holder's lease expired
//     or was revoked, or it resigned at Stop, deleting the key).
//   - every round (round_ms), the controller reads the map, the primaries and servers/, and
//     measures absence itself: a server listed in the map without a servers/<id> key is absent
//     since the first round that saw it so (steady clock). A new controller starts every clock
//     at takeover: it trusts no other process's clock, so a replacement comes at least
//     replace_after_ms after the takeover.
//   - replacement (ControllerPlan::NextReplacement): the next replica of a server absent for
//     replace_after_ms moves to the least-loaded registered server, by ReplicaMove (the library
//     of `tldb cluster move`), one move at a time, and only while the partition keeps a
//     majority of registered voters (a replica votes when its server's STATS say so:
//     cluster_p<P>_membership 0; `votes` replaces that check in tests).
//   - a move left in the map (a partition's spare, its command gone or timed out) and seen so
//     for replace_after_ms is handled before any replacement: finished by ReplicaMove when the
//     spare's server is registered, cancelled (ReplicaMove::Cancel) when it is not.
//   - primaries: at most every balance_interval_ms (the first balance_interval_ms after
//     takeover; 0: never), when ControllerPlan::PrimariesUneven, PrimaryBalance::Run (the library
//     of `tldb cluster rebalance`).
//   - what it does is written to <prefix>controller-status (JSON, on its lease) when it changes:
//     the server, the last action, the pending and blocked replacements; each decision and each
//     distinct reason for not acting is logged once.
//
// Contract:
// - Start() returns once the thread runs (InvalidArgument for bad options); etcd being down is
//   no error: the thread retries every round and logs the failure once.
// - Stop() (also the destructor) ends the thread after the round in progress (a move in progress
//   runs to its end, at most its timeouts), and, when controller, deletes the key (only its own
//   incarnation) and revokes the lease, so another server takes over at once.
// - Blocking etcd and STATS calls on its own thread only. Accessors are atomics: any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/controller_plan.h"
#include "cluster/etcd_client.h"
#include "cluster/lease_keeper.h"
#include "cluster/replica_move.h"
#include "cluster/slot_map_store.h"

namespace tldb::cluster {

struct ControllerOptions {
  std::vector<std::string> etcd_endpoints;
  std::string etcd_prefix = "/tldb/";
  uint32_t server = 0;         // this server's id (the key's value)
  std::string client_address;  // this server's client address (the key's value)
  std::string stats_token;     // the SECRET sent to other servers for STATS ("": none)
  int64_t lease_ttl_s = 2;     // the election key's lease: a dead controller's key goes this late
  // How often the controller reads etcd and decides; a follower tries to take over as often.
  // 1 s: three small range reads a second, and a takeover within a second of the key going.
  int64_t round_ms = 1'000;
  // A server gone this long has its replicas moved (tldb-server --controller-replace-after-ms).
  // 60 s: a restart or a short network cut does not cost a full copy of its replicas. 0: never.
  int64_t replace_after_ms = 60'000;
  // Primaries are evened out at most this often (tldb-server
  // --controller-balance-interval-ms): 30 s leaves a failover and a restarted server's return
  // time to settle before a handover is asked for. 0: never.
  int64_t balance_interval_ms = 30'000;
  // Bound on each wait of a move and of a handover (ReplicaMove, PrimaryBalance).
  int64_t move_timeout_ms = 30'000;
  // Whether server `server` (at `address`)'s replica of `partition` votes. Null: its STATS.
  std::function<bool(uint32_t partition, uint32_t server, const std::string& address)> votes;
  std::function<void(std::string_view)> log;  // decisions; null: stderr
};

class Controller {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Controller>> Start(ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;
  void Stop();

  static std::string Key(const std::string& prefix) { return prefix + "controller"; }
  static std::string StatusKey(const std::string& prefix) { return prefix + "controller-status"; }

  bool active() const { return active_.load(); }  // this server is the controller now
  int64_t lease_id() const { return lease_id_.load(); }
  uint64_t moves() const { return moves_.load(); }          // replicas moved by this controller
  uint64_t handovers() const { return handovers_.load(); }  // primaries moved by rebalancing
  uint64_t takeovers() const { return takeovers_.load(); }  // times it became the controller
  // STATS counters (metrics tldb_shard_controller_*): shard_controller_active,
  // shard_controller_takeovers, shard_controller_moves, shard_controller_handovers.
  void AddStats(std::vector<std::pair<std::string, uint64_t>>* out) const;

 private:
  Controller(ControllerOptions options, std::unique_ptr<EtcdClient> client);
  void Run();
  // The lease, the key: OK with active_ set or cleared.
  Status Campaign();
  void StepDown(const std::string& why);
  // A move of `partition`'s replica from server `from` to `to`, with this controller's bounds.
  ReplicaMoveRequest MoveRequest(uint32_t partition, uint32_t from, uint32_t to) const;
  // One round of decisions (controller only).
  Status Act();
  bool Votes(uint32_t partition, uint32_t server, const std::string& address);
  void Note(const std::string& line);  // log once per distinct line since the last change
  void Log(const std::string& line) const;
  void PublishStatus(const std::vector<std::string>& pending,
                     const std::vector<std::string>& blocked);

  const ControllerOptions o_;
  const std::unique_ptr<EtcdClient> client_;
  SlotMapStore store_;

  // Run's thread only.
  std::unique_ptr<LeaseKeeper> keeper_;
  int64_t epoch_ = 0;                         // the key's create revision while controller
  std::string holder_;                        // the holder's value last seen (followers)
  std::map<uint32_t, int64_t> absent_since_;  // server -> first round that saw it absent
  // partition -> (its spare, since when this controller has seen it so)
  std::map<uint32_t, std::pair<uint32_t, int64_t>> spare_since_;
  int64_t next_balance_ms_ = 0;
  std::string last_action_ = "none";
  std::string published_;                                      // the status value last written
  std::set<std::string> noted_;                                // reasons logged and still current
  std::map<uint32_t, std::map<std::string, uint64_t>> stats_;  // per round: server -> STATS

  std::atomic<bool> active_{false};
  std::atomic<int64_t> lease_id_{0};
  std::atomic<uint64_t> moves_{0}, handovers_{0}, takeovers_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace tldb::cluster
