// EngineEvents: what the engine reported through Options::on_event, kept for the metrics
// endpoint: a count of its event lines by kind, and the namespaces it reported read-only (a
// segment write or fdatasync failed: the namespace's log refuses writes until the process
// restarts) or out of space (appends fail until space is freed and reserved again).
//
// Contract: Note() is thread-safe and cheap (one lock, a few string compares); engine threads
// call it with every event line. The engine's event lines are text meant for a log, so the kinds
// are recognised by the fixed parts of those lines (engine/src/store/group_commit.cc,
// segment_expirer.cc, maintenance_scheduler.cc, namespace_log.cc, namespace_recovery.cc,
// scrubber.cc); a line of no known shape counts as kOther.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace tldb {

class EngineEvents {
 public:
  enum class Kind : uint8_t {
    kWriteFailed = 0,    // "namespace 'NS': write failed, log is now read-only: ..."
    kNoSpace,            // "namespace 'NS': no space, appends fail until space is freed: ..."
    kSpaceResumed,       // "namespace 'NS': space reserved again, appends resume"
    kTtlDrop,            // "ttl: dropping expired FILE"
    kCompactionFailed,   // "namespace 'NS': compaction failed: ..."
    kMaintenanceFailed,  // "maintenance of 'NS': ..."
    kRecovery,           // "recovery: ...", "salvage: ...", "rebuilding index of ..."
    kOther,
    kScrub,  // "namespace 'NS': scrub: ..." (a finding, a quarantine, a failed position write)
  };
  static constexpr int kKinds = 9;
  // "write_failed", "no_space", ...: the metric label of a kind.
  static std::string_view KindName(Kind kind);

  struct Snapshot {
    std::array<uint64_t, kKinds> counts{};
    std::set<std::string> read_only;  // namespaces whose log refuses writes
    std::set<std::string> no_space;   // namespaces whose appends fail for lack of space
  };

  void Note(std::string_view line);
  Snapshot Get() const;

 private:
  mutable std::mutex mu_;
  Snapshot state_;
};

}  // namespace tldb
