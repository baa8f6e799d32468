// NamespaceState: what the parts of one namespace share — its files, its timelines, its
// segments, its rules and its run-time options — and the lock that guards them. The parts
// (GroupCommit, GroupAssigner, SegmentRoller, SegmentPreparer, TimelineReader, CompactionPlanner,
// Compactor, SegmentExpirer, NamespaceRecovery) each hold a reference to it; NamespaceLog owns
// it and them.
//
// Locking: `mu` guards table, active (the pointer and its index; its bytes below published_end
// are immutable), sealed, dedupe, published_end and rules. Readers hold it shared while they
// locate and copy records; the group-commit leader holds it exclusively only to assign a group
// and to publish it, never across a write or an fdatasync. Only the leader changes `active`
// and writes its bytes. The options are atomics (opts_mu_ guards the full struct and the
// ownership callback).
// Lock order: the maintenance mutex (NamespaceLog) before mu; GroupCommit's queue mutex is never
// held while mu is taken; opts_mu_ is a leaf (nothing is taken while it is held).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "index/timeline_table.h"
#include "log/active_segment.h"
#include "store/block_cache.h"
#include "store/catalog.h"
#include "store/dedupe_window.h"
#include "store/sealed_segment.h"
#include "store/timeline_rules.h"
#include "store/unsynced_indexes.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "tldb/file_system.h"
#include "util/striped_counter.h"

namespace tldb {

struct NamespaceCounters {
  std::atomic<uint64_t> appends{0}, deduplicated{0}, groups{0}, syncs{0}, bytes_written{0};
  // Bumped by every read, on any thread: striped, so that reads do not share a cache line.
  StripedCounter gets, scans;
  std::atomic<uint64_t> mutations{0};
  std::atomic<uint64_t> segments_expired{0}, compactions{0}, compaction_bytes_read{0},
      compaction_bytes_written{0};
  std::atomic<uint64_t> prezero_skipped{0};
  // Zeros written ahead of the active segment's records (SegmentPreparer; the prefix a new
  // segment is created with included).
  std::atomic<uint64_t> prezero_ahead_bytes{0};
  // Rolls that wrote their index over an index spare (SegmentPreparer).
  std::atomic<uint64_t> index_spare_rolls{0};
  std::atomic<uint64_t> index_buffer_rolls{0};
  std::atomic<uint64_t> records_written_back_bytes{0};
  // Rolls of the active segment, and the microseconds the group-commit leader spent in them
  // (every append in flight waits for a roll).
  std::atomic<uint64_t> rolls{0}, roll_us{0};
  // The scrub (store/scrubber.h): sealed segments checked, bytes read, segments found damaged
  // (each time the scrub finds one), passes completed.
  std::atomic<uint64_t> scrub_segments_verified{0}, scrub_bytes_read{0}, scrub_damaged_segments{0},
      scrub_passes_completed{0};
};

class NamespaceState {
 public:
  NamespaceState(const std::string& db_dir, const CatalogEntry& entry, const Options& db_options,
                 std::shared_ptr<FileSystem> fs, std::shared_ptr<Clock> clock);
  NamespaceState(const NamespaceState&) = delete;
  NamespaceState& operator=(const NamespaceState&) = delete;

  // ---- fixed at open ----
  const std::string dir;
  const CatalogEntry entry;
  const Options& db_options;
  const std::shared_ptr<FileSystem> fs;
  const std::shared_ptr<Clock> clock;
  // Unique among every namespace of the process: cached blocks of another store (or of this
  // namespace before a reopen) never match.
  const uint32_t instance_id;

  // ---- guarded by mu ----
  mutable std::shared_mutex mu;
  TimelineTable table;
  std::unique_ptr<ActiveSegment> active;
  std::map<uint64_t, std::unique_ptr<SealedSegment>> sealed;
  DedupeWindow dedupe;
  uint64_t published_end = 0;  // readers see active records below this offset
  TimelineRules rules;

  // ---- run-time options (Db::SetNamespaceOptions) ----
  void SetOptions(const NamespaceOptions& o);
  NamespaceOptions options() const;
  uint64_t ttl_ms() const { return ttl_ms_.load(std::memory_order_relaxed); }
  uint64_t segment_bytes_max() const { return segment_bytes_max_.load(); }
  Durability durability() const { return durability_.load(); }
  // The rules' limits now (one TTL clock reading).
  TimelineRules::Limits Limits() const {
    TimelineRules::Limits l;
    l.ttl_ms = ttl_ms();
    l.messages_per_timeline_max = per_timeline_max_.load(std::memory_order_relaxed);
    if (l.ttl_ms != 0) l.now_ms = TtlNowMs();
    return l;
  }
  // Which timelines compaction keeps (Db::SetTimelineOwnership; null: every timeline). Setting
  // it is a pointer swap; a compaction run judges against the one it read first.
  void SetOwnership(std::shared_ptr<const TimelineOwnership> owned);
  std::shared_ptr<const TimelineOwnership> Ownership() const;
  // Bumped by every SetOwnership: a live percentage cached before it is stale.
  uint64_t ownership_gen() const { return ownership_gen_.load(); }
  // The TTL clock (docs/design.md "Time"): never ahead of the wall clock and never advancing
  // faster than the monotonic clock since open.
  TimestampMs TtlNowMs() const;

  // ---- helpers (caller holds mu where they read guarded state) ----
  const SealedSegment* Sealed(uint32_t id) const {
    auto it = sealed.find(id);
    return it == sealed.end() ? nullptr : it->second.get();
  }
  Seq FirstKept(uint32_t timeline, const TimelineRules::Limits& l) const {
    return rules.FirstKept(timeline, table.state(timeline).visible_seq(), l);
  }
  std::string SegmentName(uint64_t id) const;
  void Event(const std::string& what) const;
  // Syncs the index files rolls left unsynced (unsynced_indexes); a failure is reported as an
  // event, not returned: the index in memory is right, and a damaged file is rebuilt at open.
  // `writeback_bytes_per_s`: see UnsyncedIndexes::SyncAll (0: at once).
  void SyncIndexes(uint64_t writeback_bytes_per_s = 0);

  // A follower takes only frames shipped by its primary (Db::ApplyFrame) and never rolls on its
  // own; a primary (or a single node) takes everything else.
  std::atomic<bool> follower{false};
  // Sealed segments with an id at or above this stay as written — neither compacted nor dropped
  // by TTL — because a follower still needs them frame by frame (Db::RetainLogFrom).
  std::atomic<uint64_t> retain_from{UINT64_MAX};

  NamespaceCounters counters;
  // Index files written by rolls, not yet fdatasync'ed (thread-safe; see there).
  UnsyncedIndexes unsynced_indexes;
  // Set right after open, before any append or read.
  std::function<void()> on_seal;            // after a seal, on the writing thread; must not block
  std::shared_ptr<BlockCache> block_cache;  // the Db's shared cache of decompressed blocks

 private:
  mutable std::mutex opts_mu_;
  NamespaceOptions opts_;
  std::atomic<uint64_t> ttl_ms_{0}, per_timeline_max_{0}, segment_bytes_max_{0};
  std::atomic<Durability> durability_{Durability::kSync};
  std::shared_ptr<const TimelineOwnership> owned_;  // guarded by opts_mu_
  std::atomic<uint64_t> ownership_gen_{0};
  int64_t ttl_anchor_wall_ms_ = 0, ttl_anchor_mono_ms_ = 0;  // the TTL clock at open
};

}  // namespace tldb
