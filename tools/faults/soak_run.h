// RunSoak: a long, bounded mixed workload against a real tldb-server with compaction and TTL
// running, checking the invariants all along and tracking the server's memory and descriptors.
//
// Contract:
// - Starts the server (ServerProcess) and creates two namespaces with 64 KiB segments and sync
//   durability: `<prefix>_store` (no TTL, compaction once a segment is < compact_live_pct live)
//   and `<prefix>_sync` (ttl_ms), so segments roll, compact and expire every few seconds.
// - `writers` threads, each owning `timelines` store timelines and `members` sync timelines
//   (SoakModel per timeline), loop over: appends with client_msg_ids (and an immediate retry of
//   some, which must return the same SeqId), fan-outs to 2..members sync timelines, recalls,
//   edits, and trims that keep each store timeline near `keep` messages. Any failed call is
//   retried on a fresh connection (the same client_msg_id for appends).
// - `readers` threads read whole random timelines (paged forward scans) and latest-20 pages and
//   check them (CheckSoakRead) all along.
// - Every sample_ms the server's RSS, open descriptors and data-directory bytes are sampled;
//   every restart_every_ms (0: never) the server is stopped (SIGTERM) and restarted.
// - After duration_ms the load stops, every timeline is read and checked once more (also after
//   a final restart), and the report returned. With duration_max_ms above duration_ms, the load
//   goes on past duration_ms until the server has run compactions_min compactions and expired
//   segments_expired_min segments and restarts_min restarts were done (each checked every
//   sample_ms), or until duration_max_ms: a run waits for the events it must see instead of
//   hoping a fixed time was enough. Violations are data, not errors; an error
//   Status means the soak could not run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tldb/status.h"

namespace tldb::faults {

struct SoakOptions {
  std::string server_binary;
  std::string data_dir;
  std::string io_backend = "auto";
  std::string prefix = "soak";
  uint64_t duration_ms = 60'000;
  uint32_t writers = 3;
  uint32_t readers = 2;
  uint32_t timelines = 6;  // store timelines per writer
  uint32_t members = 8;    // sync timelines per writer (fan-out targets)
  uint32_t keep = 150;     // trim a store timeline back to about this many messages
  uint32_t payload_bytes_max = 600;
  uint64_t ttl_ms = 20'000;
  uint32_t compact_live_pct = 70;
  uint64_t sample_ms = 5'000;
  uint64_t restart_every_ms = 0;
  // 0 or <= duration_ms: stop at duration_ms. Otherwise the bound for the minimums below.
  uint64_t duration_max_ms = 0;
  uint64_t compactions_min = 0, segments_expired_min = 0, restarts_min = 0;
  uint64_t seed = 1;
  std::string server_log;
  std::function<void(const std::string&)> progress;  // one line per sample; may be null
};

struct SoakSample {
  double at_s = 0;
  uint64_t rss_kib = 0, fds = 0, disk_bytes = 0, files = 0;
};

struct SoakReport {
  double seconds = 0;
  uint64_t appends = 0, retries_deduplicated = 0, fanouts = 0, recalls = 0, edits = 0, trims = 0;
  uint64_t reads_checked = 0, messages_checked = 0, failed_calls = 0, restarts = 0;
  uint64_t compactions = 0, segments_expired = 0;  // server STATS at the end (since last start)
  std::vector<SoakSample> samples;
  std::vector<std::string> violations;  // the first 100
  uint64_t violation_count = 0;
  // Leak indicators: the peak of the second half of the samples against the first half's (a
  // peak, not a point: memory rises after each restart as caches and the dedupe window fill).
  int64_t rss_growth_second_half_kib = 0, fd_growth_second_half = 0;
  uint64_t rss_max_kib = 0, fds_max = 0;
  std::string ToString() const;
};

Result<SoakReport> RunSoak(const SoakOptions& options);

}  // namespace tldb::faults
