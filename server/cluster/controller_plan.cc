#include "cluster/controller_plan.h"

#include <algorithm>
#include <tuple>

namespace tldb::cluster {

ReplacementDecision ControllerPlan::NextReplacement(const proto::SlotMap& map,
                                                    const ReplacementInput& in) {
  ReplacementDecision out;
  if (in.replace_after_ms <= 0) return out;
  std::map<uint32_t, uint32_t> replicas, primaries;  // server id -> count
  for (const proto::PartitionEntry& p : map.partitions()) {
    for (uint32_t s : p.replicas) replicas[s]++;
    if (p.primary != proto::kNoServer) primaries[p.primary]++;
  }
  for (const proto::PartitionEntry& p : map.partitions()) {
    for (uint32_t k = 0; k < p.replicas.size(); ++k) {
      const uint32_t s = p.replicas[k];
      const auto absent = in.absent_ms.find(s);
      if (in.registered.count(s) != 0 || absent == in.absent_ms.end() ||
          absent->second < in.replace_after_ms) {
        continue;
      }
      const std::string what = "partition " + std::to_string(p.id) + ": replica " +
                               std::to_string(k) + " on server " + std::to_string(s) +
                               " (gone) is not replaced";
      size_t live = 0;
      for (uint32_t r : p.replicas) {
        if (r != s && in.registered.count(r) != 0 && (!in.votes || in.votes(p.id, r))) ++live;
      }
      if (live * 2 <= p.replicas.size()) {
        out.blocked.push_back(what + ": only " + std::to_string(live) + " of its " +
                              std::to_string(p.replicas.size()) +
                              " replicas are registered voters, not a majority");
        continue;
      }
      std::optional<uint32_t> best;
      auto load = [&](uint32_t t) { return std::make_tuple(replicas[t], primaries[t], t); };
      for (uint32_t t : in.registered) {
        if (std::find(p.replicas.begin(), p.replicas.end(), t) != p.replicas.end()) continue;
        if (!best || load(t) < load(*best)) best = t;
      }
      if (!best) {
        out.blocked.push_back(what + ": every registered server holds a replica of partition " +
                              std::to_string(p.id));
        continue;
      }
      if (!out.move) out.move = Replacement{p.id, s, *best, k, absent->second};
    }
  }
  return out;
}

bool ControllerPlan::PrimariesUneven(const proto::SlotMap& serving,
                                     const std::set<uint32_t>& registered, std::string* why) {
  std::map<uint32_t, uint32_t> primaries;  // every server holding a replica -> its primaries
  for (const proto::PartitionEntry& p : serving.partitions()) {
    if (p.primary == proto::kNoServer) return false;
    for (uint32_t s : p.replicas) {
      if (registered.count(s) == 0) return false;
      primaries[s] += 0;
    }
    primaries[p.primary]++;
  }
  if (primaries.empty()) return false;
  const auto [lo, hi] =
      std::minmax_element(primaries.begin(), primaries.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; });
  if (hi->second - lo->second <= 1) return false;
  if (why != nullptr) {
    *why = "server " + std::to_string(hi->first) + " has " + std::to_string(hi->second) +
           " primaries, server " + std::to_string(lo->first) + " " + std::to_string(lo->second);
  }
  return true;
}

}  // namespace tldb::cluster
