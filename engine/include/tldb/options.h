// Options for opening a Db, for namespaces, and for individual calls. Every limit carries its
// unit in its name and a comment saying why it is what it is.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tldb/status.h"
#include "tldb/types.h"

namespace tldb {

class FileSystem;  // the I/O seam, tldb/file_system.h
class LogShipper;  // replication, tldb/replication.h
class Clock;       // wall clock, tldb/clock.h

// Hard ceilings that no option can exceed (they size on-disk fields and buffers).
inline constexpr uint32_t kTimelineKeyBytesMax = 255;        // key length is one byte on disk
inline constexpr uint32_t kClientMsgIdBytesMax = 64;         // dedupe ids are short (UUIDs are 36)
inline constexpr uint32_t kPayloadBytesCeiling = 16u << 20;  // 16 MiB: bounds one record
inline constexpr uint32_t kNamespaceNameBytesMax = 64;
inline constexpr uint64_t kSegmentBytesMin = 64u << 10;       // below this, headers dominate
inline constexpr uint64_t kSegmentBytesCeiling = 1ull << 31;  // offsets are 32-bit on disk
inline constexpr uint32_t kFanoutTimelinesCeiling = 100'000;
inline constexpr uint32_t kCompressBlockBytesMin = 4u << 10;  // below this zstd gains little
inline constexpr uint32_t kCompressBlockBytesMax = 4u << 20;  // one block is read per lookup

// Per-namespace options, persisted in the data directory's catalog.
struct NamespaceOptions {
  // Messages older than this are expired (0 = kept forever): reads stop returning them at once
  // and whole segments are deleted once their newest record is older (docs/design.md "TTL").
  // Can be changed at run time (Db::SetNamespaceOptions).
  uint64_t ttl_ms = 0;
  // Keep only the newest N messages of each timeline (0 = no limit). Older ones are hidden from
  // reads at once and their bytes are reclaimed by compaction. Can be changed at run time.
  uint64_t messages_per_timeline_max = 0;
  // Compaction rewrites a sealed segment once less than this percentage of its bytes is live
  // (recalled, edited-over, trimmed, deleted and expired records are dead). 50: a rewrite then
  // at least halves the segment, so write amplification stays at most 2x per rewrite.
  uint32_t compact_live_pct = 50;
  // Compacted segments are stored as zstd-compressed blocks of about this many uncompressed
  // bytes. 16 KiB: a 50-message history scan decompresses one or two blocks (a few us each) on
  // a cache miss; 64 KiB compresses ~8% better but costs 4x the decompression per miss
  // (docs/benchmarks.md, compaction run).
  uint32_t compress_block_bytes = 16u << 10;
  // zstd level for compacted blocks (1..19). 1: ~400 MB/s, most of the ratio.
  int32_t compress_level = 1;

  bool operator==(const NamespaceOptions&) const = default;
  // The active segment rolls once it holds this many bytes. 64 MiB: big enough that a roll
  // (index write, new file, directory fsync: ~1 ms) is rare, small enough that TTL frees space
  // in fine steps and a crash re-scans little.
  uint64_t segment_bytes_max = 64ull << 20;
  // Durability used when a call says Durability::kDefault.
  Durability durability = Durability::kSync;
};

// Namespace names: 1-64 bytes of [a-z0-9_-], not starting with '-'. Names starting with "__"
// are for system namespaces (server cursors, the replicated catalog).
Status ValidateNamespaceName(std::string_view name);
// InvalidArgument naming the field when an option is out of its range.
Status ValidateNamespaceOptions(const NamespaceOptions& options);

struct Options {
  // Create the directory (and an empty catalog) if it does not exist.
  bool create_if_missing = true;
  // I/O backend: "auto" (io_uring, falling back to POSIX when the kernel refuses it),
  // "uring", "posix". Ignored when `file_system` is set.
  std::string io_backend = "auto";
  // Injected file system (tests use the simulated backend). Null: chosen by io_backend.
  std::shared_ptr<FileSystem> file_system;
  // Injected clock (tests). Null: the system wall clock.
  std::shared_ptr<Clock> clock;
  // Largest payload accepted. Default 1 MiB: chat messages are small; bigger blobs belong in
  // object storage. Capped at kPayloadBytesCeiling.
  uint32_t payload_bytes_max = 1u << 20;
  // Most timelines in one AppendFanout (a 10,000-member group). Capped at
  // kFanoutTimelinesCeiling.
  uint32_t fanout_timelines_max = 10'000;
  // Retry-dedupe window. A client_msg_id is remembered while all three hold: it is among the
  // newest dedupe_per_timeline_max messages of its timeline, it is younger than dedupe_age_ms,
  // and it is among the newest dedupe_entries_max ids of the whole Db (the memory bound:
  // about 40 bytes per entry, so the 1M default costs about 40 MiB at most).
  uint32_t dedupe_per_timeline_max = 10'000;
  uint64_t dedupe_age_ms = 24ull * 3600 * 1000;
  uint32_t dedupe_entries_max = 1'000'000;
  // Bytes of pending appends per namespace before new appends get Busy (backpressure).
  uint64_t pending_bytes_max = 64ull << 20;
  // After a synced group of n appends, the next group waits up to this long for n appends to
  // be queued again (the writers just acknowledged need ~20 us to come back). 0 disables it.
  // Bounded by 1/3 of a typical fdatasync here (~170 us) so it cannot cost more than it saves.
  uint32_t group_commit_wait_us = 50;
  // Largest group written by one commit: bounds the commit buffer and one write's latency.
  uint64_t group_bytes_max = 4ull << 20;
  // Groups a namespace's group commit keeps in flight: written, their fdatasync running, not yet
  // published. The next group is written while earlier groups' fdatasyncs run, and groups are
  // published and acknowledged strictly in log order (docs/design.md "Pipelined groups"). This
  // disk completes several times more fdatasyncs per second on one file with 2-4 in flight than
  // with one (bench/sync_overlap_bench.cc, docs/benchmarks.md); more only add threads (one
  // fdatasync thread per group in flight). 1: one group at a time, on the leader's thread.
  // Replicated namespaces (log_shipper set) commit one group at a time regardless.
  uint32_t groups_in_flight_max = 1;
  // How segment blocks are written ahead of the records (zeros, fdatasync'ed), so that
  // group-commit fdatasyncs overwrite written blocks instead of extending the file: on ext4 that
  // halves fdatasync latency (docs/benchmarks.md). The next segment is prepared once the active
  // one is half full; an active segment whose blocks were not prepared (a namespace's first, the
  // one left active at a restart) gets zeros kept ahead of its records; both only while its
  // records are synced densely (docs/design.md "Pre-zeroed segments"). kBackground: by a thread
  // per namespace. kInline: synchronously by the group-commit leader (deterministic; the
  // simulated backend's crash sweeps use it). kOff: segments grow by appending.
  enum class Prezero : uint8_t { kOff, kInline, kBackground };
  Prezero prezero = Prezero::kBackground;
  // Open even if a segment is corrupt before its durable point: the damaged tail is cut and
  // the loss is reported through `on_event`. Off by default: corruption refuses to open.
  bool salvage = false;
  // Open the store even if a namespace fails to open with Corruption: that namespace is
  // refused (every request naming it answers its Corruption status, which names the namespace,
  // the file and the offset; DbStats::refused_namespaces lists it; on_event reports it) while
  // the others serve. Off by default: Db::Open fails. tldb-server sets it on a single node; a
  // replica in cluster mode does not (a partial log must not vote or serve: docs/replication.md).
  bool refuse_damaged_namespaces = false;
  // Background maintenance: TTL segment drops (scheduled from the oldest segment's expiry) and
  // compaction of segments whose live fraction fell below compact_live_pct. Off: only on
  // demand (Db::Compact).
  bool background_maintenance = true;
  // Whether that maintenance compacts (rewrites sealed segments below compact_live_pct, and
  // compresses those of namespaces kept forever). Off: it still drops expired segments and
  // scrubs, and segments are rewritten only on demand (Db::Compact), at a quiet hour of the
  // operator's choosing; compaction's CPU (zstd, re-indexing) then never competes with
  // foreground appends (docs/benchmarks.md "Background compaction against foreground appends").
  bool background_compaction = true;
  // Decompressed blocks of compacted segments kept in memory, shared by all readers. 64 MiB:
  // the recent history of tens of thousands of conversations; 0 disables it.
  uint64_t block_cache_bytes = 64ull << 20;
  // Added to the background maintenance thread's nice value (0..19; 0: none). 10: compaction
  // and the scrub yield the CPU to appends and reads (docs/benchmarks.md "Background compaction
  // against foreground appends"). The thread holds a namespace lock (shared) while it plans and
  // decides a compaction, in holds of ~4,096 messages each, so a starved thread delays appends
  // by at most the rest of one hold.
  int maintenance_nice = 10;
  // Compaction budget: bytes read + written per second (0: unpaced). Compaction is CPU-bound
  // (zstd; about 7–12 MB/s of input on this 2-core machine), so the pace bounds its CPU share
  // as much as its disk writes. 8 MiB/s: synced appends lose 7–10% while it runs, buffered
  // ones 22–24% (docs/benchmarks.md "Background compaction against foreground appends"; at
  // 64 MiB/s, synced appends after a large fan-out lost 65%). It keeps up with about 6 MiB/s of new
  // data (some 24k messages of 250 bytes a second, sustained); above that, uncompacted
  // segments wait for a quieter hour (a full COMPACT is paced alike). Raise it where ingest is
  // higher or cores are spare.
  uint64_t compaction_bytes_per_s = 8ull << 20;
  // The pace at which a namespace's preparer thread writes its files back to the device
  // before their fdatasync: a rolled segment's index file, a prepared segment's zeros and each
  // 4 MiB of the active segment's buffered records (0: all at once). A synced append's fdatasync flushes the device's write cache
  // with whatever else was written into it: the 18 MB index of a segment of fan-outs to 2,000
  // members, written back at once, held the first commits after a roll 12-18 ms longer
  // (docs/benchmarks.md "Background files written back at a pace"). 256 MiB/s in steps of 256
  // KiB (indexes) and 1 MiB (zeros) adds about a step to a commit, and writes such an index
  // back in ~70 ms and a prepared segment in ~250 ms, within the time synced appends take to
  // fill half a segment (when it is prepared) even at 2,000 fan-outs a second; faster ingest
  // (buffered) may roll before the zeros are done, and then takes a fallocated segment
  // (DbStats::prezero_skipped). An index is written back at once when another waits, so the
  // pace never lets them pile up.
  uint64_t background_writeback_bytes_per_s = 256ull << 20;
  // Background scrub (docs/design.md "Scrubbing"): every sealed segment and its index file are
  // re-read and re-verified once per this period, so a bit flipped in data nobody reads is
  // found (and its segment quarantined from reads) within a period rather than when a user
  // scrolls back to it. One week: a store of a few TiB is covered at the default pace below.
  // 0: no scrub. Needs background_maintenance.
  uint64_t scrub_period_ms = 7ull * 24 * 3600 * 1000;
  // The scrub's read budget (segment + index bytes per second). 8 MiB/s: an eighth of
  // compaction's budget and about 0.5% of this disk's 1.6 GB/s sequential rate, so foreground
  // fdatasyncs barely queue behind it (docs/benchmarks.md "Scrub"), while a week still covers
  // about 4.8 TiB of segments. Must be > 0 when scrub_period_ms is set.
  uint64_t scrub_bytes_per_s = 8ull << 20;
  // Receives one line per notable event (recovery cuts, corruption, sticky errors, scrub
  // findings).
  std::function<void(std::string_view)> on_event;
  // Replication (tldb/replication.h): every group written is shipped through it and
  // acknowledged only once it returns OK. Null: a single node (the default).
  std::shared_ptr<LogShipper> log_shipper;
  // Open as a follower (Db::SetFollower): local writes are refused with NotPrimary.
  bool follower = false;
};

struct AppendOptions {
  // Retry key (<= kClientMsgIdBytesMax bytes). Empty: no deduplication.
  std::string_view client_msg_id;
  // Fail with Conflict unless the timeline's last SeqId equals this.
  std::optional<Seq> expected_last_seq;
  Durability durability = Durability::kDefault;
};

struct ScanOptions {
  // Inclusive SeqId bounds; 0 means open (from the first / to the last).
  Seq from_seq = 0;
  Seq to_seq = 0;
  Direction direction = Direction::kForward;
  // At most this many messages ...
  uint32_t limit = 100;
  // ... and stop once this many payload bytes are collected (at least one message is returned
  // when any matches).
  uint64_t bytes_max = 4ull << 20;
};

}  // namespace tldb
