// ControllerPlan: the controller's decisions as pure functions (docs/cluster.md "The
// controller"), so that every rule is tested without servers:
//   NextReplacement: which replica of a server gone too long moves next, and where to; and, for
//   every replacement that is due but cannot be made, why not.
//   PrimariesUneven: whether the primaries are spread badly enough for a rebalance.
//
// The replacement rules, over a map, the registered servers (servers/<id> present) and how long
// the controller has itself seen each listed server absent:
//   - due: a server listed in some partition, not registered, absent for at least
//     replace_after_ms (replace_after_ms <= 0: never);
//   - partitions in id order, each due replica in position order; the first that may move is the
//     move, one at a time;
//   - it may move only when the partition's other replicas that are registered and vote (the
//     `votes` predicate; a learner still catching up does not count) are a majority of its
//     replicas: a move never leaves a partition without a majority of live voters;
//   - the target: a registered server without a replica of the partition, the least loaded:
//     fewest replicas in the map, then fewest primaries, then the lowest id. None: not moved.
//
// Contract: pure (the predicate is called, nothing else); the same input gives the same answer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "protocol/slot_map.h"

namespace tldb::cluster {

struct ReplacementInput {
  std::set<uint32_t> registered;          // server ids with a servers/<id> key
  std::map<uint32_t, int64_t> absent_ms;  // server id -> how long the controller saw it absent
  int64_t replace_after_ms = 60'000;      // <= 0: never replace
  // Whether server `server`'s replica of `partition` votes (is not a learner). Null: every
  // registered replica votes.
  std::function<bool(uint32_t partition, uint32_t server)> votes;
};

struct Replacement {
  uint32_t partition = 0;
  uint32_t from = 0;  // the absent server
  uint32_t to = 0;    // the least-loaded registered server without a replica of the partition
  uint32_t node = 0;  // the replica's position in the partition
  int64_t absent_ms = 0;
};

struct ReplacementDecision {
  std::optional<Replacement> move;
  // One line per due replacement that cannot be made now, with why (no time in it: the same
  // reason reads the same in every round, so it is logged once).
  std::vector<std::string> blocked;
};

class ControllerPlan {
 public:
  // `map` with primaries (SlotMapStore::Serving) for the primaries tie-break (else none count).
  static ReplacementDecision NextReplacement(const proto::SlotMap& map, const ReplacementInput& in);
  // True (with the spread in `why`) when every partition has a primary, every server listed in
  // the map is registered, and among the servers holding replicas the most primaries on one
  // exceeds the fewest on another by more than one. Otherwise false: a rebalance would fight a
  // failover or put a primary on a server that is gone.
  static bool PrimariesUneven(const proto::SlotMap& serving, const std::set<uint32_t>& registered,
                              std::string* why);
};

}  // namespace tldb::cluster
