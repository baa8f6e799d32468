#include "util/kill_point.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "util/check.h"

namespace tldb {
namespace {

constexpr std::string_view kNames[] = {
    // group commit (namespace_write.cc)
    "commit.before_write",
    "commit.after_write",
    "commit.after_sync",
    "commit.after_ack",
    // segment roll
    "roll.after_seal_sync",
    "roll.after_index",
    "roll.after_create",
    // prepared segments (namespace_prepare.cc)
    "prepare.after_zeros",
    "prepare.before_rename",
    // atomic file replacement (catalog, index files, FLOORS, COMPACT)
    "atomic.after_tmp_sync",
    "atomic.after_rename",
    // TTL (namespace_ttl.cc)
    "ttl.after_floors",
    "ttl.after_index_unlink",
    "ttl.after_segment_unlink",
    // compaction (namespace_compact.cc)
    "compact.after_output_sync",
    "compact.after_floors",
    "compact.after_commit",
    "compact.after_switch",
    "compact.after_input_unlink",
    "compact.after_commit_unlink",
    // recovery at open (namespace_recovery.cc)
    "recover.after_cleanup",
    "recover.after_index_rebuild",
    "recover.after_tail_cut",
    "recover.after_active_sync",
    // graceful close (namespace_log.cc)
    "close.before_sync",
    "close.after_sync",
    "close.after_file_close",
};

std::atomic<bool> active{false};
std::mutex mu;
std::string armed_name;
uint64_t armed_nth = 0;
bool tracing = false;
std::map<std::string, uint64_t> hits;

}  // namespace

std::span<const std::string_view> KillPointNames() {
  return kNames;
}

void ArmKillPoint(std::string_view name, uint64_t nth) {
  std::lock_guard l(mu);
  armed_name = std::string(name);
  armed_nth = nth;
  active = true;
}

void TraceKillPoints() {
  std::lock_guard l(mu);
  tracing = true;
  hits.clear();
  active = true;
}

std::map<std::string, uint64_t> KillPointHits() {
  std::lock_guard l(mu);
  return hits;
}

namespace internal {

bool KillPointsActive() {
  return active.load(std::memory_order_relaxed);
}

void KillPointSlow(const char* name) {
  TLDB_CHECK(std::find(std::begin(kNames), std::end(kNames), std::string_view(name)) !=
             std::end(kNames));
  std::lock_guard l(mu);
  const uint64_t n = ++hits[name];
  if (!armed_name.empty() && armed_name == name && n == armed_nth) {
    ::kill(::getpid(), SIGKILL);
    ::_exit(137);  // not reached
  }
}

}  // namespace internal
}  // namespace tldb
