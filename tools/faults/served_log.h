// ServedLog: which server answered each request of a sharded workload, for which slot, and
// between which two of that server's slot map versions; and the check that no request was
// answered by a server that did not hold a replica of the slot's partition at the map version
// it routed by (docs/cluster.md "Servers": a server serves a timeline only when the slot's
// partition at its current map version has a replica on it, and answers MOVED otherwise).
//
// How the version is known: Served() asks the same server for its map (CLUSTER_MAP) right
// before and right after the request, on the same connection, one after another. A server
// answers CLUSTER_MAP from the routing snapshot its requests are routed by, and its versions
// only grow, so the version the request was routed by lies between the two answers
// (version_before <= v <= version_after). When the probe after fails (the server died right
// after answering), v is bounded by the newest version in the history instead.
//
// Contract:
// - Served(c, slot, what, op) runs CLUSTER_MAP, op, CLUSTER_MAP on `c`; returns the first probe's
//   error (nothing sent) or op's status; records the answer only when op succeeded. op must
//   send exactly one request naming `slot` (for a fan-out: its home slot) on `c`.
// - Check(history, servers) returns one line per record for which no version v in
//   [version_before, version_after] of `history` (every version of the map, from etcd) lists
//   the answering server (its address mapped to its id by `servers`) among the replicas of the
//   partition owning the slot at v; a version missing from the history, or an address not in
//   `servers`, is a violation too (the answer cannot be vouched for).
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/slot_map.h"
#include "tldb/client.h"
#include "tldb/status.h"

namespace tldb::faults {

struct ServedRecord {
  std::string server;  // the answering server's address
  uint16_t slot = 0;
  uint64_t version_before = 0;
  uint64_t version_after = 0;  // 0: the probe after the answer failed (unknown)
  std::string what;            // the request, for the report
};

class ServedLog {
 public:
  Status Served(Client& c, uint16_t slot, std::string_view what, const std::function<Status()>& op);
  std::vector<std::string> Check(const std::map<uint64_t, proto::SlotMap>& history,
                                 const std::map<std::string, uint32_t>& servers) const;
  std::vector<ServedRecord> records() const;
  // Adds a record as Served() would (for tests of the checker).
  void Add(ServedRecord r);

 private:
  mutable std::mutex mu_;
  std::vector<ServedRecord> records_;
};

}  // namespace tldb::faults
