// Scrubber: one namespace's background scrub (docs/design.md "Scrubbing"). Once per
// Options::scrub_period_ms it re-reads every sealed segment and its index file and checks them
// by the rule `tldb verify` applies (index/sealed_check.h): record or block checksums (which
// cover header and identity), the header, and the index against the records. A segment found
// damaged is reported (Options::on_event, in verify's words: file, offset, what), counted
// (NamespaceCounters::scrub_*) and quarantined: reads that need it answer Corruption naming the
// file and offset, and compaction leaves it alone. Report only: nothing is repaired or fetched
// from a replica.
//
// A pass covers the sealed segments that exist when it starts; a segment sealed later waits for
// the next pass, so a store being filled is not re-read behind its writer. A namespace opened
// with nothing sealed and no SCRUB file (a new one) counts as checked then: its first pass comes
// a period later; one opened with sealed segments and no SCRUB file is due at once. A compaction
// output takes its first input's id and is covered when that id is.
//
// Pacing: the maintenance thread calls Step with a byte budget per tick (scrub_bytes_per_s
// spread over ticks); Step reads at most that many bytes (segment and index through
// FileSystem::OpenReadable, in chunks) and keeps a partly read segment for the next Step. The
// position is persisted in the namespace's SCRUB file (store/scrub_file.h) at most every
// kPersistMs, when a pass ends, when a quarantine changes and at Close, so a restart resumes
// the pass where it stood (a crash repeats at most kPersistMs of work). Quarantines remembered
// there are set again at open and those segments are checked again before anything else.
//
// Contract: Load, Step, Persist and Close are called by one thread at a time (NamespaceLog's
// scrub mutex). No lock is held across I/O or a check: NamespaceState::mu is taken shared to
// pick the next segment and exclusively only to set or lift a quarantine (no I/O inside).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "index/index_check.h"
#include "store/namespace_state.h"
#include "store/scrub_file.h"

namespace tldb {

struct ScrubStepResult {
  uint64_t bytes_read = 0;         // segment and index bytes read by this step
  uint64_t segments_verified = 0;  // segments whose check finished in this step
  uint64_t segments_damaged = 0;   // ... and were found damaged
  bool pass_completed = false;     // the pass ended in this step
};

class Scrubber {
 public:
  // Persist the position at most this often while a pass runs (each write is a tmp file,
  // fdatasync, rename and directory fsync: a few fsyncs that foreground appends queue behind).
  static constexpr int64_t kPersistMs = 10'000;
  // Largest single read: a tick's budget is read in chunks of at most this.
  static constexpr uint64_t kReadChunkBytes = 1u << 20;

  explicit Scrubber(NamespaceState& st) : st_(st) {}
  Scrubber(const Scrubber&) = delete;
  Scrubber& operator=(const Scrubber&) = delete;

  // Reads the SCRUB file: the position and the remembered quarantines (set again on the sealed
  // segments that still exist). At open, after recovery, before any read.
  Status Load();
  // Reads and checks at most `bytes_budget` bytes of sealed segments and index files, starting
  // a new pass if one is due (`force`: even if not due).
  Status Step(uint64_t bytes_budget, bool force, ScrubStepResult* out);
  // Milliseconds until the scrub has work: 0 while a pass runs or is due, or a remembered
  // quarantine waits to be checked again; INT64_MAX when the scrub is off (scrub_period_ms 0).
  int64_t DueInMs() const;
  // Writes the SCRUB file now if the state changed since it was last written.
  Status Persist();
  const ScrubState& state() const { return state_; }

 private:
  struct Current {
    uint64_t id = 0;
    uint32_t gen = 0;
    std::string seg_path, idx_path;
    std::unique_ptr<ReadableFile> seg, idx;
    bool has_idx = false;  // false: the index file does not exist
    bool recheck = false;  // a remembered quarantine checked again: the pass does not advance
    uint64_t seg_size = 0, idx_size = 0;
    std::string seg_bytes, idx_bytes;
    std::optional<CheckProblem> read_error;  // the disk refused a read
  };
  // Milliseconds until the next pass is due (0: one runs or is due).
  int64_t PassDueInMs() const;
  // The next segment: a remembered quarantine to check again, else (in a pass) the first sealed
  // segment with state_.next_segment_id <= id < pass_end_id_ (false: none left).
  Result<bool> Pick();
  // One past the highest sealed id now: a pass covers the segments sealed when it started.
  uint64_t SealedEndId() const;
  // Reads up to `budget` more bytes of the current segment; sets *done once all is read.
  Status ReadSome(uint64_t budget, uint64_t* read, bool* done);
  // Checks the fully read current segment, reports, (un)quarantines; advances the position.
  void Finish(ScrubStepResult* out);
  void MaybePersist(bool now);

  NamespaceState& st_;
  ScrubState state_;
  std::optional<Current> cur_;
  std::vector<uint64_t> recheck_;  // quarantines remembered at open, to check again first
  // The pass covers sealed ids below this: set when it starts, and again at Load when a pass is
  // resumed (not persisted: a resumed pass also covers what was sealed before the restart).
  uint64_t pass_end_id_ = 0;
  bool dirty_ = false;
  int64_t persisted_mono_ms_ = 0;
};

}  // namespace tldb
