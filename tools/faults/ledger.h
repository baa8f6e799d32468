// Ledger: what a fault suite's clients sent, recalled and saw, what the server acknowledged, and
// the check of the stored timelines against it. The one checker of the kill -9 suite, the
// disk-full suite, the cluster test (tests/cluster_process_test.cc) and the cluster soak
// (tools/cluster_soak.sh): docs/reliability.md and docs/replication.md "Testing".
//
// Contract:
// - Sent() is called before the first attempt of a message (timeline, client_msg_id, payload);
//   Acked() after every successful APPEND response for it (a retry may be acknowledged again,
//   deduplicated). RecallRequested() before the first attempt of a recall of an acknowledged
//   message, RecallAcked() after its success. Seen() whenever a reader or a subscriber was
//   served a message. All are thread-safe.
// - Check() takes every stored message of every timeline the ledger knows (read back after the
//   faults, in forward scan order) and returns one line per violation of the invariants:
//   * seqs strictly increase, and every seq skipped is the acknowledged seq of a message whose
//     recall was requested (a recalled message is skipped by SCAN; its SeqId stays used);
//   * every stored message carries a client_msg_id that was sent to that timeline, with a
//     byte-identical payload; no client_msg_id is stored twice;
//   * every acknowledged message is stored at the seq it was acknowledged with (a retry's
//     acknowledgement included), unless its recall was requested: then it may be absent, but if
//     served it is at that seq; a message whose recall was acknowledged is not served;
//   * one writer's acknowledged messages to a timeline have increasing seqs in send order;
//   * an acknowledgement with seq 0 is a cross-partition fan-out's member that its home
//     partition delivers after answering (docs/cluster.md "Cross-partition fan-out"): the message
//     must be stored (once) at some seq, and is left out of the writer's send order (it takes
//     its place in the member when delivered);
//   * every fan-out registered with Fanout() that was acknowledged reached every member exactly
//     once: each member timeline holds its client_msg_id once, at one seq;
//   * nothing a reader or subscriber saw vanished or changed: a message seen at seq S is stored
//     at S with the payload sent, and S holds no other message; the only permitted change is
//     the workload's own recall (requested), which may make a seen message absent. Two different
//     messages seen at one seq, or one message seen with a payload other than the one sent, are
//     violations too (recorded when seen).
//   All suites append with sync durability, so a visible message is durable. Empty: no
//   violation.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tldb/types.h"

namespace tldb::faults {

using StoredTimelines = std::map<std::string, std::vector<Message>>;

// What the ledger knows of one client_msg_id.
struct LedgerEntry {
  int writer = 0;
  uint64_t order = 0;  // send order
  std::string payload;
  std::vector<Seq> acks;  // every acknowledgement's seq
  bool recall_requested = false, recall_acked = false;
};

class Ledger {
 public:
  void Sent(int writer, const std::string& timeline, const std::string& client_msg_id,
            std::string payload);
  void Acked(const std::string& timeline, const std::string& client_msg_id, Seq seq);
  // A fan-out of `client_msg_id` to `members` (ledger timeline keys), each also Sent().
  void Fanout(const std::string& client_msg_id, std::vector<std::string> members);
  void RecallRequested(const std::string& timeline, const std::string& client_msg_id);
  void RecallAcked(const std::string& timeline, const std::string& client_msg_id);
  // A reader saw `client_msg_id` at `seq`.
  void Seen(const std::string& timeline, const std::string& client_msg_id, Seq seq);
  // A reader or subscriber was served `m`: also checks its payload against the one sent.
  void Seen(const std::string& timeline, const Message& m);

  std::vector<std::string> Timelines() const;
  uint64_t sent() const;
  uint64_t acked() const;     // distinct messages acknowledged at least once
  uint64_t acks() const;      // acknowledgements, retries' included
  uint64_t seen() const;      // distinct (timeline, seq) seen by readers and subscribers
  uint64_t recalled() const;  // recalls acknowledged
  std::vector<std::string> Check(const StoredTimelines& stored) const;

 private:
  using Entry = LedgerEntry;
  void SeenLocked(const std::string& timeline, const std::string& client_msg_id, Seq seq);
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, Entry>> timelines_;
  std::map<std::string, std::map<Seq, std::string>> seen_;   // timeline -> seq -> client_msg_id
  std::map<std::string, std::vector<std::string>> fanouts_;  // client_msg_id -> members
  std::vector<std::string> seen_violations_;                 // found when seen
  uint64_t sent_ = 0, acked_ = 0, acks_ = 0, recalled_ = 0;
};

}  // namespace tldb::faults
