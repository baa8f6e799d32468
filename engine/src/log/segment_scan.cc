#include "log/segment_scan.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_set>
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
  if (!res.tail_zero) ResyncTail(image, segment_id, &res);
  if (!res.tail_zero && res.claim_after <= res.valid_end && res.moved_at == 0) {
    FindDisplacingCopy(image, &res);
  }
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

namespace {

// Necessary conditions for DecodeRecord to accept a record at p (no checksum): the cheap filter
// of the resynchronising search. Sets the record's length and synced_through.
bool PlausibleHeader(std::string_view image, uint64_t p, uint32_t* length, uint32_t* synced) {
  using namespace format;  // NOLINT(google-build-using-namespace)
  if (p + kRecordHeaderBytes > image.size()) return false;
  const char* h = image.data() + p;
  const uint32_t len = DecodeFixed32(h + kOffLength);
  if (len < kRecordHeaderBytes || len > kRecordBytesMax || len > image.size() - p) return false;
  const auto type = static_cast<uint8_t>(h[kOffType]);
  if (type == 0 || type > kMaxRecordType || h[kOffFlags] != 0) return false;
  const auto key_len = static_cast<uint8_t>(h[kOffKeyLen]);
  const auto cmid_len = static_cast<uint8_t>(h[kOffCmidLen]);
  const uint64_t seq = DecodeFixed64(h + kOffSeq);
  if (cmid_len > kClientMsgIdBytesMax) return false;
  if (IsKeyed(static_cast<RecordType>(type))) {
    if (key_len == 0 || seq == 0 || kRecordHeaderBytes + key_len + cmid_len > len) return false;
  } else if (key_len != 0 || seq == 0 || seq > kFanoutTimelinesCeiling) {
    return false;
  }
  *length = len;
  *synced = DecodeFixed32(h + kOffSyncedThrough);
  return true;
}

// The resynchronising search of one tail (ResyncTail).
class Resync {
 public:
  Resync(std::string_view image, uint64_t segment_id, uint64_t from, uint64_t data_end)
      : image_(image), id_(segment_id), from_(from), data_end_(data_end) {}

  // A record that verifies at or after p: *at is where it sits (p, or the next record chained
  // after p when p's own record is damaged) and *seed the offset it was written at.
  bool FindSeed(uint64_t p, uint32_t len, uint32_t synced, uint64_t* at, uint64_t* seed) {
    *at = p;
    if (Verifies(p, p)) return *seed = p, true;
    uint32_t from_len = 0, from_synced = 0;
    const bool from_header = PlausibleHeader(image_, from_, &from_len, &from_synced);
    for (uint64_t c : {from_, uint64_t{synced}, from_ + (from_header ? from_len : 0)}) {
      if (Moved(p, synced, c)) return *seed = c, true;
    }
    if (tried_.contains(p)) return false;  // already tried at every shift
    // The records chained after p share its shift; one of them that opened a group tells it.
    std::vector<std::pair<uint64_t, uint32_t>> links;  // (position, synced_through)
    uint64_t q = p;
    uint32_t qlen = len, qsynced = synced;
    for (int i = 0; i < kChainLinks; ++i) {
      links.emplace_back(q, qsynced);
      if (q != p && qsynced <= q && q - qsynced <= p && Moved(p, synced, p - (q - qsynced))) {
        return *seed = p - (q - qsynced), true;
      }
      q += qlen;
      if (q >= data_end_ || !PlausibleHeader(image_, q, &qlen, &qsynced)) break;
    }
    // Two headers in a row (or one ending the data) before hashing every possible shift, for
    // this record and the next one (in case this one is the damaged record).
    if (links.size() < 2 && q < data_end_) return false;
    links.resize(std::min<size_t>(links.size(), 2));
    for (const auto& [l, l_synced] : links) tried_.insert(l);
    const uint64_t reach = std::min<uint64_t>(p - std::min(p, from_), kResyncShiftBytesMax);
    for (uint64_t shift = 1; shift <= reach && budget_ > 0; ++shift) {
      for (const auto& [l, l_synced] : links) {
        budget_ -= std::min<uint64_t>(budget_, len);
        if (Moved(l, l_synced, l - shift)) return *at = l, *seed = l - shift, true;
      }
    }
    return false;
  }

 private:
  static constexpr int kChainLinks = 64;
  // Does the record at p verify as written at c != p? A record is written after the durable
  // point it records (synced_through <= its offset), and only records written at or after the
  // damage (valid_end) are looked for.
  bool Moved(uint64_t p, uint32_t synced, uint64_t c) {
    return c != p && c >= from_ && c >= synced && synced >= format::kSegmentHeaderBytes &&
           c <= kSegmentBytesCeiling && Verifies(p, c);
  }
  bool Verifies(uint64_t p, uint64_t seed) {
    RecordView r;
    return DecodeRecord({image_.data() + p, image_.size() - p}, id_, seed, &r) ==
           DecodeOutcome::kOk;
  }

  std::string_view image_;
  uint64_t id_, from_, data_end_;
  uint64_t budget_ = kResyncHashBytesMax;
  std::unordered_set<uint64_t> tried_;
};

}  // namespace

void ResyncTail(std::string_view image, uint64_t segment_id, SegmentScan* scan) {
  const uint64_t last = image.find_last_not_of('\0');
  if (last == std::string_view::npos || last < scan->valid_end) return;
  const uint64_t data_end = last + 1;
  Resync search(image, segment_id, scan->valid_end, data_end);
  for (uint64_t p = scan->valid_end; p < data_end;) {
    uint32_t len = 0, synced = 0;
    uint64_t seed = 0, at = 0;
    if (!PlausibleHeader(image, p, &len, &synced) || !search.FindSeed(p, len, synced, &at, &seed)) {
      ++p;
      continue;
    }
    p = at;
    // Follow the records after it at the same shift.
    const uint64_t start = p;
    for (RecordView r; p + format::kRecordHeaderBytes <= image.size(); p += r.length) {
      const uint64_t written_at = seed + (p - start);
      if (DecodeRecord({image.data() + p, image.size() - p}, segment_id, written_at, &r) !=
          DecodeOutcome::kOk) {
        break;
      }
      ++scan->resynced;
      scan->claim_after = std::max<uint64_t>(scan->claim_after, r.synced_through);
      if (written_at != p && scan->moved_at == 0) {
        scan->moved_at = p;
        scan->moved_from = written_at;
      }
    }
  }
}

bool FindInsertion(std::string_view image, uint64_t segment_id, const SegmentScan& scan,
                   uint64_t* at, uint64_t* bytes) {
  if (scan.moved_at <= scan.moved_from || scan.moved_from < scan.valid_end ||
      scan.moved_from - scan.valid_end > kSpliceSearchBytesMax) {
    return false;
  }
  const uint64_t k = scan.moved_at - scan.moved_from;
  // The bytes [valid_end, moved_from) as written, if the k bytes at x were inserted.
  std::string spliced;
  for (uint64_t x = scan.valid_end; x <= scan.moved_from; ++x) {
    spliced.assign(image.substr(scan.valid_end, x - scan.valid_end));
    spliced.append(image.substr(x + k, scan.moved_from - x));
    spliced.append(image.substr(scan.moved_at, format::kRecordHeaderBytes));
    bool whole = true;
    for (uint64_t off = 0; off < scan.moved_from - scan.valid_end && whole;) {
      RecordView r;
      // The record may run into the moved one's header copied above only if it is malformed.
      whole = DecodeRecord({spliced.data() + off, spliced.size() - off}, segment_id,
                           scan.valid_end + off, &r) == DecodeOutcome::kOk;
      off += whole ? r.length : 0;
      whole = whole && off <= scan.moved_from - scan.valid_end;
    }
    if (whole) {
      *at = x;
      *bytes = k;
      return true;
    }
  }
  return false;
}

std::string DescribeActiveDamage(std::string_view path, const SegmentScan& scan) {
  const std::string where = std::string(path) + " offset " + std::to_string(scan.valid_end);
  if (scan.moved_at != 0) {
    return where + ": damaged record; the record written at offset " +
           std::to_string(scan.moved_from) + " verifies at offset " +
           std::to_string(scan.moved_at) + " (bytes were " +
           (scan.moved_at > scan.moved_from ? "inserted" : "removed or misplaced") + "; " +
           std::to_string(scan.resynced) + " records verify after the damage, durable point " +
           std::to_string(scan.claim_after) + ")";
  }
  if (scan.copy_at != 0) {
    return where + ": offset " + std::to_string(scan.copy_at) + " holds a copy of the record at " +
           std::to_string(scan.copy_of) +
           " with data after it (a duplicated or misplaced write displaced records)";
  }
  return where + ": damaged record before the durable point " + std::to_string(scan.claim_after) +
         " (" + std::to_string(scan.resynced) + " records verify after the damage)";
}

TailState ClassifyTail(const SegmentScan& scan, uint64_t image_size, bool sealed) {
  if (sealed) {
    return scan.stop == DecodeOutcome::kEnd && scan.tail_zero ? TailState::kClean
                                                              : TailState::kCorrupt;
  }
  if (scan.valid_end >= image_size || scan.tail_zero) return TailState::kClean;
  if (scan.copy_at != 0 || scan.moved_at != 0) return TailState::kCorrupt;
  return scan.claim_after > scan.valid_end ? TailState::kCorrupt : TailState::kTornTail;
}

}  // namespace tldb
