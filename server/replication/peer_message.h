// PeerMessage: what replicas of one partition say to each other (docs/replication.md "Messages").
// One struct for every type; each type uses the fields its comment names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "replication/epoch_history.h"
#include "tldb/db.h"
#include "tldb/replication.h"

namespace tldb::repl {

enum class MsgType : uint8_t {
  kAppend = 1,      // primary → follower: `ns`, `frames` (consecutive), `logs` = ns's history;
                    // a heartbeat (no ns): `logs` = per namespace the hold floor (`cut.segment`)
  kAck = 2,         // follower → primary: `logs` (ends of the namespaces it applied frames to)
  kNack = 3,        // anyone → sender of a lower epoch: `epoch` is the receiver's promise
  kPrepare = 4,     // candidate → all: promise `epoch`
  kPrepareOk = 5,   // → candidate: promised; `logs` = every namespace's history and ends
  kJoin = 6,        // follower → primary: `logs` = every namespace's history and ends
  kJoinReply = 7,   // primary → follower: `logs` = the primary's histories, `cut` per namespace
  kFetch = 8,       // candidate → replica with the best log: `ns`, frames from `position`
  kFetchReply = 9,  // → candidate: `ns`, `frames` (empty: `position` is that log's end)
  kVoter = 10,      // primary → a learner that holds every committed frame: vote from now on
  // Rebuild from a snapshot (docs/replication.md "Automatic rebuild"):
  kSnapshotNeeded = 11,    // primary → follower whose next frames it no longer has
  kSnapshotOpen = 12,      // follower → primary: take (or answer) a snapshot for me
  kSnapshotManifest = 13,  // primary → follower: `files` of the snapshot taken for it
  kSnapshotRead = 14,      // follower → primary: `ns` = file path, `position.offset` = offset
  kSnapshotChunk = 15,     // primary → follower: `ns` = path, `position.offset`, `data`
};

struct NsLog {
  std::string ns;
  EpochHistory history;
  LogEnds ends;
  LogPosition cut;  // kJoinReply: where the follower's log must be cut (its end if no cut)
};

struct PeerMessage {
  MsgType type = MsgType::kAppend;
  uint64_t epoch = 0;
  uint32_t from = 0;  // node index of the sender
  // The sender is a learner (or undecided): its promises, logs and acknowledgements count for
  // nothing (docs/replication.md "Learners").
  bool learner = false;
  // The sender's applied catalog version (ReplicaState::catalog_seq), in every message: a
  // primary's tells its followers which catalog record is committed; a promise's and a join's
  // tell a candidate which records a replica of its majority knew committed.
  uint64_t catalog_seq = 0;
  // The sender's incarnation (ReplicaConfig::incarnation), in every message: which run of
  // replica `from` sent it. 0: none (the simulation's default).
  uint64_t incarnation = 0;
  std::string ns;
  std::vector<LogFrame> frames;
  LogPosition position;
  std::vector<NsLog> logs;
  std::vector<SnapshotFile> files;  // kSnapshotManifest
  std::string data;                 // kSnapshotChunk
};

}  // namespace tldb::repl
