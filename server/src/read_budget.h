// ReadBudget: the limits of one read answer that returns messages of one or more timelines
// (READ_MULTI, WAIT with messages), and the read of one timeline within them.
//
// Contract: a value type used on one loop thread for one request. The budget starts from a
// request's counts (0 = the default) capped so that the answer fits in one frame: messages at
// most proto::kReadMessagesMax, payload bytes at most half the frame limit (as SCAN). Each
// ReadAfter() spends what it returned; once a limit is reached the later timelines get no
// messages, and `more` says so. Reads go through Db::Scan, the path of SCAN, so a replicated
// server answers them as it answers SCAN (NOT_PRIMARY off the serving primary). Owns no lock.
#pragma once

#include <cstdint>
#include <string_view>

#include "protocol/messages.h"
#include "tldb/db.h"

namespace tldb::server {

class ReadBudget {
 public:
  // `limit` messages and `bytes_max` payload bytes in the whole answer (0: the cap);
  // `frame_body_bytes_max` is the server's frame limit.
  ReadBudget(uint32_t limit, uint32_t bytes_max, uint32_t frame_body_bytes_max);

  // A request's per-timeline count: 0 means kReadMessagesDefault; capped at kReadMessagesMax.
  static uint32_t TimelineLimit(uint32_t requested);

  // The messages of `timeline` with after_seq < seq <= last_seq (its last seq, read by the
  // caller), oldest first: at most `timeline_limit` of them, within the budget left. `more` is
  // set when a limit stopped the read before last_seq. A timeline with nothing after after_seq
  // is not read (last_seq <= after_seq: no messages, more = false).
  Result<proto::TimelineRead> ReadAfter(Db& db, std::string_view ns, std::string_view timeline,
                                        Seq after_seq, Seq last_seq, uint32_t timeline_limit);

  uint32_t messages_left() const { return messages_left_; }
  uint64_t payload_bytes_left() const { return payload_bytes_left_; }

 private:
  uint32_t messages_left_;
  uint64_t payload_bytes_left_;
};

}  // namespace tldb::server
