#include "served_log.h"

#include <algorithm>

namespace tldb::faults {

Status ServedLog::Served(Client& c, uint16_t slot, std::string_view what,
                         const std::function<Status()>& op) {
  auto before = c.ClusterMap();
  if (!before.ok()) return before.status();
  Status s = op();
  if (!s.ok()) return s;
  auto after = c.ClusterMap();
  Add(ServedRecord{c.server_address(), slot, before->version(), after.ok() ? after->version() : 0,
                   std::string(what)});
  return s;
}

void ServedLog::Add(ServedRecord r) {
  std::lock_guard l(mu_);
  records_.push_back(std::move(r));
}

std::vector<ServedRecord> ServedLog::records() const {
  std::lock_guard l(mu_);
  return records_;
}

std::vector<std::string> ServedLog::Check(const std::map<uint64_t, proto::SlotMap>& history,
                                          const std::map<std::string, uint32_t>& servers) const {
  std::vector<std::string> v;
  if (history.empty()) return {"no slot map history to check the answers against"};
  const uint64_t newest = history.rbegin()->first;
  for (const ServedRecord& r : records()) {
    const std::string where =
        "'" + r.what + "' (slot " + std::to_string(r.slot) + ") answered by " + r.server;
    auto id = servers.find(r.server);
    if (id == servers.end()) {
      v.push_back(where + ": not a server of the cluster");
      continue;
    }
    const uint64_t last = r.version_after == 0 ? newest : r.version_after;
    bool owned = false;
    std::string owners;
    for (uint64_t ver = r.version_before; ver <= last && !owned; ++ver) {
      auto m = history.find(ver);
      if (m == history.end()) {
        owners += " v" + std::to_string(ver) + ": not in the history;";
        continue;
      }
      const proto::PartitionEntry& p = m->second.Owner(r.slot);
      owned = std::find(p.replicas.begin(), p.replicas.end(), id->second) != p.replicas.end();
      owners += " v" + std::to_string(ver) + ": partition " + std::to_string(p.id) + ";";
    }
    if (!owned) {
      v.push_back(where + " (server " + std::to_string(id->second) + ") between map versions " +
                  std::to_string(r.version_before) + " and " + std::to_string(last) +
                  ", holding no replica of the slot's partition at any of them:" + owners);
    }
  }
  return v;
}

}  // namespace tldb::faults
