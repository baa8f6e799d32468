// ChunkedScan: a SCAN answer read in bounded steps.
#include "chunked_scan.h"

#include <algorithm>
#include <limits>

#include "protocol/messages.h"

namespace tldb::server {

ChunkedScan::ChunkedScan(std::string_view ns, std::string_view timeline, const ScanOptions& whole,
                         uint64_t request_id, int64_t start_us)
    : ns_(ns), timeline_(timeline), left_(whole), request_id_(request_id), start_us_(start_us) {
  done_ = left_.limit == 0;
}

Status ChunkedScan::Step(Db& db) {
  if (done_) return Status::Ok();
  ScanOptions step = left_;
  step.limit = std::min(left_.limit, kMessagesPerStep);
  step.bytes_max = std::min(left_.bytes_max, kPayloadBytesPerStep);
  auto msgs = db.Scan(ns_, timeline_, step);
  if (!msgs.ok()) {
    done_ = true;
    return msgs.status();
  }
  ++steps_;
  uint64_t bytes = 0;
  proto::WireWriter w(&encoded_);
  for (const Message& m : *msgs) {
    bytes += m.payload.size();
    proto::EncodeMessage(m, w);
  }
  count_ += static_cast<uint32_t>(msgs->size());
  left_.limit -= static_cast<uint32_t>(msgs->size());
  left_.bytes_max -= std::min(bytes, left_.bytes_max);
  // The step stopped at its count or its bytes, or it reached the end of the range.
  const bool capped = msgs->size() == step.limit || bytes >= step.bytes_max;
  if (!capped || msgs->empty() || left_.limit == 0 || left_.bytes_max == 0) {
    done_ = true;
    return Status::Ok();
  }
  const Seq last = msgs->back().seq;
  if (left_.direction == Direction::kForward) {
    // Inclusive bounds, 0 = open: past the top of the range, or of the SeqId space, is the end.
    if (last == std::numeric_limits<Seq>::max() || (left_.to_seq != 0 && last >= left_.to_seq)) {
      done_ = true;
    } else {
      left_.from_seq = last + 1;
    }
  } else {
    // Backward: to_seq = 0 would mean open again (the newest message), so seq 1 is the end.
    if (last <= 1 || (left_.from_seq != 0 && last <= left_.from_seq)) {
      done_ = true;
    } else {
      left_.to_seq = last - 1;
    }
  }
  return Status::Ok();
}

void ChunkedScan::WriteBody(proto::WireWriter& w) const {
  w.U32(count_);
  w.out()->append(encoded_);
}

}  // namespace tldb::server
