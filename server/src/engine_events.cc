// EngineEvents: the engine's event lines, counted by kind (declared in tldb/engine_events.h).
#include "tldb/engine_events.h"

namespace tldb {

namespace {

// The namespace name of a line that starts with `prefix` + NAME + "'"; empty otherwise.
std::string_view QuotedName(std::string_view line, std::string_view prefix) {
  if (!line.starts_with(prefix)) return {};
  line.remove_prefix(prefix.size());
  size_t end = line.find("': ");
  return end == std::string_view::npos ? std::string_view{} : line.substr(0, end);
}

}  // namespace

std::string_view EngineEvents::KindName(Kind kind) {
  switch (kind) {
    case Kind::kWriteFailed:
      return "write_failed";
    case Kind::kNoSpace:
      return "no_space";
    case Kind::kSpaceResumed:
      return "space_resumed";
    case Kind::kTtlDrop:
      return "ttl_drop";
    case Kind::kCompactionFailed:
      return "compaction_failed";
    case Kind::kMaintenanceFailed:
      return "maintenance_failed";
    case Kind::kRecovery:
      return "recovery";
    case Kind::kScrub:
      return "scrub";
    case Kind::kOther:
      break;
  }
  return "other";
}

void EngineEvents::Note(std::string_view line) {
  Kind kind = Kind::kOther;
  std::string_view ns = QuotedName(line, "namespace '");
  std::string_view rest = ns.empty() ? std::string_view{} : line.substr(11 + ns.size() + 3);
  if (!ns.empty() && rest.starts_with("write failed, log is now read-only")) {
    kind = Kind::kWriteFailed;
  } else if (!ns.empty() && rest.starts_with("no space, appends fail")) {
    kind = Kind::kNoSpace;
  } else if (!ns.empty() && rest.starts_with("space reserved again")) {
    kind = Kind::kSpaceResumed;
  } else if (!ns.empty() && rest.starts_with("scrub: ")) {
    kind = Kind::kScrub;
  } else if (!ns.empty() && rest.starts_with("compaction failed")) {
    kind = Kind::kCompactionFailed;
  } else if (line.starts_with("ttl: dropping expired")) {
    kind = Kind::kTtlDrop;
  } else if (!QuotedName(line, "maintenance of '").empty()) {
    kind = Kind::kMaintenanceFailed;
  } else if (line.starts_with("recovery: ") || line.starts_with("salvage: ") ||
             line.starts_with("rebuilding index of ")) {
    kind = Kind::kRecovery;
  }
  std::lock_guard lock(mu_);
  state_.counts[static_cast<int>(kind)]++;
  switch (kind) {
    case Kind::kWriteFailed:
      state_.read_only.emplace(ns);
      break;
    case Kind::kNoSpace:
      state_.no_space.emplace(ns);
      break;
    case Kind::kSpaceResumed:
      state_.no_space.erase(std::string(ns));
      break;
    default:
      break;
  }
}

EngineEvents::Snapshot EngineEvents::Get() const {
  std::lock_guard lock(mu_);
  return state_;
}

}  // namespace tldb
