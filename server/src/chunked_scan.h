// ChunkedScan: one SCAN answer read in steps, so that a SCAN of up to 10,000 messages (or 2 MiB
// of payloads) does not run whole in one loop turn (issue 16, item 4; docs/design-server.md
// "Fairness between connections").
//
// Contract: a value type used on one loop thread for one SCAN request. Each Step() reads, with
// Db::ScanVisit (Db::Scan's messages, each encoded as it is read; a replicated or sharded
// server's Db goes through its Scan, so it answers NOT_PRIMARY or MOVED alike), at
// most kMessagesPerStep messages and about kPayloadBytesPerStep payload bytes of what is left
// of the request, keeps them encoded and moves the request's bounds past the last one. done()
// once the request's `limit` or `bytes_max` is reached (the message crossing `bytes_max`
// included, as in one Db::Scan) or a step finds the range exhausted. The steps' messages,
// concatenated, are what one Db::Scan of the whole request returns when nothing changes between
// the steps; a message appended, edited or deleted between two steps may or may not be in the
// answer, as when a client pages. Owns no lock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/wire.h"
#include "tldb/db.h"

namespace tldb::server {

class ChunkedScan {
 public:
  // 1,000 messages per step: a step of small messages costs well under a millisecond, and the
  // default page (100) and a latest-20 read take one step, as before.
  static constexpr uint32_t kMessagesPerStep = 1'000;
  // 256 KiB of payloads per step (the response bytes of one TurnBudget turn): a SCAN of 2 MiB
  // of large messages takes 8 steps instead of one 2 MiB copy in one turn.
  static constexpr uint64_t kPayloadBytesPerStep = 256u << 10;

  // `whole`: the request's bounds, direction and (capped) limit and bytes_max.
  // `buffer`: memory for the encoded messages (emptied first; its capacity is reused).
  ChunkedScan(std::string_view ns, std::string_view timeline, const ScanOptions& whole,
              uint64_t request_id, int64_t start_us, std::string buffer = {});

  // Reads the next step; an error ends the scan (the SCAN is answered with it).
  [[nodiscard]] Status Step(Db& db);
  bool done() const { return done_; }
  uint32_t messages() const { return count_; }
  uint32_t steps() const { return steps_; }
  // The answer's body, list<Message>: the count, then the messages in scan order.
  void WriteBody(proto::WireWriter& w) const;
  uint64_t request_id() const { return request_id_; }
  // The buffer, emptied, for the next scan (this one answers nothing more).
  std::string TakeBuffer() {
    encoded_.clear();
    return std::move(encoded_);
  }
  int64_t start_us() const { return start_us_; }

 private:
  std::string ns_, timeline_;
  ScanOptions left_;  // what is left: bounds past the messages read, limit and bytes left
  uint64_t request_id_;
  int64_t start_us_;
  uint32_t count_ = 0;
  uint32_t steps_ = 0;
  bool done_ = false;
  std::string encoded_;  // the messages read so far, encoded
};

}  // namespace tldb::server
