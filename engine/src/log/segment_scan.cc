#include "log/segment_scan.h"

#include <algorithm>

namespace tldb {

SegmentScan ScanSegment(std::string_view image, uint64_t segment_id) {
  SegmentScan res;
  uint64_t off = format::kSegmentHeaderBytes;
  while (off < image.size()) {
    RecordView r;
    res.stop = DecodeRecord({image.data() + off, image.size() - off}, segment_id, off, &r);
    if (res.stop != DecodeOutcome::kOk) break;
    off += r.length;
  }
  if (off >= image.size()) res.stop = DecodeOutcome::kEnd;
  res.valid_end = std::min<uint64_t>(off, image.size());
  const std::string_view rest = image.substr(res.valid_end);
  res.tail_zero = std::all_of(rest.begin(), rest.end(), [](char c) { return c == 0; });
  if (!res.tail_zero) res.claim_after = MaxClaimAfter(image, segment_id, res.valid_end);
  return res;
}

uint64_t MaxClaimAfter(std::string_view image, uint64_t segment_id, uint64_t from) {
  uint64_t claim = 0;
  ForEachRecordFrom(image, segment_id, from, [&](uint64_t, const RecordView& r) {
    claim = std::max<uint64_t>(claim, r.synced_through);
  });
  return claim;
}

TailState ClassifyTail(const SegmentScan& scan, uint64_t image_size, bool sealed) {
  if (sealed) {
    return scan.stop == DecodeOutcome::kEnd && scan.tail_zero ? TailState::kClean
                                                              : TailState::kCorrupt;
  }
  if (scan.valid_end >= image_size || scan.tail_zero) return TailState::kClean;
  return scan.claim_after > scan.valid_end ? TailState::kCorrupt : TailState::kTornTail;
}

}  // namespace tldb
