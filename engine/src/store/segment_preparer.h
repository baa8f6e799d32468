// SegmentPreparer: writes the next segment's blocks (zeros, fdatasync'ed) ahead of time as
// "<id>.seg.tmp", so that group-commit fdatasyncs overwrite allocated blocks instead of
// extending the file (ext4 must journal every extension). When the active segment rolls,
// SegmentRoller takes the prepared file (TakePrepared) and renames it into place; otherwise it
// reserves a new one with fallocate. A preparation that loses the race with a roll is
// discarded; one left over by a crash is a *.tmp file, deleted at open.
//
// Modes (Options::prezero): kBackground prepares on a thread of its own; kInline (the simulated
// backend's deterministic mode) prepares on the leader's thread; kOff never prepares.
// Thread-safety: MaybePrepareNext is called by the group-commit leader only; TakePrepared by the
// roller (also the leader); the preparer thread shares only what mu_ guards. Stop() joins it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "store/namespace_state.h"

namespace tldb {

class SegmentPreparer {
 public:
  explicit SegmentPreparer(NamespaceState& st) : st_(st) {}
  ~SegmentPreparer() { Stop(); }
  SegmentPreparer(const SegmentPreparer&) = delete;
  SegmentPreparer& operator=(const SegmentPreparer&) = delete;

  void Start();  // the background thread, in kBackground mode
  void Stop();

  // After each group that ended at `end`: once the active segment is half full, asks for its
  // successor, if its records were synced densely enough to pay for the zeros.
  void MaybePrepareNext(uint64_t end);
  // True if "<id>.seg.tmp" is fully prepared; the caller renames it into place.
  bool TakePrepared(uint64_t id);
  std::string PreparedName(uint64_t id) const;

 private:
  void Request(uint64_t id);
  void Loop();
  Status Prepare(uint64_t id);

  NamespaceState& st_;
  uint64_t requested_ = 0;  // leader only: highest segment id asked for

  std::mutex mu_;  // guards the fields below
  std::condition_variable cv_;
  uint64_t request_ = 0;      // next segment id to prepare (0: none)
  uint64_t prepared_id_ = 0;  // "<id>.seg.tmp" is complete
  uint64_t created_id_ = 0;   // highest segment id created
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tldb
