// Ledger: what a fault suite's clients sent and what the server acknowledged, and the check of
// the stored timelines against it.
//
// Contract:
// - Sent() is called before the first attempt of a message (timeline, client_msg_id, payload);
//   Acked() after every successful APPEND response for it (a retry may be acknowledged again,
//   deduplicated). Both are thread-safe.
// - Check() takes every stored message of every timeline the ledger knows (read back after the
//   faults, in forward scan order) and returns one line per violation of the invariants:
//   seqs are 1, 2, 3, ... with no gap (so strictly increasing); every stored message carries a
//   client_msg_id that was sent to that timeline, with a byte-identical payload; no
//   client_msg_id is stored twice; every acknowledged message is stored at the seq it was
//   acknowledged with (a retry's acknowledgement included); one writer's acknowledged messages
//   to a timeline have increasing seqs in the order they were sent; every message a reader saw
//   (Seen()) is stored at the seq it was seen at (all suites append with sync durability, so
//   a visible message is durable). Empty: no violation.
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
};

class Ledger {
 public:
  void Sent(int writer, const std::string& timeline, const std::string& client_msg_id,
            std::string payload);
  void Acked(const std::string& timeline, const std::string& client_msg_id, Seq seq);
  // A reader saw `client_msg_id` at `seq` (thread-safe).
  void Seen(const std::string& timeline, const std::string& client_msg_id, Seq seq);

  std::vector<std::string> Timelines() const;
  uint64_t sent() const;
  uint64_t acked() const;  // distinct messages acknowledged at least once
  uint64_t acks() const;   // acknowledgements, retries' included
  uint64_t seen() const;   // distinct messages seen by readers
  std::vector<std::string> Check(const StoredTimelines& stored) const;

 private:
  using Entry = LedgerEntry;
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, Entry>> timelines_;
  std::map<std::string, std::map<Seq, std::string>> seen_;  // timeline -> seq -> client_msg_id
  uint64_t sent_ = 0, acked_ = 0, acks_ = 0;
};

}  // namespace tldb::faults
