// MetricsCollector: builds the metric families of one scrape from the counters the server and
// the engine keep anyway.
#include "metrics_collector.h"

#include <sys/statvfs.h>

#include <cctype>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include "loop.h"
#include "protocol/codes.h"
#include "tldb/engine_events.h"

namespace tldb::server {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// Builds one family; Add() appends a sample with at most one label.
class Family {
 public:
  Family(std::vector<MetricFamily>* out, std::string name, std::string help, MetricType type)
      : out_(out) {
    out_->push_back({std::move(name), std::move(help), type, {}});
    index_ = out_->size() - 1;
  }
  Family& Add(double v, std::string label = {}, std::string value = {}) {
    ClientMetric m;
    if (!label.empty()) m.label.push_back({std::move(label), std::move(value)});
    if (family().type == MetricType::Counter) {
      m.counter.value = v;
    } else {
      m.gauge.value = v;
    }
    family().metric.push_back(std::move(m));
    return *this;
  }
  // The same with several labels (name, value).
  Family& AddLabeled(double v, const std::vector<std::pair<std::string, std::string>>& labels) {
    ClientMetric m;
    for (const auto& [name, value] : labels) m.label.push_back({name, value});
    if (family().type == MetricType::Counter) {
      m.counter.value = v;
    } else {
      m.gauge.value = v;
    }
    family().metric.push_back(std::move(m));
    return *this;
  }
  MetricFamily& family() { return (*out_)[index_]; }

 private:
  std::vector<MetricFamily>* out_;
  size_t index_;
};

void Counter(std::vector<MetricFamily>* out, std::string name, std::string help, uint64_t v) {
  Family(out, std::move(name), std::move(help), MetricType::Counter).Add(static_cast<double>(v));
}

void Gauge(std::vector<MetricFamily>* out, std::string name, std::string help, double v) {
  Family(out, std::move(name), std::move(help), MetricType::Gauge).Add(v);
}

uint64_t Sum(const std::vector<const ServerStats*>& loops,
             std::atomic<uint64_t> ServerStats::*field) {
  uint64_t s = 0;
  for (const auto* l : loops) s += (l->*field).load(std::memory_order_relaxed);
  return s;
}

void AddServer(const ServerCore& core, const std::vector<const ServerStats*>& loops,
               std::vector<MetricFamily>* out) {
  using S = ServerStats;
  Family ops(out, "tldb_requests_total", "Requests received, by opcode", MetricType::Counter);
  for (int slot = 0; slot < S::kOpSlots; ++slot) {
    const uint8_t op = S::SlotOp(slot);
    uint64_t n = 0;
    for (const auto* l : loops) n += l->ops[op].load(std::memory_order_relaxed);
    ops.Add(static_cast<double>(n), "op", Lower(proto::OpName(op)));
  }
  Family errors(out, "tldb_request_errors_total",
                "Error answers sent, by error code (docs/protocol.md; IO_ERROR on writes: a "
                "namespace's log is read-only after a failed write)",
                MetricType::Counter);
  for (int code = 1; code < S::kErrorCodes; ++code) {
    std::string_view name = proto::ErrorName(static_cast<uint16_t>(code));
    if (name == "UNKNOWN_ERROR") continue;
    uint64_t n = 0;
    for (const auto* l : loops) n += l->errors_by_code[code].load(std::memory_order_relaxed);
    errors.Add(static_cast<double>(n), "code", std::string(name));
  }
  Counter(out, "tldb_received_bytes_total", "Bytes received from clients",
          Sum(loops, &S::bytes_in));
  Counter(out, "tldb_sent_bytes_total", "Bytes sent to clients", Sum(loops, &S::bytes_out));
  Gauge(out, "tldb_connections", "Open client connections",
        static_cast<double>(Sum(loops, &S::connections_open)));
  Gauge(out, "tldb_connections_max", "Open connections allowed (--connections-max)",
        core.config.connections_max);
  Counter(out, "tldb_connections_accepted_total", "Connections accepted",
          Sum(loops, &S::connections_accepted));
  Counter(out, "tldb_connections_rejected_total", "Connections refused with TOO_MANY_CONNECTIONS",
          Sum(loops, &S::connections_rejected));
  Family(out, "tldb_connections_refused_peer_budget_total",
         "New connections refused with TOO_MANY_CONNECTIONS because their address was over a "
         "per-address budget, by budget (--peer-unauth-connections-*, "
         "--peer-handshake-failures-*)",
         MetricType::Counter)
      .Add(static_cast<double>(Sum(loops, &S::refused_peer_unauth)), "budget",
           "unauthenticated_connections")
      .Add(static_cast<double>(Sum(loops, &S::refused_peer_failures)), "budget",
           "handshake_failures");
  Counter(out, "tldb_handshake_failures_total",
          "Connections closed before completing HELLO (wrong or no token, a fatal error before "
          "HELLO, a failed TLS handshake, a close or timeout before HELLO)",
          Sum(loops, &S::handshake_failures));
  Counter(out, "tldb_hellos_refused_total",
          "HELLOs refused with TOO_MANY_CONNECTIONS because their client (token at an address, or "
          "address without tokens) had too many requests refused (--refused-requests-*)",
          Sum(loops, &S::hellos_refused));
  Gauge(out, "tldb_peer_budget_addresses",
        "Peer addresses the per-address budgets remember (at most --peer-budget-addresses-max)",
        static_cast<double>(core.peers ? core.peers->entries() : 0));
  Counter(out, "tldb_peer_budget_evictions_total",
          "Peer addresses the per-address budgets forgot to make room for another",
          core.peers ? core.peers->evictions() : 0);
  Counter(out, "tldb_scan_turns_yielded_total",
          "Loop turns a SCAN gave up with work left (a long SCAN is read in steps)",
          Sum(loops, &S::scan_turns_yielded));
  Family(out, "tldb_disconnects_total", "Connections closed by the server, by reason",
         MetricType::Counter)
      .Add(static_cast<double>(Sum(loops, &S::disconnects_protocol)), "reason", "protocol")
      .Add(static_cast<double>(Sum(loops, &S::disconnects_slow)), "reason", "slow_consumer")
      .Add(static_cast<double>(Sum(loops, &S::disconnects_timeout)), "reason", "timeout");
  Gauge(out, "tldb_buffered_bytes",
        "Bytes all connections hold in partial frames and queued output",
        static_cast<double>(std::max<int64_t>(0, core.buffered_bytes.load())));
  Gauge(out, "tldb_buffered_bytes_max", "Limit of tldb_buffered_bytes (--buffers-bytes-max)",
        static_cast<double>(core.config.buffers_bytes_max));
  Counter(out, "tldb_pushes_total", "Messages pushed to subscribers", Sum(loops, &S::pushes));
  Family(out, "tldb_waits_total", "WAIT requests answered, by outcome", MetricType::Counter)
      .Add(static_cast<double>(Sum(loops, &S::waits_woken)), "outcome", "woken")
      .Add(static_cast<double>(Sum(loops, &S::waits_timed_out)), "outcome", "timed_out");
  Counter(out, "tldb_slow_requests_total", "Requests slower than --slow-request-ms",
          Sum(loops, &S::slow_requests));
  Family(out, "tldb_mutations_total", "MUTATE requests acknowledged, by kind", MetricType::Counter)
      .Add(static_cast<double>(Sum(loops, &S::recalls)), "kind", "recall")
      .Add(static_cast<double>(Sum(loops, &S::edits)), "kind", "edit")
      .Add(static_cast<double>(Sum(loops, &S::trims)), "kind", "trim")
      .Add(static_cast<double>(Sum(loops, &S::timeline_deletes)), "kind", "delete_timeline");
  Counter(out, "tldb_mutations_noop_total",
          "MUTATE requests that changed nothing (already in effect: retries)",
          Sum(loops, &S::mutations_noop));
  Gauge(out, "tldb_event_loops", "Event-loop threads", static_cast<double>(loops.size()));
  Gauge(out, "tldb_uptime_seconds", "Seconds since the server started",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - core.started).count());
}

void AddLatency(const std::vector<const ServerStats*>& loops, std::vector<MetricFamily>* out) {
  Family f(out, "tldb_request_duration_seconds",
           "Request latency by opcode: from the start of its handler to its answer being "
           "queued; appends and mutations include the group commit and fdatasync. WAIT has "
           "none (a long poll)",
           MetricType::Histogram);
  const std::vector<uint64_t> bounds = MetricsCollector::BucketBoundsMicros();
  for (int slot = 0; slot < ServerStats::kOpSlots; ++slot) {
    const uint8_t op = ServerStats::SlotOp(slot);
    if (op == static_cast<uint8_t>(proto::Op::kWait)) continue;
    SummedHistogram h = SumLatency(loops, [op](uint8_t o) { return o == op; });
    ClientMetric m;
    m.label.push_back({"op", Lower(proto::OpName(op))});
    uint64_t total = 0;
    for (uint64_t c : h.counts) total += c;
    m.histogram.sample_count = total;
    m.histogram.sample_sum = static_cast<double>(h.micros_sum) / 1e6;
    // Bucket edges 2^k - 2 µs: the histogram's buckets below index 4k hold exactly the samples
    // of at most that many microseconds (LatencyHistogram), so the cumulative counts are exact.
    uint64_t cumulative = 0;
    int next = 0;
    for (size_t k = 0; k < bounds.size(); ++k) {
      const int end = 4 * static_cast<int>(k + 1);
      for (; next < end && next < LatencyHistogram::kBuckets; ++next) cumulative += h.counts[next];
      m.histogram.bucket.push_back({cumulative, static_cast<double>(bounds[k]) / 1e6});
    }
    m.histogram.bucket.push_back({total, std::numeric_limits<double>::infinity()});
    f.family().metric.push_back(std::move(m));
  }
}

void AddEngine(const DbStats& d, std::vector<MetricFamily>* out) {
  Counter(out, "tldb_engine_appends_total",
          "Messages appended by the engine (a fan-out counts once per timeline)", d.appends);
  Counter(out, "tldb_engine_appends_deduplicated_total",
          "Appends answered from the client_msg_id dedupe table (nothing written)",
          d.appends_deduplicated);
  Counter(out, "tldb_engine_group_commits_total",
          "Group commits (one write of a batch of appends and mutations); messages per group "
          "commit = rate(tldb_engine_appends_total) / rate(tldb_engine_group_commits_total)",
          d.groups_committed);
  Counter(out, "tldb_engine_fdatasyncs_total", "fdatasync calls on segments", d.syncs);
  Counter(out, "tldb_engine_written_bytes_total", "Segment bytes written by group commits",
          d.bytes_written);
  Counter(out, "tldb_engine_gets_total", "Engine Get calls", d.gets);
  Counter(out, "tldb_engine_scans_total", "Engine Scan calls", d.scans);
  Gauge(out, "tldb_engine_timelines", "Timelines in memory, all namespaces",
        static_cast<double>(d.timelines));
  Gauge(out, "tldb_engine_dedupe_entries", "Entries of the client_msg_id dedupe tables",
        static_cast<double>(d.dedupe_entries));
  Family(out, "tldb_engine_memory_bytes", "Engine memory by structure", MetricType::Gauge)
      .Add(static_cast<double>(d.memory_timeline_bytes), "structure", "timeline_table")
      .Add(static_cast<double>(d.memory_active_index_bytes), "structure", "active_index")
      .Add(static_cast<double>(d.memory_dedupe_bytes), "structure", "dedupe");
  Counter(out, "tldb_engine_mutations_total", "Recalls, edits, trims and timeline deletes written",
          d.mutations);
  Counter(out, "tldb_engine_ttl_segments_expired_total", "Segments dropped whole by TTL",
          d.segments_expired);
  Counter(out, "tldb_engine_compactions_total",
          "Compaction runs committed (background maintenance and COMPACT)", d.compactions);
  Counter(out, "tldb_engine_compaction_read_bytes_total", "Bytes read by compaction",
          d.compaction_bytes_read);
  Counter(out, "tldb_engine_compaction_written_bytes_total", "Bytes written by compaction",
          d.compaction_bytes_written);
  Counter(out, "tldb_engine_prezero_skipped_total",
          "Segment rolls whose next segment was fallocated instead of pre-zeroed",
          d.prezero_skipped);
  Counter(out, "tldb_engine_prezero_ahead_bytes_total",
          "Zero bytes written ahead of active segments' records (first segments, after restarts)",
          d.prezero_ahead_bytes);
  Counter(out, "tldb_engine_index_spare_rolls_total",
          "Segment rolls that wrote their index over a spare written ahead (pages already cached)",
          d.index_spare_rolls);
  Counter(out, "tldb_engine_index_buffer_rolls_total",
          "Segment rolls that built their index in a buffer whose pages were touched ahead",
          d.index_buffer_rolls);
  Counter(out, "tldb_engine_records_written_back_bytes_total",
          "Bytes of buffered records written back ahead of the roll that syncs them",
          d.records_written_back_bytes);
  Counter(out, "tldb_engine_rolls_total",
          "Rolls of active segments (appends in flight wait for one)", d.rolls);
  Family(out, "tldb_engine_roll_seconds_total", "Time spent rolling active segments",
         MetricType::Counter)
      .Add(static_cast<double>(d.roll_us) / 1e6);
  Counter(out, "tldb_engine_block_cache_hits_total",
          "Decompressed blocks of compacted segments found in the block cache", d.block_cache_hits);
  Counter(out, "tldb_engine_block_cache_misses_total",
          "Blocks of compacted segments read and decompressed", d.block_cache_misses);
  Gauge(out, "tldb_engine_block_cache_capacity_bytes", "The block cache's budget",
        static_cast<double>(d.block_cache_bytes));
  Counter(out, "tldb_engine_scrub_segments_verified_total",
          "Sealed segments re-verified by the background scrub", d.scrub_segments_verified);
  Counter(out, "tldb_engine_scrub_read_bytes_total",
          "Segment and index bytes read by the background scrub", d.scrub_bytes_read);
  Counter(out, "tldb_engine_scrub_damaged_segments_total",
          "Sealed segments the scrub found damaged (each time the scrub finds one)",
          d.scrub_damaged_segments);
  Counter(out, "tldb_engine_scrub_passes_total", "Scrub passes completed over every sealed segment",
          d.scrub_passes_completed);
  Gauge(out, "tldb_engine_scrub_segments_quarantined",
        "Sealed segments quarantined from reads as damaged (reads needing one answer CORRUPTION)",
        static_cast<double>(d.scrub_segments_quarantined));
  Family(out, "tldb_engine_info", "The engine's I/O backend (value 1)", MetricType::Gauge)
      .Add(1, "io_backend", d.io_backend);
  Gauge(out, "tldb_engine_namespaces_refused",
        "Namespaces refused at open as damaged (every request to one answers CORRUPTION)",
        static_cast<double>(d.refused_namespaces.size()));
  if (!d.refused_namespaces.empty()) {
    Family refused(out, "tldb_engine_namespace_refused", "A namespace refused as damaged (value 1)",
                   MetricType::Gauge);
    for (const auto& [name, why] : d.refused_namespaces) refused.Add(1, "namespace", name);
  }
}

void AddCompactionJobs(const CompactionJobs::Totals& t, std::vector<MetricFamily>* out) {
  Family(out, "tldb_compaction_jobs_total", "COMPACT jobs of this server, by state reached",
         MetricType::Counter)
      .Add(static_cast<double>(t.started), "state", "started")
      .Add(static_cast<double>(t.done), "state", "done")
      .Add(static_cast<double>(t.failed), "state", "failed");
  Counter(out, "tldb_compaction_job_read_bytes_total", "Bytes read by COMPACT jobs", t.bytes_read);
  Counter(out, "tldb_compaction_job_written_bytes_total", "Bytes written by COMPACT jobs",
          t.bytes_written);
  Counter(out, "tldb_compaction_job_records_dropped_total",
          "Records dropped by COMPACT jobs (deleted, trimmed, expired, over the per-timeline cap)",
          t.records_dropped);
  Counter(out, "tldb_compaction_job_segments_expired_total",
          "Segments dropped by TTL during COMPACT jobs", t.segments_expired);
}

void AddNamespaces(Db* db, const EngineEvents::Snapshot* events, std::vector<MetricFamily>* out) {
  auto list = db->ListNamespaces();
  Family bytes(out, "tldb_namespace_bytes", "Bytes of a namespace's files on disk",
               MetricType::Gauge);
  Family segments(out, "tldb_namespace_segments", "Segments of a namespace", MetricType::Gauge);
  Family timelines(out, "tldb_namespace_timelines", "Timelines of a namespace", MetricType::Gauge);
  Family ttl(out, "tldb_namespace_ttl_seconds", "A namespace's TTL (0: kept forever)",
             MetricType::Gauge);
  // Known only from the engine's event lines, so left out without them.
  std::optional<Family> read_only, no_space;
  if (events) {
    read_only.emplace(out, "tldb_namespace_read_only",
                      "1 when the engine reported a failed write: the namespace's log refuses "
                      "writes until the server restarts",
                      MetricType::Gauge);
    no_space.emplace(out, "tldb_namespace_no_space",
                     "1 while the namespace's appends fail for lack of disk space",
                     MetricType::Gauge);
  }
  if (!list.ok()) return;
  for (const NamespaceInfo& ns : *list) {
    bytes.Add(static_cast<double>(ns.bytes_on_disk), "namespace", ns.name);
    segments.Add(static_cast<double>(ns.segments), "namespace", ns.name);
    timelines.Add(static_cast<double>(ns.timelines), "namespace", ns.name);
    ttl.Add(static_cast<double>(ns.options.ttl_ms) / 1000.0, "namespace", ns.name);
    if (events) {
      read_only->Add(events->read_only.contains(ns.name) ? 1 : 0, "namespace", ns.name);
      no_space->Add(events->no_space.contains(ns.name) ? 1 : 0, "namespace", ns.name);
    }
  }
}

void AddEvents(const EngineEvents::Snapshot& s, std::vector<MetricFamily>* out) {
  Family f(out, "tldb_engine_events_total", "Events the engine reported (its log lines), by kind",
           MetricType::Counter);
  for (int k = 0; k < EngineEvents::kKinds; ++k) {
    f.Add(static_cast<double>(s.counts[k]), "kind",
          std::string(EngineEvents::KindName(static_cast<EngineEvents::Kind>(k))));
  }
}

void AddDisk(const std::string& dir, std::vector<MetricFamily>* out) {
  struct statvfs v {};
  if (dir.empty() || ::statvfs(dir.c_str(), &v) != 0) return;
  Gauge(out, "tldb_data_dir_filesystem_free_bytes",
        "Bytes available to the server on the data directory's file system",
        static_cast<double>(v.f_bavail) * static_cast<double>(v.f_frsize));
  Gauge(out, "tldb_data_dir_filesystem_size_bytes", "Size of the data directory's file system",
        static_cast<double>(v.f_blocks) * static_cast<double>(v.f_frsize));
}

// Cluster mode (docs/replication.md): the STATS counters cluster_* as gauges, with the follower
// (cluster_followerN_x → tldb_cluster_follower_x{follower="N"}) and the namespace
// (cluster_log_NS_segment → tldb_cluster_log_segment{namespace="NS"}) as labels. A sharded
// server (docs/cluster.md) reports each partition's as cluster_pP_x: the same families with a
// partition="P" label; and shard_x as tldb_shard_x.
void AddCluster(const ServerConfig& config, std::vector<MetricFamily>* out) {
  if (!config.extra_stats) return;
  std::vector<std::pair<std::string, uint64_t>> stats;
  config.extra_stats(&stats);
  struct Sample {
    std::vector<std::pair<std::string, std::string>> labels;
    uint64_t v;
  };
  std::map<std::string, std::vector<Sample>> families;
  for (const auto& [full, v] : stats) {
    if (full.rfind("shard_", 0) == 0) {
      families["tldb_" + full].push_back({{}, v});
      continue;
    }
    if (full.rfind("cluster_", 0) != 0) continue;
    std::string name = full;
    std::vector<std::pair<std::string, std::string>> labels;
    // cluster_p<digits>_rest → cluster_rest{partition="<digits>"}
    if (const size_t end = name.find('_', 9); name.rfind("cluster_p", 0) == 0 &&
                                              end != std::string::npos && end > 9 &&
                                              name.find_first_not_of("0123456789", 9) == end) {
      labels.emplace_back("partition", name.substr(9, end - 9));
      name = "cluster_" + name.substr(end + 1);
    }
    const std::string follower = "cluster_follower", log = "cluster_log_";
    if (name.rfind(follower, 0) == 0) {
      const size_t cut = name.find('_', follower.size());
      if (cut == std::string::npos) continue;
      labels.emplace_back("follower", name.substr(follower.size(), cut - follower.size()));
      families["tldb_cluster_follower" + name.substr(cut)].push_back({labels, v});
    } else if (name.rfind(log, 0) == 0) {
      const size_t cut = name.rfind('_');
      labels.emplace_back("namespace", name.substr(log.size(), cut - log.size()));
      families["tldb_cluster_log" + name.substr(cut)].push_back({labels, v});
    } else {
      families["tldb_" + name].push_back({labels, v});
    }
  }
  for (auto& [name, samples] : families) {
    Family f(out, name, "cluster mode: STATS counter " + name.substr(5) + " (docs/protocol.md)",
             MetricType::Gauge);
    for (auto& smp : samples) f.AddLabeled(static_cast<double>(smp.v), smp.labels);
  }
}

}  // namespace

std::vector<uint64_t> MetricsCollector::BucketBoundsMicros() {
  std::vector<uint64_t> b;
  for (int k = 1; k <= 27; ++k) b.push_back((uint64_t{1} << k) - 2);
  return b;
}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  std::vector<const ServerStats*> loops;
  for (const auto& l : core_->loops) loops.push_back(&l->stats());
  std::vector<MetricFamily> out;
  AddServer(*core_, loops, &out);
  AddLatency(loops, &out);
  AddEngine(core_->db->Stats(), &out);
  AddCompactionJobs(core_->compactions.totals(), &out);
  std::optional<EngineEvents::Snapshot> events;
  if (core_->config.engine_events) events = core_->config.engine_events->Get();
  AddNamespaces(core_->db, events ? &*events : nullptr, &out);
  if (events) AddEvents(*events, &out);
  AddDisk(core_->config.data_dir, &out);
  AddCluster(core_->config, &out);
  return out;
}

}  // namespace tldb::server
