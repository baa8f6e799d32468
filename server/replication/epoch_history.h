// EpochHistory: where each epoch's frames begin in one namespace's log (docs/replication.md
// "Fencing"). Within an epoch only that epoch's primary writes, and a replica applies frames
// only at its own log's end, so two replicas whose histories agree on an epoch's start hold
// the same bytes for that epoch as far as both have them. A follower adopts its primary's
// history when it joins, so its log and history always describe a prefix of the primary's.
//
// Contract: a value type; not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "tldb/replication.h"

namespace tldb::repl {

struct EpochStart {
  uint64_t epoch = 0;
  LogPosition start;
  bool operator==(const EpochStart&) const = default;
};

class EpochHistory {
 public:
  EpochHistory() = default;
  explicit EpochHistory(std::vector<EpochStart> entries) : entries_(std::move(entries)) {}

  const std::vector<EpochStart>& entries() const { return entries_; }
  // Epochs grow, starts never go back. False (nothing changed) otherwise.
  [[nodiscard]] bool Append(uint64_t epoch, LogPosition start);
  // The epoch that wrote the last byte before `end` (0: nothing written in any epoch).
  uint64_t LastEpoch(LogPosition end) const;
  // Forgets epochs that start after `end` (the log was cut there, or lost unsynced bytes).
  void TruncateTo(LogPosition end);

  // The end of the longest prefix two logs share, given each one's history and end.
  static LogPosition CommonPrefix(const EpochHistory& a, LogPosition a_end, const EpochHistory& b,
                                  LogPosition b_end);
  // Orders logs for a new primary's choice: the later last epoch wins, then the longer log.
  static bool Better(const EpochHistory& a, LogPosition a_end, const EpochHistory& b,
                     LogPosition b_end);

  bool operator==(const EpochHistory&) const = default;

 private:
  std::vector<EpochStart> entries_;
};

}  // namespace tldb::repl
