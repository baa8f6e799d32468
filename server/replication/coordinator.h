// Coordinator: the decisions that need agreement between machines, made by etcd
// (docs/replication.md "What etcd holds"): who leads the partition, under which epoch. The
// leader key lives on the leader's lease; its creation revision is the epoch, so a re-created
// key always has a higher one. Implementations: EtcdCoordinator (tldb-server) and
// SimCoordinator (tests).
//
// Every call may fail (etcd unreachable: IOError or TimedOut); a replica then changes nothing
// it would need etcd's agreement for: no election starts, and a primary goes on.
#pragma once

#include <cstdint>
#include <optional>

#include "tldb/status.h"

namespace tldb::repl {

struct LeaderInfo {
  bool present = false;  // false: no leader key (none elected, or its lease expired)
  uint32_t node = 0;
  uint64_t epoch = 0;
};

class Coordinator {
 public:
  virtual ~Coordinator() = default;
  // Creates the leader key for `node` on its lease if there is none. Returns the key's holder
  // afterwards: `node` itself (with the new epoch) if it won, the other holder otherwise.
  virtual Result<LeaderInfo> Campaign(uint32_t node) = 0;
  // The leader key as `node` sees it.
  virtual Result<LeaderInfo> Leader(uint32_t node) = 0;
  // Deletes the leader key if it is still the one of `epoch` (a later leader's key stays).
  virtual Status Resign(uint32_t node, uint64_t epoch) = 0;
  // Keeps `node`'s lease alive (called every tick); an error means it may have expired.
  virtual Status KeepAlive(uint32_t node) = 0;
  // A planned switchover (`tldb cluster promote`): the replica asked to lead, if any. The
  // primary hands over to it once it has the whole log; the new primary clears the request.
  virtual Result<std::optional<uint32_t>> PromoteTarget(uint32_t node) = 0;
  virtual Status ClearPromote(uint32_t node) = 0;
  // Whether the partition ever served: a primary marks it (idempotently) before it first
  // serves, and the mark is never removed. A replica that finds no durable state of its own
  // (an empty disk) asks, and joins as a learner if it did: it may have lost what it promised
  // and acknowledged (docs/replication.md "Learners").
  virtual Result<bool> Initialized(uint32_t node) = 0;
  virtual Status MarkInitialized(uint32_t node) = 0;
};

}  // namespace tldb::repl
