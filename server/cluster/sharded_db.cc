#include "cluster/sharded_db.h"

#include <future>
#include <memory>
#include <set>

namespace tldb::cluster {
namespace {

// The engine's answer for a namespace that does not exist (engine/src/store/db_impl.cc).
bool IsNamespaceMiss(const Status& s) {
  return s.IsNotFound() && s.message().rfind("namespace '", 0) == 0 &&
         s.message().find("' does not exist") != std::string::npos;
}

void Add(DbStats& to, const DbStats& s) {
  to.appends += s.appends;
  to.appends_deduplicated += s.appends_deduplicated;
  to.groups_committed += s.groups_committed;
  to.syncs += s.syncs;
  to.bytes_written += s.bytes_written;
  to.gets += s.gets;
  to.scans += s.scans;
  to.timelines += s.timelines;
  to.dedupe_entries += s.dedupe_entries;
  to.memory_timeline_bytes += s.memory_timeline_bytes;
  to.memory_active_index_bytes += s.memory_active_index_bytes;
  to.memory_dedupe_bytes += s.memory_dedupe_bytes;
  to.mutations += s.mutations;
  to.segments_expired += s.segments_expired;
  to.compactions += s.compactions;
  to.compaction_bytes_read += s.compaction_bytes_read;
  to.compaction_bytes_written += s.compaction_bytes_written;
  to.prezero_skipped += s.prezero_skipped;
  to.block_cache_hits += s.block_cache_hits;
  to.block_cache_misses += s.block_cache_misses;
  to.block_cache_bytes += s.block_cache_bytes;
  to.scrub_segments_verified += s.scrub_segments_verified;
  to.scrub_bytes_read += s.scrub_bytes_read;
  to.scrub_damaged_segments += s.scrub_damaged_segments;
  to.scrub_passes_completed += s.scrub_passes_completed;
  to.scrub_segments_quarantined += s.scrub_segments_quarantined;
  if (to.io_backend.empty()) to.io_backend = s.io_backend;
  to.refused_namespaces.insert(to.refused_namespaces.end(), s.refused_namespaces.begin(),
                               s.refused_namespaces.end());
}

// How many partitions `timelines` span at `r`'s map (whether served here or not).
size_t PartitionsOf(const ShardRouting& r, std::span<const std::string_view> timelines) {
  std::set<uint32_t> ids;
  for (std::string_view t : timelines) ids.insert(r.map.Owner(proto::SlotOf(t)).id);
  return ids.size();
}

Status NotHere(const char* what) {
  return Status::NotSupported(std::string(what) +
                              " belongs to one partition: not served by a sharded server");
}

}  // namespace

std::string_view CursorRoutingTimeline(std::string_view ns, std::string_view timeline) {
  if (ns != "__cursors") return timeline;  // kCursorNamespace (tldb/server.h)
  const size_t first = timeline.find('|');
  if (first == timeline.npos) return timeline;
  const size_t second = timeline.find('|', first + 1);
  if (second == timeline.npos) return timeline;
  return timeline.substr(second + 1);
}

uint16_t RoutingSlot(std::string_view ns, std::string_view timeline) {
  std::optional<uint16_t> intent;
  if (ns == kIntentNamespace) intent = IntentSlot(timeline);
  return intent ? *intent : proto::SlotOf(CursorRoutingTimeline(ns, timeline));
}

bool PartitionOwns(const proto::SlotMap& map, uint32_t p, std::string_view ns,
                   std::string_view timeline) {
  if (ns == kIntentNamespace && timeline == proto::kJournalTimeline) return true;
  if (ns.substr(0, 2) == "__" && ns != kIntentNamespace && ns != "__cursors") return true;
  return map.Owner(RoutingSlot(ns, timeline)).id == p;
}

Result<ShardedDb::Target> ShardedDb::Route(const ShardRouting& r, std::string_view ns,
                                           std::string_view timeline) {
  const uint16_t slot = RoutingSlot(ns, timeline);
  const proto::PartitionEntry& owner = r.map.Owner(slot);
  auto it = r.local.find(owner.id);
  if (it == r.local.end()) {
    return Status::Moved(
        proto::MovedMessage(slot, r.map.version(), owner.id, r.map.RouteAddress(slot)));
  }
  return Target{it->second->db(), owner.id};
}

Result<std::map<uint32_t, std::vector<size_t>>> ShardedDb::RouteAll(
    const ShardRouting& r, std::string_view ns, std::span<const std::string_view> timelines) {
  std::map<uint32_t, std::vector<size_t>> out;
  for (size_t i = 0; i < timelines.size(); ++i) {
    TLDB_ASSIGN_OR_RETURN(Target t, Route(r, ns, timelines[i]));
    out[t.partition].push_back(i);
  }
  return out;
}

Result<ShardedDb::Admitted> ShardedDb::Admit(
    const std::function<Result<uint32_t>(const ShardRouting&)>& partition_of) {
  // A routing is published every poll: meeting a few in a row means something is wrong.
  for (int tries = 0; tries < 8; ++tries) {
    auto r = host_.routing();
    TLDB_ASSIGN_OR_RETURN(uint32_t p, partition_of(*r));
    TLDB_ASSIGN_OR_RETURN(std::shared_ptr<void> ticket, host_.Admit(r, p));
    if (ticket) return Admitted{std::move(r), p, std::move(ticket)};
  }
  return Status::Busy("the routing kept changing: retry");
}

Result<ShardedDb::Admitted> ShardedDb::AdmitTimeline(std::string_view ns,
                                                     std::string_view timeline) {
  return Admit([&](const ShardRouting& r) -> Result<uint32_t> {
    TLDB_ASSIGN_OR_RETURN(Target t, Route(r, ns, timeline));
    return t.partition;
  });
}

Result<ShardedDb::Admitted> ShardedDb::AdmitFanout(std::string_view ns,
                                                   std::span<const std::string_view> timelines) {
  return Admit([&](const ShardRouting& r) -> Result<uint32_t> {
    TLDB_ASSIGN_OR_RETURN(auto parts, RouteAll(r, ns, timelines));
    if (parts.size() != 1) return Status::Busy("the map changed under the fan-out: retry");
    return parts.begin()->first;
  });
}

bool ShardedDb::Known(const ShardRouting& r, uint32_t partition, std::string_view ns) {
  auto it = r.namespaces.find(partition);
  return it != r.namespaces.end() && it->second.find(ns) != it->second.end();
}

void ShardedDb::AfterNamespacePoll(std::string ns, std::string timeline, std::function<void()> fn,
                                   int polls_left) {
  host_.AfterNextPoll([this, ns = std::move(ns), timeline = std::move(timeline), fn = std::move(fn),
                       polls_left]() mutable {
    auto r = host_.routing();
    auto t = Route(*r, ns, timeline);
    if (polls_left > 1 && t.ok() && !Known(*r, t->partition, ns) &&
        r->catalog.find(ns) != r->catalog.end()) {
      return AfterNamespacePoll(std::move(ns), std::move(timeline), std::move(fn), polls_left - 1);
    }
    fn();
  });
}

Status ShardedDb::Noted(Status s) {
  if (IsNamespaceMiss(s)) host_.NamespaceMiss();
  return s;
}

std::vector<Db*> ShardedDb::LocalDbs(const ShardRouting& r) const {
  std::vector<Db*> primaries, others;
  for (const auto& [p, node] : r.local) {
    (node->serving_primary() ? primaries : others).push_back(node->db());
  }
  primaries.insert(primaries.end(), others.begin(), others.end());
  return primaries;
}

// ---- Namespaces ----

Status ShardedDb::CreateNamespace(std::string_view name, const NamespaceOptions& options) {
  TLDB_RETURN_IF_ERROR(host_.namespaces().Create(name, options));
  auto r = host_.routing();
  for (const auto& [p, node] : r->local) {
    const repl::ReplicaStatus s = node->status();
    if (s.role != repl::Role::kPrimary || !s.serving) continue;
    // The catalog says yes: a partition that cannot apply it now (frozen for a split, too)
    // gets it from the next poll.
    auto ticket = host_.Admit(r, p);
    if (!ticket.ok() || !*ticket) continue;
    (void)node->db()->CreateNamespace(name, options);
  }
  return Status::Ok();
}

Status ShardedDb::SetNamespaceOptions(std::string_view ns, const NamespaceOptions& options) {
  TLDB_RETURN_IF_ERROR(host_.namespaces().SetOptions(ns, options));
  auto r = host_.routing();
  for (const auto& [p, node] : r->local) {
    const repl::ReplicaStatus s = node->status();
    if (s.role != repl::Role::kPrimary || !s.serving) continue;
    auto ticket = host_.Admit(r, p);
    if (!ticket.ok() || !*ticket) continue;
    Status applied = node->db()->SetNamespaceOptions(ns, options);
    if (applied.IsNotFound()) applied = node->db()->CreateNamespace(ns, options);
    (void)applied;  // as above: the poll applies what could not be applied now
  }
  return Status::Ok();
}

Result<std::vector<NamespaceInfo>> ShardedDb::ListNamespaces() {
  auto r = host_.routing();
  const std::vector<Db*> dbs = LocalDbs(*r);
  if (dbs.empty()) return Status::NotFound("this server holds no partition");
  return dbs.front()->ListNamespaces();
}

Result<NamespaceInfo> ShardedDb::DescribeNamespace(std::string_view name) {
  auto r = host_.routing();
  const std::vector<Db*> dbs = LocalDbs(*r);
  if (dbs.empty()) return Status::NotFound("this server holds no partition");
  return Noted(dbs.front()->DescribeNamespace(name));
}

// ---- One timeline ----

Result<AppendResult> ShardedDb::Append(std::string_view ns, std::string_view timeline,
                                       std::string_view payload, const AppendOptions& options) {
  TLDB_ASSIGN_OR_RETURN(Admitted a, AdmitTimeline(ns, timeline));
  return Noted(a.db()->Append(ns, timeline, payload, options));
}

void ShardedDb::AppendAsync(std::string_view ns, std::string_view timeline,
                            std::string_view payload, const AppendOptions& options,
                            AppendCallback done) {
  auto a = AdmitTimeline(ns, timeline);
  if (!a.ok()) return done(a.status());
  if (!Known(*a->r, a->partition, ns)) {
    a->ticket.reset();
    // Not here yet, maybe: once more after the next poll has applied the catalog.
    struct Call {
      std::string ns, timeline, payload, id;
      AppendOptions o;
    };
    auto c =
        std::make_shared<Call>(Call{std::string(ns), std::string(timeline), std::string(payload),
                                    std::string(options.client_msg_id), options});
    return AfterNamespacePoll(c->ns, c->timeline, [this, c, done = std::move(done)]() mutable {
      auto again = AdmitTimeline(c->ns, c->timeline);  // the map may have moved on
      if (!again.ok()) return done(again.status());
      AppendOptions o = c->o;
      o.client_msg_id = c->id;
      again->db()->AppendAsync(c->ns, c->timeline, c->payload, o,
                               Noting(Holding(std::move(again->ticket), std::move(done))));
    });
  }
  a->db()->AppendAsync(ns, timeline, payload, options,
                       Noting(Holding(std::move(a->ticket), std::move(done))));
}

Result<AppendResult> ShardedDb::Import(std::string_view ns, std::string_view timeline,
                                       const Message& m, Durability durability) {
  TLDB_ASSIGN_OR_RETURN(Admitted a, AdmitTimeline(ns, timeline));
  return Noted(a.db()->Import(ns, timeline, m, durability));
}

Result<MutationResult> ShardedDb::Mutate(std::string_view ns, const Mutation& m) {
  TLDB_ASSIGN_OR_RETURN(Admitted a, AdmitTimeline(ns, m.timeline));
  return Noted(a.db()->Mutate(ns, m));
}

void ShardedDb::MutateAsync(std::string_view ns, const Mutation& m, MutationCallback done) {
  auto a = AdmitTimeline(ns, m.timeline);
  if (!a.ok()) return done(a.status());
  if (!Known(*a->r, a->partition, ns)) {
    a->ticket.reset();
    struct Call {
      std::string ns, timeline, payload;
      Mutation m;
    };
    auto c = std::make_shared<Call>(
        Call{std::string(ns), std::string(m.timeline), std::string(m.payload), m});
    return AfterNamespacePoll(c->ns, c->timeline, [this, c, done = std::move(done)]() mutable {
      auto again = AdmitTimeline(c->ns, c->timeline);
      if (!again.ok()) return done(again.status());
      Mutation m2 = c->m;
      m2.timeline = c->timeline;
      m2.payload = c->payload;
      again->db()->MutateAsync(c->ns, m2,
                               Noting(Holding(std::move(again->ticket), std::move(done))));
    });
  }
  a->db()->MutateAsync(ns, m, Noting(Holding(std::move(a->ticket), std::move(done))));
}

Result<Message> ShardedDb::Get(std::string_view ns, std::string_view timeline, Seq seq) {
  TLDB_ASSIGN_OR_RETURN(Target t, Route(*host_.routing(), ns, timeline));
  return Noted(t.db->Get(ns, timeline, seq));
}

Result<std::vector<Message>> ShardedDb::Scan(std::string_view ns, std::string_view timeline,
                                             const ScanOptions& options) {
  TLDB_ASSIGN_OR_RETURN(Target t, Route(*host_.routing(), ns, timeline));
  return Noted(t.db->Scan(ns, timeline, options));
}

// ---- Several timelines ----

Result<std::vector<AppendResult>> ShardedDb::AppendFanout(
    std::string_view ns, std::span<const std::string_view> timelines, std::string_view payload,
    const AppendOptions& options) {
  auto r = host_.routing();
  if (PartitionsOf(*r, timelines) > 1) {  // an intent: the async path, waited for
    std::promise<Result<std::vector<AppendResult>>> p;
    auto f = p.get_future();
    AppendFanoutAsync(ns, timelines, payload, options,
                      [&p](Result<std::vector<AppendResult>> out) { p.set_value(std::move(out)); });
    return f.get();
  }
  if (timelines.empty()) return std::vector<AppendResult>{};
  TLDB_ASSIGN_OR_RETURN(Admitted a, AdmitFanout(ns, timelines));
  return Noted(a.db()->AppendFanout(ns, timelines, payload, options));
}

void ShardedDb::AppendFanoutAsync(std::string_view ns, std::span<const std::string_view> timelines,
                                  std::string_view payload, const AppendOptions& options,
                                  FanoutCallback done) {
  auto r = host_.routing();
  // Across partitions: the home's (IntentFanout answers MOVED when it is not here).
  const bool across = PartitionsOf(*r, timelines) > 1;
  uint32_t p = r->map.Owner(proto::FanoutHomeSlot(timelines)).id;
  if (!across) {
    auto parts = RouteAll(*r, ns, timelines);
    if (!parts.ok()) return done(parts.status());
    if (parts->empty()) return done(std::vector<AppendResult>{});
    p = parts->begin()->first;
  }
  if (r->local.count(p) != 0 && !Known(*r, p, ns)) {
    struct Call {
      std::string ns, payload, id;
      std::vector<std::string> timelines;
      AppendOptions o;
    };
    auto c = std::make_shared<Call>(Call{std::string(ns),
                                         std::string(payload),
                                         std::string(options.client_msg_id),
                                         {timelines.begin(), timelines.end()},
                                         options});
    return AfterNamespacePoll(
        c->ns, c->timelines.front(), [this, c, done = std::move(done)]() mutable {
          const std::vector<std::string_view> tls(c->timelines.begin(), c->timelines.end());
          auto again = host_.routing();
          AppendOptions o = c->o;
          o.client_msg_id = c->id;
          if (PartitionsOf(*again, tls) > 1) {  // across partitions (at the newest map)
            return intents_.Accept(c->ns, tls, c->payload, o, Noting(std::move(done)));
          }
          auto a2 = AdmitFanout(c->ns, tls);
          if (!a2.ok()) return done(a2.status());
          a2->db()->AppendFanoutAsync(c->ns, tls, c->payload, o,
                                      Noting(Holding(std::move(a2->ticket), std::move(done))));
        });
  }
  if (across) return intents_.Accept(ns, timelines, payload, options, Noting(std::move(done)));
  auto a = AdmitFanout(ns, timelines);
  if (!a.ok()) return done(a.status());
  a->db()->AppendFanoutAsync(ns, timelines, payload, options,
                             Noting(Holding(std::move(a->ticket), std::move(done))));
}

Result<std::vector<Seq>> ShardedDb::LastSeq(std::string_view ns,
                                            std::span<const std::string_view> timelines) {
  auto r = host_.routing();
  TLDB_ASSIGN_OR_RETURN(auto parts, RouteAll(*r, ns, timelines));
  std::vector<Seq> out(timelines.size(), 0);
  for (const auto& [p, indexes] : parts) {
    std::vector<std::string_view> some;
    some.reserve(indexes.size());
    for (size_t i : indexes) some.push_back(timelines[i]);
    TLDB_ASSIGN_OR_RETURN(std::vector<Seq> seqs, Noted(r->local.at(p)->db()->LastSeq(ns, some)));
    for (size_t k = 0; k < indexes.size() && k < seqs.size(); ++k) out[indexes[k]] = seqs[k];
  }
  return out;
}

// ---- Every local partition ----

Result<CompactionProgress> ShardedDb::Compact(std::string_view ns, const CompactOptions& o) {
  auto r = host_.routing();
  CompactionProgress total;
  for (const auto& [p, node] : r->local) {
    TLDB_ASSIGN_OR_RETURN(CompactionProgress one, node->db()->Compact(ns, o));
    total.segments_total += one.segments_total;
    total.segments_done += one.segments_done;
    total.bytes_read += one.bytes_read;
    total.bytes_written += one.bytes_written;
    total.records_kept += one.records_kept;
    total.records_dropped += one.records_dropped;
    total.segments_expired += one.segments_expired;
  }
  return total;
}

Status ShardedDb::Sync() {
  auto r = host_.routing();
  for (const auto& [p, node] : r->local) TLDB_RETURN_IF_ERROR(node->db()->Sync());
  return Status::Ok();
}

DbStats ShardedDb::Stats() {
  auto r = host_.routing();
  DbStats total;
  for (const auto& [p, node] : r->local) Add(total, node->db()->Stats());
  return total;
}

Status ShardedDb::Close() {
  intents_.Stop();  // no delivery once closing; the ShardHost owns the replicas
  return Status::Ok();
}

// ---- One partition's internals ----

Result<LogEnds> ShardedDb::LogEnd(std::string_view) {
  return NotHere("LogEnd");
}
Status ShardedDb::ApplyFrame(std::string_view, const LogFrame&) {
  return NotHere("ApplyFrame");
}
Result<std::vector<LogFrame>> ShardedDb::ReadFrames(std::string_view, LogPosition, uint64_t) {
  return NotHere("ReadFrames");
}
void ShardedDb::SetFollower(bool) {}
void ShardedDb::RetainLogFrom(std::string_view, uint64_t) {}
void ShardedDb::SetTimelineOwnership(TimelineOwnership) {}  // per partition: its ReplicatedDb
Result<SnapshotInfo> ShardedDb::Snapshot(const std::string&, const SnapshotOptions&) {
  return NotHere("a snapshot (online backup)");
}

}  // namespace tldb::cluster
