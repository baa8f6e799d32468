// MaintHandler: statistics, namespaces and compaction jobs.
#include "maint_handler.h"

#include <algorithm>
#include <cstdint>

#include "async_call.h"
#include "loop.h"

namespace tldb::server {

using proto::Op;

void MaintHandler::Stats(Connection& c, uint64_t id, std::string_view body) {
  if (!proto::DecodeEmpty(body)) return ctx_.Malformed(c, static_cast<uint8_t>(Op::kStats), id);
  ServerCore& core = ctx_.core();
  std::vector<const ServerStats*> all;
  for (auto& l : core.loops) all.push_back(&l->stats());
  proto::StatsResponse resp;
  resp.counters = CollectStats(all);
  DbStats d = core.db->Stats();
  auto add = [&resp](std::string name, uint64_t v) {
    resp.counters.emplace_back(std::move(name), v);
  };
  add("connections_max", core.config.connections_max);
  add("uptime_ms", static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - core.started)
                                             .count()));
  add("loops", core.loops.size());
  // How evenly the connections are spread over the loops (Loop::LeastLoaded).
  uint64_t per_loop_min = UINT64_MAX, per_loop_max = 0;
  for (auto& l : core.loops) {
    const uint64_t open = l->stats().connections_open.load(std::memory_order_relaxed);
    per_loop_min = std::min(per_loop_min, open);
    per_loop_max = std::max(per_loop_max, open);
  }
  add("connections_open_per_loop_min", core.loops.empty() ? 0 : per_loop_min);
  add("connections_open_per_loop_max", per_loop_max);
  // The per-address budgets' table (0 and 0 when they are off).
  add("peer_budget_addresses", core.peers ? core.peers->entries() : 0);
  add("peer_budget_evictions", core.peers ? core.peers->evictions() : 0);
  add("db_appends", d.appends);
  add("db_appends_deduplicated", d.appends_deduplicated);
  add("db_groups_committed", d.groups_committed);
  // Group-commit batch size: messages per group commit, times 100 (two decimals).
  add("db_group_commit_avg_messages_x100",
      d.groups_committed ? d.appends * 100 / d.groups_committed : 0);
  add("db_syncs", d.syncs);
  add("db_bytes_written", d.bytes_written);
  add("db_gets", d.gets);
  add("db_scans", d.scans);
  add("db_timelines", d.timelines);
  add("db_dedupe_entries", d.dedupe_entries);
  add("db_memory_timeline_bytes", d.memory_timeline_bytes);
  add("db_memory_active_index_bytes", d.memory_active_index_bytes);
  add("db_memory_dedupe_bytes", d.memory_dedupe_bytes);
  // The engine's maintenance, background and requested: mutations written, TTL segment drops,
  // compaction runs, and the decompressed-block cache.
  add("db_mutations", d.mutations);
  add("db_segments_expired", d.segments_expired);
  add("db_compactions", d.compactions);
  add("db_compaction_bytes_read", d.compaction_bytes_read);
  add("db_compaction_bytes_written", d.compaction_bytes_written);
  add("db_block_cache_hits", d.block_cache_hits);
  add("db_block_cache_misses", d.block_cache_misses);
  add("db_block_cache_bytes", d.block_cache_bytes);
  // The background scrub (docs/design.md "Scrubbing").
  add("db_scrub_segments_verified", d.scrub_segments_verified);
  add("db_scrub_bytes_read", d.scrub_bytes_read);
  add("db_scrub_damaged_segments", d.scrub_damaged_segments);
  add("db_scrub_passes_completed", d.scrub_passes_completed);
  add("db_scrub_segments_quarantined", d.scrub_segments_quarantined);
  // Namespaces refused at open as damaged (their requests answer CORRUPTION naming them).
  add("db_namespaces_refused", d.refused_namespaces.size());
  for (const auto& [name, why] : d.refused_namespaces) add("namespace_refused:" + name, 1);
  // The COMPACT jobs of this server (per job, with their outcome).
  const CompactionJobs::Totals ct = core.compactions.totals();
  add("compactions_started", ct.started);
  add("compactions_done", ct.done);
  add("compactions_failed", ct.failed);
  add("compaction_bytes_read", ct.bytes_read);
  add("compaction_bytes_written", ct.bytes_written);
  add("compaction_records_dropped", ct.records_dropped);
  add("compaction_segments_expired", ct.segments_expired);
  if (core.config.extra_stats) core.config.extra_stats(&resp.counters);
  resp.io_backend = d.io_backend;
  size_t start = c.Begin(Op::kStats, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(resp, w);
  c.End(start);
}

void MaintHandler::NsCreate(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kNsCreate);
  proto::NsCreateRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckWrite(c, op, id, req.name)) return;
  proto::FillNamespaceDefaults(&req.options);
  // Creating a namespace writes files and fsyncs the catalog: on the admin thread.
  auto task = [call = ctx_.StartAsync(c, op, id), name = std::string(req.name),
               options = req.options] {
    Status s = call.core().db->CreateNamespace(name, options);
    if (s.ok()) call.core().Log("namespace created: " + name);
    call.Complete([id = call.id(), s](HandlerContext& ctx, Connection& c) {
      if (!s.ok()) return ctx.Fail(c, static_cast<uint8_t>(Op::kNsCreate), id, s);
      ctx.Empty(c, Op::kNsCreate, id);
    });
  };
  if (!ctx_.core().admin.Post(std::move(task))) {
    c.DropInflight();
    ctx_.Fail(c, op, id, Status::Closed("server stopping"));
  }
}

void MaintHandler::NsList(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kNsList);
  if (!proto::DecodeEmpty(body)) return ctx_.Malformed(c, op, id);
  auto list = ctx_.core().db->ListNamespaces();
  if (!list.ok()) return ctx_.Fail(c, op, id, list.status());
  std::vector<NamespaceInfo> visible;
  for (auto& ns : *list) {
    if (c.rights()->CanRead(ns.name)) visible.push_back(std::move(ns));
  }
  size_t start = c.Begin(Op::kNsList, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::EncodeNamespaceInfos(visible, w);
  c.End(start);
}

void MaintHandler::NsDescribe(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kNsDescribe);
  proto::NsDescribeRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckRead(c, op, id, req.name)) return;
  auto info = ctx_.core().db->DescribeNamespace(req.name);
  if (!info.ok()) return ctx_.Fail(c, op, id, info.status());
  size_t start = c.Begin(Op::kNsDescribe, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::EncodeNamespaceInfo(*info, w);
  c.End(start);
}

void MaintHandler::NsSetOptions(Connection& c, uint64_t id, std::string_view body) {
  uint8_t op = static_cast<uint8_t>(Op::kNsSetOptions);
  proto::NsSetOptionsRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckAdmin(c, op, id, req.name)) return;
  // Read-modify-write on the admin thread: requests of all loops are serialized there, so two
  // NS_SET_OPTIONS changing different fields cannot undo each other.
  auto task = [call = ctx_.StartAsync(c, op, id), op, name = std::string(req.name), mask = req.mask,
               wanted = req.options] {
    Db* db = call.core().db;
    Result<NamespaceInfo> info = db->DescribeNamespace(name);
    if (info.ok()) {
      NamespaceOptions next = info->options;
      proto::ApplyNsOptions(mask, wanted, &next);
      proto::FillNamespaceDefaults(&next);
      Status s = next == info->options ? Status::Ok() : db->SetNamespaceOptions(name, next);
      info = s.ok() ? db->DescribeNamespace(name) : Result<NamespaceInfo>(s);
      if (s.ok()) call.core().Log("namespace options changed: " + name);
    }
    call.Complete([id = call.id(), op, info = std::move(info)](HandlerContext& ctx, Connection& c) {
      if (!info.ok()) return ctx.Fail(c, op, id, info.status());
      size_t f = c.Begin(Op::kNsSetOptions, proto::kFlagResponse, id);
      auto w = c.Writer();
      proto::EncodeNamespaceInfo(*info, w);
      c.End(f);
    });
  };
  if (!ctx_.core().admin.Post(std::move(task))) {
    c.DropInflight();
    ctx_.Fail(c, op, id, Status::Closed("server stopping"));
  }
}

void MaintHandler::Compact(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kCompact);
  proto::CompactRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckAdmin(c, op, id, req.ns)) return;
  ServerCore& core = ctx_.core();
  if (!req.ns.empty()) {
    // Known namespaces only, so that a typo fails now instead of in COMPACT_STATUS.
    auto info = core.db->DescribeNamespace(req.ns);
    if (!info.ok()) return ctx_.Fail(c, op, id, info.status());
  }
  auto job = core.compactions.Start(req.ns, req.full);
  if (!job.ok()) return ctx_.Fail(c, op, id, job.status());
  core.Log("compaction job " + std::to_string(*job) + " queued for " +
           (req.ns.empty() ? std::string("every namespace") : "namespace " + std::string(req.ns)));
  size_t start = c.Begin(Op::kCompact, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(proto::CompactResponse{*job}, w);
  c.End(start);
}

void MaintHandler::CompactStatus(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kCompactStatus);
  proto::CompactStatusRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  auto job = ctx_.core().compactions.Get(req.job_id);
  if (!job.ok()) return ctx_.Fail(c, op, id, job.status());
  if (!ctx_.CheckAdmin(c, op, id, job->ns)) return;
  size_t start = c.Begin(Op::kCompactStatus, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(*job, w);
  c.End(start);
}

void MaintHandler::ClusterMap(Connection& c, uint64_t id, std::string_view body) {
  constexpr auto op = static_cast<uint8_t>(Op::kClusterMap);
  if (!proto::DecodeEmpty(body)) return ctx_.Malformed(c, op, id);
  const auto& provider = ctx_.core().config.cluster_map;
  if (!provider) return ctx_.Fail(c, op, id, Status::NotSupported("not a sharded cluster"));
  auto map = provider();
  if (!map.ok()) return ctx_.Fail(c, op, id, map.status());
  size_t start = c.Begin(Op::kClusterMap, proto::kFlagResponse, id);
  c.Writer().out()->append(*map);
  c.End(start);
}

}  // namespace tldb::server
