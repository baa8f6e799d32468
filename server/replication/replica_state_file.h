// ReplicaStateFile: what a replica keeps durably beside its data directory's logs
// (docs/replication.md "Durable replica state"): the highest epoch it promised (it never
// accepts frames of a lower one again), each namespace's epoch history and the version of
// the replicated catalog it applied. Stored as
// DIR/REPLICA (JSON), replaced atomically (write, fdatasync, rename, fsync the directory)
// before the replica acts on a change: a promise is durable before it is answered, and a
// history entry before a frame of its epoch is written.
//
// Contract: a value type with static load/store; the caller serialises stores.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "replication/epoch_history.h"
#include "tldb/file_system.h"
#include "tldb/status.h"

namespace tldb::repl {

// Whether a replica's promises and log count (docs/replication.md "Learners").
enum class Membership : uint8_t {
  kVoter,      // counts towards majorities and may campaign
  kLearner,    // restarted on an empty disk in a partition that had served: it may have lost
               // promises and frames it acknowledged, so it counts for nothing until its
               // primary says it holds every committed frame
  kUndecided,  // no REPLICA file was found and etcd has not yet said whether the partition
               // ever served: a learner until it knows
};

struct ReplicaState {
  uint64_t promised_epoch = 0;
  Membership membership = Membership::kVoter;
  std::map<std::string, EpochHistory, std::less<>> histories;  // by namespace
  // The SeqId, in `__catalog`, of the catalog record this replica's catalog was last made
  // equal to (docs/replication.md "Catalog"): a record known committed. 0: none yet. Stored
  // after the catalog it describes, so it never claims more than the catalog holds.
  uint64_t catalog_seq = 0;
  bool operator==(const ReplicaState&) const = default;
};

class ReplicaStateFile {
 public:
  static std::string PathIn(const std::string& data_dir) { return data_dir + "/REPLICA"; }
  // A missing file is a fresh replica (epoch 0, no history, kUndecided).
  static Result<ReplicaState> Load(FileSystem& fs, const std::string& data_dir);
  static Status Store(FileSystem& fs, const std::string& data_dir, const ReplicaState& s);
  static std::string Encode(const ReplicaState& s);
  static Result<ReplicaState> Decode(std::string_view bytes, const std::string& what);
};

}  // namespace tldb::repl
