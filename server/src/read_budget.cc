// ReadBudget: the count and byte limits of a multi-timeline read answer.
#include "read_budget.h"

#include <algorithm>

namespace tldb::server {

ReadBudget::ReadBudget(uint32_t limit, uint32_t bytes_max, uint32_t frame_body_bytes_max) {
  messages_left_ = limit == 0 ? proto::kReadMessagesMax : std::min(limit, proto::kReadMessagesMax);
  // Half the frame limit, as SCAN: the rest holds the per-message and per-timeline fields and
  // the one payload that may cross the limit.
  const uint64_t cap = frame_body_bytes_max / 2;
  payload_bytes_left_ = bytes_max == 0 ? cap : std::min<uint64_t>(bytes_max, cap);
}

uint32_t ReadBudget::TimelineLimit(uint32_t requested) {
  return requested == 0 ? proto::kReadMessagesDefault
                        : std::min(requested, proto::kReadMessagesMax);
}

Result<proto::TimelineRead> ReadBudget::ReadAfter(Db& db, std::string_view ns,
                                                  std::string_view timeline, Seq after_seq,
                                                  Seq last_seq, uint32_t timeline_limit) {
  proto::TimelineRead out;
  out.last_seq = last_seq;
  if (last_seq <= after_seq) return out;
  const uint32_t n = std::min(timeline_limit, messages_left_);
  if (n == 0 || payload_bytes_left_ == 0) {
    out.more = true;  // news the budget has no room for
    return out;
  }
  ScanOptions o;
  o.from_seq = after_seq + 1;
  o.to_seq = last_seq;
  o.limit = n;
  o.bytes_max = payload_bytes_left_;
  auto msgs = db.Scan(ns, timeline, o);
  if (!msgs.ok()) return msgs.status();
  uint64_t bytes = 0;
  for (const Message& m : *msgs) bytes += m.payload.size();
  messages_left_ -= static_cast<uint32_t>(msgs->size());
  payload_bytes_left_ -= std::min(bytes, payload_bytes_left_);
  // The scan stops at `n` messages or once the payload bytes reach o.bytes_max (that message
  // included); otherwise it reached last_seq.
  const bool capped = msgs->size() == n || bytes >= o.bytes_max;
  out.more = capped && !msgs->empty() && msgs->back().seq < last_seq;
  out.messages = std::move(*msgs);
  return out;
}

}  // namespace tldb::server
