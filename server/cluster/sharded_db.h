// ShardedDb: the Db a tldb-server of a sharded cluster serves (docs/cluster.md "Servers"): every
// call that names a timeline is routed by the timeline's slot at the ShardHost's current map
// version, to this server's replica of the slot's partition (a ReplicatedDb, which answers
// NOT_PRIMARY itself when it is not the serving primary), or answered
// Moved("slot=S version=V partition=P address=HOST:PORT") when this server has no replica of it.
//
// Contract:
// - Calls naming several timelines (AppendFanout, LastSeq) are served only when every
//   timeline's partition has a replica here; otherwise Moved for the first that has not, and
//   nothing is written or read. LastSeq is split by partition and put back in request order. A
//   fan-out whose timelines span partitions goes to IntentFanout (an intent record on the
//   home partition, cluster/intent_fanout.h): Moved when the home is not served here.
// - Keys of the system namespace __intents "<slot>|ns|client_msg_id" route by that slot.
// - Timelines of the system namespace __cursors are keys "device|ns|timeline"
//   (server/src/cursor_handler.cc): they are routed by the part after the second '|'
//   (CursorRoutingTimeline), so a cursor lives with its timeline.
// - Namespaces are cluster-wide: CreateNamespace/SetNamespaceOptions write the etcd catalog
//   (ClusterNamespaces) and then apply to every local partition whose replica is the serving
//   primary; the others follow within the ShardHost's poll. A write (AppendAsync,
//   AppendFanoutAsync, MutateAsync) naming a namespace the partition's replica did not have at
//   the last poll waits for the next poll (ShardHost::AfterNextPoll: it reads the catalog and
//   applies it, woken early at most every 200 ms), and for more polls (AfterNamespacePoll, up
//   to 5 s) while the catalog has the namespace but the replica, not yet the serving primary at
//   a poll, has not applied it; it is then submitted once, and the engine answers NotFound if
//   the namespace is still missing. Any other call answered NotFound for a
//   missing namespace wakes the poll (rate-limited, never blocking) and returns the NotFound:
//   a retry a moment later finds the namespace.
//   ListNamespaces/DescribeNamespace answer from a local replica (the serving primary's first).
// - Every write enters its partition's WriteGate (ShardHost::Admit) at the newest routing and
//   leaves it when answered: while a split freezes the partition it is answered Busy (the
//   client retries), and a routing published meanwhile makes it route again.
// - No call on the request path talks to etcd; CreateNamespace and SetNamespaceOptions do
//   (the server runs them on its admin thread).
// - Replication internals (LogEnd, ApplyFrame, ReadFrames, SetFollower, RetainLogFrom) and
//   Snapshot are NotSupported (the setters do nothing): they belong to one partition. So does
//   SetTimelineOwnership (nothing here): each partition's ReplicatedDb takes its own. Compact and
//   Sync run on every local replica; Stats sums them. Close stops the intent threads (the ShardHost
//   owns the replicas).
// - Thread-safe; the ShardHost must outlive it.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "cluster/intent_fanout.h"
#include "cluster/shard_host.h"
#include "tldb/db.h"

namespace tldb::cluster {

// The timeline whose slot a key of namespace `ns` takes: for "__cursors", the part of
// "device|ns|timeline" after the second '|' (the whole key when it has fewer); else `timeline`.
// A cursor of a timeline whose key was too long (stored as "device|ns|#<32 hex>") routes by
// that hash, which need not be its timeline's slot.
std::string_view CursorRoutingTimeline(std::string_view ns, std::string_view timeline);
// The slot a key of namespace `ns` routes by: in __intents an intent key's own slot
// (IntentSlot), in __cursors its timeline's (CursorRoutingTimeline), else SlotOf(timeline).
// Requests are routed by it and a partition's store keeps timelines by it (PartitionOwns).
uint16_t RoutingSlot(std::string_view ns, std::string_view timeline);
// Whether partition `p`'s store keeps (ns, timeline) under `map` (docs/cluster.md "Splitting a
// partition"): a timeline whose RoutingSlot `map` gives to `p`, and every key of the internal
// namespaces that each partition holds for itself (__catalog, the other "__" namespaces but
// __intents and __cursors, and the intent journal kJournalTimeline). What a split's parent
// and child no longer own is dropped by their compaction (Db::SetTimelineOwnership).
bool PartitionOwns(const proto::SlotMap& map, uint32_t p, std::string_view ns,
                   std::string_view timeline);

class ShardedDb : public Db {
 public:
  explicit ShardedDb(ShardHost& host, IntentFanoutOptions intents = {})
      : host_(host), intents_(host, intents) {}

  Status CreateNamespace(std::string_view name, const NamespaceOptions& options) override;
  Result<std::vector<NamespaceInfo>> ListNamespaces() override;
  Result<NamespaceInfo> DescribeNamespace(std::string_view name) override;
  Result<AppendResult> Append(std::string_view ns, std::string_view timeline,
                              std::string_view payload, const AppendOptions& options) override;
  void AppendAsync(std::string_view ns, std::string_view timeline, std::string_view payload,
                   const AppendOptions& options, AppendCallback done) override;
  Result<std::vector<AppendResult>> AppendFanout(std::string_view ns,
                                                 std::span<const std::string_view> timelines,
                                                 std::string_view payload,
                                                 const AppendOptions& options) override;
  void AppendFanoutAsync(std::string_view ns, std::span<const std::string_view> timelines,
                         std::string_view payload, const AppendOptions& options,
                         FanoutCallback done) override;
  Result<AppendResult> Import(std::string_view ns, std::string_view timeline, const Message& m,
                              Durability durability) override;
  Result<MutationResult> Mutate(std::string_view ns, const Mutation& m) override;
  void MutateAsync(std::string_view ns, const Mutation& m, MutationCallback done) override;
  Status SetNamespaceOptions(std::string_view ns, const NamespaceOptions& options) override;
  Result<CompactionProgress> Compact(std::string_view ns, const CompactOptions& o) override;
  Result<Message> Get(std::string_view ns, std::string_view timeline, Seq seq) override;
  Result<std::vector<Message>> Scan(std::string_view ns, std::string_view timeline,
                                    const ScanOptions& options) override;
  Result<std::vector<Seq>> LastSeq(std::string_view ns,
                                   std::span<const std::string_view> timelines) override;
  Result<LogEnds> LogEnd(std::string_view ns) override;
  Status ApplyFrame(std::string_view ns, const LogFrame& frame) override;
  Result<std::vector<LogFrame>> ReadFrames(std::string_view ns, LogPosition from,
                                           uint64_t bytes_max) override;
  void SetFollower(bool follower) override;
  void RetainLogFrom(std::string_view ns, uint64_t segment) override;
  void SetTimelineOwnership(TimelineOwnership owned) override;
  Result<SnapshotInfo> Snapshot(const std::string& target_dir,
                                const SnapshotOptions& options) override;
  Status Sync() override;
  DbStats Stats() override;
  Status Close() override;

 private:
  struct Target {
    Db* db = nullptr;
    uint32_t partition = 0;
  };
  // A write admitted to one partition: the routing it was routed by, the partition (local) and
  // the ticket that keeps it counted in the partition's WriteGate until released.
  struct Admitted {
    std::shared_ptr<const ShardRouting> r;
    uint32_t partition = 0;
    std::shared_ptr<void> ticket;
    Db* db() const { return r->local.at(partition)->db(); }
  };
  // Routes by `partition_of` (Moved, or the local partition) at the newest routing and admits
  // the write (ShardHost::Admit: Busy while frozen), routing again when the routing changed.
  Result<Admitted> Admit(const std::function<Result<uint32_t>(const ShardRouting&)>& partition_of);
  Result<Admitted> AdmitTimeline(std::string_view ns, std::string_view timeline);
  // The fan-out's one partition (Busy when the newest map spreads it over several).
  Result<Admitted> AdmitFanout(std::string_view ns, std::span<const std::string_view> timelines);
  // `done` that releases `ticket` before it runs.
  template <typename Done>
  static auto Holding(std::shared_ptr<void> ticket, Done done) {
    auto held = std::make_shared<std::shared_ptr<void>>(std::move(ticket));
    return [held = std::move(held), done = std::move(done)](auto result) {
      held->reset();
      done(std::move(result));
    };
  }
  // The local replica serving `timeline` of `ns`, or Moved.
  static Result<Target> Route(const ShardRouting& r, std::string_view ns,
                              std::string_view timeline);
  // All of `timelines` by partition (indexes into timelines), or Moved for the first not here.
  static Result<std::map<uint32_t, std::vector<size_t>>> RouteAll(
      const ShardRouting& r, std::string_view ns, std::span<const std::string_view> timelines);
  // Notes a namespace miss in `s` (ShardHost::NamespaceMiss) and returns it.
  Status Noted(Status s);
  // Runs `fn` on the poll thread after the next poll; while the cluster catalog has `ns` but the
  // local replica of `timeline`'s partition has not applied it (it was not yet the serving
  // primary at that poll), after the one after, up to kNamespacePollsMax polls (a namespace not
  // in the catalog is not waited for). fn then submits the write, and the engine answers.
  void AfterNamespacePoll(std::string ns, std::string timeline, std::function<void()> fn,
                          int polls_left = kNamespacePollsMax);
  // 20 polls of 250 ms: a partition whose primary was just elected applies the catalog at its
  // first poll as the serving primary; 5 s covers an election and a slow poll.
  static constexpr int kNamespacePollsMax = 20;
  template <typename T>
  Result<T> Noted(Result<T> r) {
    if (!r.ok()) (void)Noted(r.status());
    return r;
  }
  // Whether the routing snapshot saw namespace `ns` on the local replica of `partition`.
  static bool Known(const ShardRouting& r, uint32_t partition, std::string_view ns);
  // `done` wrapped so that a namespace miss it is answered with is Noted.
  template <typename Done>
  auto Noting(Done done) {
    return [this, done = std::move(done)](auto result) { done(Noted(std::move(result))); };
  }
  // The local replicas, the serving primaries first.
  std::vector<Db*> LocalDbs(const ShardRouting& r) const;

  ShardHost& host_;
  IntentFanout intents_;  // its threads end before host_'s replicas stop
};

}  // namespace tldb::cluster
