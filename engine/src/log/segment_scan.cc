#include "log/segment_scan.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "util/coding.h"

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
  if (!res.tail_zero && res.claim_after <= res.valid_end) FindDisplacingCopy(image, &res);
  return res;
}

namespace {

// (stored checksum, offset) of every record in [kSegmentHeaderBytes, valid_end), sorted.
std::vector<std::pair<uint32_t, uint64_t>> PrefixChecksums(std::string_view image,
                                                           uint64_t valid_end) {
  std::vector<std::pair<uint32_t, uint64_t>> sums;
  for (uint64_t off = format::kSegmentHeaderBytes; off < valid_end;) {
    const char* p = image.data() + off;
    sums.emplace_back(DecodeFixed32(p + format::kOffChecksum), off);
    off += DecodeFixed32(p + format::kOffLength);  // decoded by ScanSegment: never 0
  }
  std::sort(sums.begin(), sums.end());
  return sums;
}

bool NonZeroFrom(std::string_view image, uint64_t from) {
  return image.find_first_not_of('\0', from) != std::string_view::npos;
}

}  // namespace

void FindDisplacingCopy(std::string_view image, SegmentScan* scan) {
  // A displacing copy has non-zero bytes after it, so it starts before the last one.
  const uint64_t last_nonzero = image.find_last_not_of('\0');
  if (last_nonzero == std::string_view::npos || last_nonzero < scan->valid_end) return;
  const auto sums = PrefixChecksums(image, scan->valid_end);
  for (uint64_t at = scan->valid_end;
       at < last_nonzero && at + format::kRecordHeaderBytes <= image.size(); ++at) {
    const uint32_t sum = DecodeFixed32(image.data() + at + format::kOffChecksum);
    if (sum == 0) continue;  // zeros: prepared space, never a record's checksum to look up
    auto it = std::lower_bound(sums.begin(), sums.end(), std::make_pair(sum, uint64_t{0}));
    for (; it != sums.end() && it->first == sum; ++it) {
      const uint64_t len = DecodeFixed32(image.data() + it->second + format::kOffLength);
      if (at + len > image.size() ||
          std::memcmp(image.data() + at, image.data() + it->second, len) != 0) {
        continue;
      }
      if (!NonZeroFrom(image, at + len)) return;  // a copy after the last data displaced nothing
      scan->copy_at = at;
      scan->copy_of = it->second;
      return;
    }
  }
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
  if (scan.copy_at != 0) return TailState::kCorrupt;
  return scan.claim_after > scan.valid_end ? TailState::kCorrupt : TailState::kTornTail;
}

}  // namespace tldb
