// ChunkedScan: a SCAN answer read in bounded steps.
#include "chunked_scan.h"

#include <algorithm>
#include <limits>

#include "protocol/messages.h"

namespace tldb::server {

ChunkedScan::ChunkedScan(std::string_view ns, std::string_view timeline, const ScanOptions& whole,
                         uint64_t request_id, int64_t start_us, std::string buffer)
    : ns_(ns),
      timeline_(timeline),
      left_(whole),
      request_id_(request_id),
      start_us_(start_us),
      encoded_(std::move(buffer)) {
  encoded_.clear();
  done_ = left_.limit == 0;
}

Status ChunkedScan::Step(Db& db) {
  if (done_) return Status::Ok();
  ScanOptions step = left_;
  step.limit = std::min(left_.limit, kMessagesPerStep);
  step.bytes_max = std::min(left_.bytes_max, kPayloadBytesPerStep);
  // Each message is encoded as the engine reads it (Db::ScanVisit: no Message built for it).
  const size_t encoded_before = encoded_.size();
  uint64_t bytes = 0;
  Seq last = 0;
  proto::WireWriter w(&encoded_);
  auto visited = db.ScanVisit(ns_, timeline_, step, [&](const MessageView& m) {
    bytes += m.payload.size();
    last = m.seq;
    proto::EncodeMessage(m, w);
  });
  if (!visited.ok()) {
    encoded_.resize(encoded_before);  // what the failed step had seen is not answered
    done_ = true;
    return visited.status();
  }
  ++steps_;
  const uint32_t n = *visited;
  count_ += n;
  left_.limit -= n;
  left_.bytes_max -= std::min(bytes, left_.bytes_max);
  // The step stopped at its count or its bytes, or it reached the end of the range.
  const bool capped = n == step.limit || bytes >= step.bytes_max;
  if (!capped || n == 0 || left_.limit == 0 || left_.bytes_max == 0) {
    done_ = true;
    return Status::Ok();
  }
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
