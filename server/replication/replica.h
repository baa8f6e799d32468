// Replica: one replica of a partition (docs/replication.md): its Db, its durable replica state
// (promised epoch, epoch histories) and the protocol that keeps three copies of the log.
//
//   follower   applies frames its primary ships, at the same positions; joins each new primary
//              first (cutting a tail that primary never had); campaigns through the Coordinator
//              when there is no leader key
//   learner    a follower that restarted on an empty disk of a partition that had served: it
//              may have lost promises and frames it acknowledged, so it does not campaign, and
//              its promises and acknowledgements count for nothing until its primary sees it
//              hold every committed frame and tells it to vote (kVoter)
//   candidate  won the leader key (epoch E): gathers promises of E and log ends from a
//              majority, adopts the best log among them (fetching what it lacks), then leads
//   primary    ships every group and roll (LogShipper) and acknowledges it once a majority has
//              it (synced when the frame asks for it); serves clients once its own log is
//              committed on a majority; steps down on a higher epoch, when its leader key is
//              gone, when it has not heard from a majority for majority_timeout_ms, or to hand
//              over to the replica a promote request names, once that one has its whole log
//
// Threads: Receive and Tick are called by one driver thread (the server's replication
// thread, or a simulation), Ship by the Db's group-commit leaders, the client calls by any
// thread. Locking: catalog_mu_ (client catalog changes; taken first, never by the driver),
// mu_ (the protocol state) and db_mu_ (shared: a use of the Db; exclusive: reopening it). The
// driver takes db_mu_ shared under mu_; a client call holds db_mu_ shared while the Db may call
// Ship, which takes mu_ (and waits on cv_ with mu_ released). Both orders occur, but only with
// db_mu_ shared, and it is taken exclusively only by the driver thread itself (ReopenDb,
// InstallSnapshot: never while it holds mu_) and by Stop once the driver has stopped; so no
// exclusive request can be queued while the driver holds mu_ and waits for db_mu_, and no cycle
// forms. (ThreadSanitizer reports the two orders as a potential inversion; it does not know that.)
// A closing Db waits only for Ship calls, which cv_ releases when the role changes. Client calls
// check the role under mu_, release it, then use the Db under db_mu_. PeerSnapshots' worker calls
// Snapshot, which takes db_mu_ shared and then, after releasing it, mu_.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "replication/catalog_record.h"
#include "replication/coordinator.h"
#include "replication/peer_message.h"
#include "replication/peer_snapshots.h"
#include "replication/replica_state_file.h"
#include "replication/snapshot_installer.h"
#include "replication/transport.h"
#include "tldb/db.h"

namespace tldb::repl {

struct ReplicaConfig {
  // This replica's index: 0 .. nodes-1 for a voter's position, or `nodes` for the partition's
  // spare: a replica a move adds before it removes another (docs/cluster.md "Moving a
  // replica"). A spare follows like a learner and never counts: its promises and
  // acknowledgements count for nothing, it never campaigns, a switchover never names it, and it
  // is never told to vote. Its primary tells it once it holds every committed frame
  // (ReplicaStatus::spare_caught_up); its directory then opens as a voter's position, as a
  // learner, once the move hands it that position.
  uint32_t node = 0;
  uint32_t nodes = 3;  // voters of the partition
  std::string dir;     // data directory
  Options db_options;  // file_system may be set (simulation); follower/log_shipper are set here
  // The namespaces every replica has from the start, created at open in this order with these
  // options on every replica (so that their ids, which segment headers carry, agree), followed
  // by `__catalog`. Others are created through the replicated catalog (CreateNamespace).
  std::vector<std::pair<std::string, NamespaceOptions>> namespaces;
  // Time, in ms on a monotonic clock (a simulated one in tests). Called from the driver and
  // from the thread that takes snapshots for followers: it must be thread-safe.
  std::function<int64_t()> now_ms;
  // A primary sends an (empty) Append this often, so followers learn it and it hears them.
  int64_t heartbeat_ms = 50;
  // Frames not acknowledged within this are sent again.
  int64_t retry_ms = 200;
  // A primary that has not heard from a majority for this long resigns. Bounded below by
  // a few heartbeats; above, it is how long a cut-off primary holds appends before failover.
  int64_t majority_timeout_ms = 2000;
  // A candidate that has not led within this gives up its leader key.
  int64_t election_timeout_ms = 2000;
  // A follower that sees no leader key waits up to this (random) before campaigning, so that
  // replicas rarely campaign at once.
  int64_t election_jitter_ms = 300;
  // Bytes of frames sent to one follower per message, and messages in flight per namespace.
  uint64_t frame_batch_bytes_max = 256 << 10;
  uint32_t messages_in_flight_max = 8;
  // A primary keeps the segments a follower still needs as written (not compacted, not dropped
  // by TTL) while that follower is joined, or was heard from within this long; one absent
  // longer needs a snapshot to return. 10 minutes: a restart or a short outage.
  int64_t retain_for_absent_ms = 600'000;
  uint64_t seed = 1;
  // Which run of replica `node` this is: a number no other run of this position uses (a
  // server picks it at random when it starts the replica and registers it with its addresses
  // in etcd; 0: none). Every message carries it.
  uint64_t incarnation = 0;
  // The incarnation the coordinator last named for replica `n` (its registration in etcd, kept
  // when the registration goes; 0: none known). Messages from `n` that carry another are
  // dropped: a replica moved to another server (docs/cluster.md "Moving a replica") that is
  // cut off from etcd, and so does not know it was moved, is then not counted in place of the
  // replica that now holds its position. Unset: every message is taken. Called under the
  // replica's lock, so it must not call into the replica; thread-safe.
  std::function<uint64_t(uint32_t n)> peer_incarnation;
  // Called (under the replica's lock, like peer_incarnation) with `n` when a message from `n`
  // was dropped for its incarnation: what the coordinator named may be old (`n` restarted),
  // or `n` now runs elsewhere; a server reads the registrations again soon. May be unset.
  std::function<void(uint32_t n)> on_other_incarnation;
  // Tests (docs/replication.md "Kill points"): called at each of kReplicaKillPoints as this
  // replica reaches it; true means the process dies right there: from then on the replica
  // sends and handles nothing (the test makes its disk refuse every write and crashes it).
  std::function<bool(std::string_view)> kill_point;
};

// Every replication kill point, in the order a failover, a rejoin, a learner, a catalog change
// and a rebuild reach them (tests/replication_killpoint_test.cc reaches and kills at each).
inline constexpr std::string_view kReplicaKillPoints[] = {
    "replica.after_membership",  // DecideMembership stored REPLICA
    "replica.after_promise",     // a promise stored, not yet answered
    "replica.after_adopt_cut",   // a candidate cut its log to the best log's common prefix
    "replica.after_lead",        // a new primary stored its epoch in every history
    "replica.after_apply",       // a follower wrote frames, not yet acknowledged
    "replica.after_join_cut",    // a follower cut the tail its new primary never had
    "replica.after_join",        // ... and stored the primary's histories
    "replica.after_voter",       // a learner stored that it votes
    "replica.after_catalog",     // a catalog record's namespaces created, its version not stored
    "rebuild.after_file",        // a snapshot file received whole
    "rebuild.after_install",     // the snapshot installed, the Db not reopened yet
    "rebuild.after_state",       // the snapshot's REPLICA stored: a learner again
};

enum class Role : uint8_t { kFollower, kCandidate, kPrimary };

struct PeerLag {
  uint32_t node = 0;
  bool joined = false;
  bool learner = false;
  // What of the primary's log the follower has not acknowledged as written, summed over the
  // namespaces: bytes within the same segment, and for a follower in an earlier segment, the
  // bytes of the primary's active segment plus the number of whole segments between.
  uint64_t behind_bytes = 0;
  uint64_t behind_segments = 0;
  // How long since the follower last had everything the primary had (0: it has it now).
  int64_t lag_ms = 0;
};

struct ReplicaStatus {
  Role role = Role::kFollower;
  uint64_t epoch = 0;  // promised (follower) or led (candidate, primary)
  Membership membership = Membership::kVoter;
  bool serving = false;                 // a primary whose log is committed on a majority
  std::optional<uint32_t> primary;      // the primary this replica knows of
  uint64_t failovers_seen = 0;          // epochs this replica promised after its first
  uint64_t stale_messages_dropped = 0;  // from a run of a position etcd no longer names
  bool etcd_ok = false;                 // the last call to the coordinator succeeded
  std::vector<PeerLag> peers;           // primary: each follower
  bool rebuilding = false;              // follower: receiving a snapshot from its primary
  uint64_t rebuild_bytes = 0;           // of the snapshot being received, or of the last one
  uint64_t rebuilds = 0;                // snapshots installed since this replica started
  uint64_t catalog_seq = 0;             // the catalog version applied (ReplicaState::catalog_seq)
  bool spare = false;            // this replica is the partition's spare (ReplicaConfig::node)
  bool spare_caught_up = false;  // spare: its primary saw it hold every committed frame
};

class Replica : public LogShipper {
 public:
  static Result<std::unique_ptr<Replica>> Open(ReplicaConfig config, Transport* transport,
                                               Coordinator* coordinator);
  ~Replica() override;
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Driver thread.
  void Receive(std::string_view bytes);
  void Tick();

  // LogShipper (group-commit leaders): returns once `frame` is committed on a majority.
  Status Ship(std::string_view ns, const LogFrame& frame) override;

  // Clients reach the Db through a ReplicatedDb (writes and reads on the serving primary only).
  // Direct access to the Db under the replica's lock (checks, tests): fn(db) or Closed.
  Status WithDb(const std::function<Status(Db&)>& fn);

  // The serving primary's snapshot (an online backup) that can also seed a replica
  // (docs/replication.md "Seeding a replica from a backup"): Db::Snapshot into `dir`, plus a
  // REPLICA file there (listed in the result's files) that makes a replica opened on it a
  // learner whose epoch histories end at the snapshot's positions. Its bytes are published,
  // so committed, bytes only. The primary then keeps the log from those positions as written
  // for retain_for_absent_ms, so that the seeded replica catches up from there.
  // NotPrimary on any other replica.
  Result<SnapshotInfo> Snapshot(const std::string& dir, const SnapshotOptions& options);
  // A split's clone (docs/cluster.md "Splitting a partition"), on any replica whose log holds
  // the whole frozen log of its partition: Db::Snapshot into `dir` plus a REPLICA file that
  // makes a replica opened on it a voter with this replica's promised epoch, catalog version
  // and epoch histories cut at the snapshot's ends. The caller checks the ends are the frozen
  // positions (every replica's clone then holds the same log). Unlike Snapshot it does not
  // need the serving primary and holds no log for a follower. On a follower, the snapshot's
  // sync of each namespace is local (Ship answers its empty sync frame OK while cloning_).
  Result<SnapshotInfo> CloneForSplit(const std::string& dir);

  // The replicated catalog (docs/replication.md "Catalog"), on the serving primary only
  // (NotPrimary elsewhere): the whole new catalog is appended to `__catalog` and committed on
  // a majority, then applied here; followers apply it once they learn it is committed. Like
  // Db's: creating an existing namespace with equal options is OK, with others AlreadyExists.
  // A call that fails after the record was shipped may still take effect (a retry is safe).
  Status CreateNamespace(std::string_view name, const NamespaceOptions& options);
  Status SetNamespaceOptions(std::string_view name, const NamespaceOptions& options);

  // Which timelines this replica's store keeps (Db::SetTimelineOwnership, docs/design.md
  // "Ownership"): set on the Db now and on every Db this replica opens later (after a cut or a
  // rebuild), since a Db does not persist it. Compaction runs on each replica by itself and its
  // outputs are never shipped, so replicas may differ in what they have dropped so far.
  void SetTimelineOwnership(TimelineOwnership owned);

  ReplicaStatus status() const;
  // OK on a serving primary; NotPrimary (naming the primary known, as a node index) otherwise.
  Status CheckServing() const;
  uint32_t node() const { return cfg_.node; }

  // Stops taking part: no message is handled, waiting Ship calls fail, the Db closes. A
  // simulated crash makes the file system fail first, so nothing more reaches the disk.
  void Stop();

 private:
  struct PeerLog {
    LogEnds acked;             // what the peer last reported
    LogPosition next;          // where the next frame to it starts
    uint32_t in_flight = 0;    // Append messages not yet acknowledged
    int64_t progress_ms = 0;   // when acked.written last moved (or frames were resent)
    int64_t caught_up_ms = 0;  // when it last had everything visible here
  };
  struct Peer {
    bool joined = false;           // in this epoch (primary's view)
    bool learner = true;           // as its last Join or Ack said; counts for nothing while true
    int64_t voter_sent_ms = 0;     // when it was last told to vote
    int64_t snapshot_sent_ms = 0;  // when it was last told that it needs a snapshot
    int64_t heard_ms = 0;          // last message from it
    std::map<std::string, PeerLog, std::less<>> logs;
  };

  Replica(ReplicaConfig config, Transport* transport, Coordinator* coordinator);
  Status OpenDb();
  // Creates the namespaces of cfg_.namespaces and `__catalog` in the open Db (no-ops when they
  // exist): at open and after a rebuild.
  Status CreateFixedNamespaces();
  // The Db's options: a follower's (SetFollower changes that), shipping through this replica.
  Options DbOptions();

  // Closes and reopens the Db as a follower, first cutting each namespace in `cuts`.
  Status ReopenDb(const std::map<std::string, LogPosition>& cuts);

  // ---- under mu_ (l is mu_'s lock, released only around ReopenDb) ----
  void Handle(std::unique_lock<std::mutex>& l, const PeerMessage& m);
  void OnAppend(std::unique_lock<std::mutex>& l, const PeerMessage& m);
  void OnJoinReply(std::unique_lock<std::mutex>& l, const PeerMessage& m);
  void OnPrepare(std::unique_lock<std::mutex>& l, const PeerMessage& m);
  void OnPrepareOk(std::unique_lock<std::mutex>& l, const PeerMessage& m);
  void OnJoin(const PeerMessage& m);
  void OnAck(const PeerMessage& m);
  void OnFetch(const PeerMessage& m);
  void OnFetchReply(std::unique_lock<std::mutex>& l, const PeerMessage& m);
  void OnVoter(const PeerMessage& m);
  // Rebuild from a snapshot (docs/replication.md "Automatic rebuild").
  void OnSnapshotNeeded(const PeerMessage& m);
  void OnSnapshotOpen(const PeerMessage& m);
  void OnSnapshotManifest(std::unique_lock<std::mutex>& l, const PeerMessage& m);
  void OnSnapshotRead(const PeerMessage& m);
  void OnSnapshotChunk(std::unique_lock<std::mutex>& l, const PeerMessage& m);
  void RequestSnapshotPiece();
  // Every file received: closes the Db, installs the snapshot, reopens, and joins again as a
  // learner whose log ends where the snapshot does.
  void InstallSnapshot(std::unique_lock<std::mutex>& l);
  void AbortRebuild(const std::string& why);
  // Follower whose scrub quarantined a sealed segment: rebuilds from `leader`'s snapshot.
  void CureQuarantine(uint32_t leader);
  // Sealed segments the scrub quarantined here (DbStats). Caller does not hold db_mu_.
  uint64_t Quarantined() const;
  // Follower without state of its own: asks the Coordinator whether the partition ever served
  // and stores the answer (learner if it did). True once decided.
  bool DecideMembership();
  // A spare never votes, whatever its stored membership.
  bool Votes() const { return state_.membership == Membership::kVoter && !Spare(); }
  bool Spare() const { return cfg_.node >= cfg_.nodes; }
  // Whether a message of replica `from` may count (a spare's never does, whatever it says).
  bool Counts(const PeerMessage& m) const { return !m.learner && m.from < cfg_.nodes; }
  // Client thread: reads the newest catalog, lets `change` edit it (false: nothing to change),
  // commits the result as a record and applies it.
  using CatalogChange = std::function<Result<bool>(std::vector<CatalogRecordEntry>*)>;
  Status ChangeCatalog(const CatalogChange& change);
  // The catalog as of the newest record in `__catalog` (the Db's own catalog when there is
  // none yet). Caller holds db_mu_ shared.
  Result<std::vector<CatalogRecordEntry>> NewestCatalog() const;
  // Makes this replica's catalog that of record `seq` of `__catalog`, which the caller knows is
  // committed: creates the namespaces it lacks (each must get the record's id), sets changed
  // options, starts the new namespaces' epoch histories, and stores catalog_seq. No-op when
  // seq <= catalog_seq (records are applied in order; each holds the whole catalog). Caller
  // holds mu_ and db_mu_ shared.
  Status ApplyCatalog(uint64_t seq);
  // The same, reporting a failure once per distinct error (the driver retries every tick).
  void ApplyCatalogOrReport(uint64_t seq);
  // ApplyCatalogOrReport given the catalog log's last SeqId as read (`last`, or the error of
  // reading it): nothing while the record has not reached this log yet.
  void ApplyCatalogIfHere(uint64_t seq, const Result<std::vector<Seq>>& last);
  // Primary: applies the newest record of its (committed) log. True once applied. Caller holds
  // mu_ and db_mu_ shared.
  bool ApplyNewestCatalog();
  // Every namespace the Db has, by name. Caller holds db_mu_ shared.
  std::vector<std::string> Namespaces() const;
  // Primary: tells a learner that holds every committed frame to vote.
  void MaybePromote(uint32_t peer);
  // Stores `next` (DIR/REPLICA) and only then makes it the replica's state.
  Status Persist(ReplicaState next);
  // Durably promises `epoch` (and stops leading a lower one).
  Status Promise(std::unique_lock<std::mutex>& l, uint64_t epoch);
  void StepDown(std::unique_lock<std::mutex>& l, const std::string& why);
  void Campaign(std::unique_lock<std::mutex>& l);
  // Candidate with a majority of promises: cut, fetch, then lead. When a replica of the
  // majority applied a newer catalog than this one, `__catalog` is adopted first and that
  // catalog applied, so that every namespace with committed frames exists here before the
  // others are adopted.
  void Adopt(std::unique_lock<std::mutex>& l);
  // Every namespace being adopted is complete: apply the catalog and adopt the rest, or lead.
  void Adopted(std::unique_lock<std::mutex>& l);
  void FetchNext(const std::string& ns);
  void BecomePrimary();
  void PumpAll();
  // Primary: tells the Db which segments followers still need as written, and returns that
  // floor per namespace (as `cut`), which heartbeats carry so that followers keep them too.
  std::vector<NsLog> HoldLogForFollowers();
  void Pump(uint32_t peer, const std::string& ns);
  bool Committed(const std::string& ns, const LogFrame& f) const;
  void UpdateServing();
  // Primary: a promote request for another replica; hands over (resigns) once it is caught up.
  // True when this replica stepped down.
  bool HandOver(std::unique_lock<std::mutex>& l, uint32_t target);
  // Every namespace's ends, and its history unless `histories` is false (an Ack).
  std::vector<NsLog> MyLogs(bool histories = true) const;
  std::vector<NsLog> HistoryOf(const std::string& ns) const;  // ns's history (none: empty)
  LogEnds EndsOf(const std::string& ns) const;
  void Send(uint32_t to, PeerMessage m);
  size_t Majority() const { return cfg_.nodes / 2 + 1; }
  // Voters and the spare: the replicas a primary sends to.
  uint32_t Members() const { return cfg_.nodes + 1; }
  int64_t Now() const { return cfg_.now_ms(); }
  void Event(const std::string& what) const;
  // A kill point: when the test says so, this replica is dead from here on.
  void KillPoint(std::string_view name);

  const ReplicaConfig cfg_;
  Transport* const transport_;
  Coordinator* const coordinator_;

  // Serialises client catalog changes (read the newest, commit the next, apply it). Before
  // db_mu_ and mu_; the driver never takes it.
  std::mutex catalog_mu_;
  mutable std::shared_mutex db_mu_;  // before mu_
  std::unique_ptr<Db> db_;
  // SetTimelineOwnership's last callback, for every Db opened later. After db_mu_ (taken with it
  // held, shared or exclusive), before nothing.
  std::mutex owned_mu_;
  TimelineOwnership owned_;
  // Gives a Db just opened the ownership set last. Caller holds db_mu_ exclusively.
  void ApplyOwnership();

  mutable std::mutex mu_;
  std::condition_variable cv_;  // Ship waiters: a commit or a role change
  bool stopped_ = false;
  std::atomic<bool> dead_{false};  // reached a kill point the test armed
  ReplicaState state_;             // durable
  Role role_ = Role::kFollower;
  uint64_t epoch_ = 0;         // candidate/primary: the epoch led
  uint64_t joined_epoch_ = 0;  // follower: the epoch whose primary it joined
  std::optional<uint32_t> primary_;
  uint64_t failovers_seen_ = 0;
  uint64_t stale_incarnations_dropped_ = 0;
  Status::Code keepalive_code_ =
      Status::Code::kOk;  // of the last KeepAlive (Tick logs changes)  // messages of a run the
                          // coordinator no longer names
  bool spare_caught_up_ = false;  // spare: told that it holds every committed frame
  std::mt19937_64 rng_;
  int64_t election_at_ms_ = 0;  // follower: campaign at this time if there is still no leader
  int64_t candidate_since_ms_ = 0, heartbeat_at_ms_ = 0, coordinator_check_ms_ = 0;
  std::map<uint32_t, Peer> peers_;
  // Candidate.
  struct Promised {
    std::vector<NsLog> logs;   // every namespace's history and ends
    uint64_t catalog_seq = 0;  // the catalog version it applied
  };
  std::map<uint32_t, Promised> promises_;  // node → its promise of epoch_
  uint64_t adopting_catalog_seq_ = 0;      // adopting `__catalog` first, to apply this record
  std::map<std::string, std::pair<uint32_t, LogPosition>, std::less<>>
      adopting_;  // ns → (from, end)
  // Primary.
  std::map<std::string, const LogFrame*, std::less<>> in_flight_;  // frames Ship waits on
  std::map<std::string, LogPosition, std::less<>> epoch_start_;
  bool serving_ = false;
  bool etcd_ok_ = false;
  bool initialized_marked_ = false;  // this process marked the partition initialized
  std::string catalog_error_;        // the last failure to apply the catalog (reported once)
  // Primary: segments kept as written for replicas seeded from a snapshot: ns → (first segment
  // kept, until when).
  std::map<std::string, std::pair<uint64_t, int64_t>, std::less<>> snapshot_holds_;
  std::unique_ptr<PeerSnapshots> peer_snapshots_;  // primary: snapshots taken for followers
  // Follower: a rebuild under way, from which primary, in which epoch, last asked when.
  std::unique_ptr<SnapshotInstaller> rebuild_;
  uint32_t rebuild_from_ = 0;
  uint64_t rebuild_epoch_ = 0;
  int64_t rebuild_sent_ms_ = 0;
  uint64_t rebuilds_ = 0;
  uint64_t rebuild_bytes_last_ = 0;
  // A planned switchover (Coordinator::PromoteTarget): this primary stopped serving and hands
  // over once the target has its whole log.
  bool handing_over_ = false;
  // A split's clone runs on this replica (CloneForSplit): a follower's Db::Snapshot syncs each
  // namespace, which asks Ship for an empty sync frame; it is local only then (mu_).
  bool cloning_ = false;
  int64_t handover_since_ms_ = 0;
  // Primary with a quarantined segment of its own: the replica it hands over to (then it
  // rebuilds from that one's snapshot as a follower).
  std::optional<uint32_t> cure_target_;
  int64_t quarantine_check_ms_ = 0;
};

}  // namespace tldb::repl
