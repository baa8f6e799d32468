// Kill points: named places in the engine where a test can make the process die (SIGKILL) at the
// n-th time the place is reached, to check recovery at every write, fdatasync, rename, unlink and
// acknowledgement (docs/reliability.md "Kill points").
//
// Contract: TLDB_KILL_POINT(name) costs one relaxed atomic load when nothing is armed (always
// compiled in; nothing is armed outside tests). `name` must be listed in kKillPointNames
// (kill_point.cc), so a test can report how many of all points it reached.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

namespace tldb {

// Every kill point, for coverage reports.
std::span<const std::string_view> KillPointNames();
// Dies with SIGKILL at the `nth` (1-based) hit of `name` in this process.
void ArmKillPoint(std::string_view name, uint64_t nth);
// Counts hits of every point from now on (for a dry run that finds which points a workload
// reaches); read with KillPointHits().
void TraceKillPoints();
std::map<std::string, uint64_t> KillPointHits();

namespace internal {
void KillPointSlow(const char* name);
bool KillPointsActive();
}  // namespace internal

#define TLDB_KILL_POINT(name)                                                        \
  do {                                                                               \
    if (::tldb::internal::KillPointsActive()) ::tldb::internal::KillPointSlow(name); \
  } while (0)

}  // namespace tldb
