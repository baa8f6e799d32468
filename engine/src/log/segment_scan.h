// Segment scanning rules shared by the admin tools (and meant for recovery): where the records
// of a segment image end and whether what follows is a clean end, a torn tail or corruption
// (docs/format.md "Reading rules", docs/design.md "Recovery").
//
// Contract: pure functions over an in-memory image of a whole segment file (header included);
// they never read outside it, and allocate only when the tail is damaged (the copy search). The
// rule is the one namespace_recovery.cc applies: in a sealed segment any record that fails to
// decode is corruption; in the active segment damage is corruption if a valid later record
// claims (synced_through) a durable point beyond it, or if the tail holds a byte-identical copy
// of an earlier record with more data after it (a duplicated or misplaced write: the engine
// never writes a record twice, and a torn write cannot produce one, because every checksum is
// seeded with its record's own offset); otherwise it is a torn tail that opening the store cuts
// off.
#pragma once

#include <cstdint>
#include <string_view>

#include "log/record.h"

namespace tldb {

struct SegmentScan {
  uint64_t valid_end = 0;  // end of the last record decoded in sequence from the header
  DecodeOutcome stop = DecodeOutcome::kEnd;  // why the scan stopped (kEnd: clean end)
  bool tail_zero = true;                     // bytes [valid_end, size) are all zero
  uint64_t claim_after = 0;  // highest synced_through of a valid record after valid_end
  // A byte-identical copy of the earlier record at `copy_of`, found at `copy_at` (>= valid_end)
  // with non-zero bytes after it: a write that displaced records. 0 when none was found (or not
  // searched: the tail was zero or already vouched for).
  uint64_t copy_at = 0;
  uint64_t copy_of = 0;
};

enum class TailState : uint8_t {
  kClean,     // nothing but zeros after the last record
  kTornTail,  // active segment: an unsynced group was torn; cut at valid_end when opened
  kCorrupt,   // damage inside durable data (sealed segment, or vouched for by a later record)
};

// Scans records from the end of the segment header. `image` is the whole file.
SegmentScan ScanSegment(std::string_view image, uint64_t segment_id);
// Highest synced_through claimed by any valid record at or after `from` (searched byte by byte).
uint64_t MaxClaimAfter(std::string_view image, uint64_t segment_id, uint64_t from);
// The first byte-identical copy of a record of [header, scan.valid_end) lying at or after
// scan.valid_end with non-zero bytes after it; sets scan->copy_at and copy_of.
void FindDisplacingCopy(std::string_view image, SegmentScan* scan);
// Classifies what follows scan.valid_end by the engine's rule.
TailState ClassifyTail(const SegmentScan& scan, uint64_t image_size, bool sealed);

// Calls fn(offset, const RecordView&) for every record that decodes at or after `from`,
// resynchronising byte by byte after damage (what lies beyond a corrupt spot).
template <typename Fn>
void ForEachRecordFrom(std::string_view image, uint64_t segment_id, uint64_t from, Fn&& fn) {
  for (uint64_t off = from; off + format::kRecordHeaderBytes <= image.size();) {
    RecordView r;
    if (DecodeRecord({image.data() + off, image.size() - off}, segment_id, off, &r) ==
        DecodeOutcome::kOk) {
      fn(off, r);
      off += r.length;
    } else {
      ++off;
    }
  }
}

}  // namespace tldb
