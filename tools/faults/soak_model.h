// SoakModel: what the soak's clients did to one timeline, and the check of a read of it.
//
// Contract:
// - One writer thread owns a timeline: it calls Sent() before the first attempt of an append,
//   Acked() after its acknowledgement, and the *Requested()/*Acked() pairs around a recall, an
//   edit or a trim. Readers call Take() before and after reading the whole timeline; all calls
//   are thread-safe (one mutex per timeline).
// - Check() compares a complete forward read with the snapshot taken before it (`before`) and
//   the one taken after it (`after`) and returns one line per violation (empty: none):
//   * SeqIds strictly increase, no client_msg_id twice;
//   * every message served was sent (its id, the payload's prefix up to '|', is known; a
//     client_msg_id, when served, is that id), at the SeqId it was acknowledged with, with the
//     payload sent or the edited one (the edited one only, once the edit was acknowledged
//     before the read began);
//   * no message whose recall, or trim below it, was acknowledged before the read began;
//   * every message acknowledged before the read began is served, unless its recall or a trim
//     over it was requested by the end of the read, or it may have expired (ttl_ms > 0 and it was
//     sent less than ttl_ms + slack_ms before the read ended).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tldb/types.h"

namespace tldb::faults {

struct SoakMessage {
  std::vector<std::string> versions;  // the payload sent, then each edit's as it is requested
  size_t acked_version = 0;           // the newest version whose write was acknowledged
  int64_t sent_ms = 0;                // wall clock before the first attempt
  Seq seq = 0;                        // 0 until acknowledged
  bool recall_requested = false, recall_acked = false;
};

struct SoakSnapshot {
  std::map<std::string, SoakMessage> by_id;
  Seq trim_requested = 0, trim_acked = 0;  // "below" of the highest trim requested / acked
};

struct SoakReadLimits {
  uint64_t ttl_ms = 0;       // 0: nothing expires
  int64_t slack_ms = 2'000;  // clock and scheduling slack around expiry
  int64_t read_end_ms = 0;   // wall clock after the read
  bool complete = true;      // false: a partial read (latest N): nothing is checked as missing
};

class SoakModel {
 public:
  void Sent(const std::string& id, std::string payload, int64_t now_ms);
  void Acked(const std::string& id, Seq seq);
  void RecallRequested(const std::string& id);
  void RecallAcked(const std::string& id);
  void EditRequested(const std::string& id, std::string payload);
  void EditAcked(const std::string& id);
  void TrimRequested(Seq below);
  void TrimAcked(Seq below);  // also forgets the messages below it
  // Forgets messages sent before `before_ms` (expired long ago: serving them is a violation
  // either way, reported as unknown).
  void ForgetSentBefore(int64_t before_ms);
  SoakSnapshot Take() const;

 private:
  mutable std::mutex mu_;
  SoakSnapshot s_;
};

// The id a soak payload starts with ("<id>|..."); empty when there is none.
std::string SoakPayloadId(const std::string& payload);

std::vector<std::string> CheckSoakRead(const std::string& timeline, const SoakSnapshot& before,
                                       const SoakSnapshot& after, const std::vector<Message>& read,
                                       const SoakReadLimits& limits);

}  // namespace tldb::faults
