// Segment scanning rules shared by the admin tools (and meant for recovery): where the records
// of a segment image end and whether what follows is a clean end, a torn tail or corruption
// (docs/format.md "Reading rules", docs/design.md "Recovery").
//
// Contract: pure functions over an in-memory image of a whole segment file (header included);
// they never read outside it, and allocate only when the tail is damaged (the copy search). The
// rule is the one namespace_recovery.cc and `tldb verify` apply: in a sealed segment any record
// that fails to decode is corruption; in the active segment the rest of the file is
// resynchronised (ResyncTail: records that verify at any position, with their checksum seeded
// by the offset they sit at or by the offset they were written at), and the damage is
// corruption if a record found there claims (synced_through) a durable point beyond it, if a
// record found there sits at another position than the one it was written at (bytes were
// inserted, removed or misplaced: a torn write never moves a record, because every checksum is
// seeded with its record's own offset), or if the tail holds a byte-identical copy of an earlier
// record with more data after it (a duplicated write); otherwise it is a torn tail that opening
// the store cuts off. FindInsertion is salvage's repair for a run of inserted bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "log/record.h"

namespace tldb {

struct SegmentScan {
  uint64_t valid_end = 0;  // end of the last record decoded in sequence from the header
  DecodeOutcome stop = DecodeOutcome::kEnd;  // why the scan stopped (kEnd: clean end)
  bool tail_zero = true;                     // bytes [valid_end, size) are all zero
  uint64_t claim_after = 0;  // highest synced_through of a valid record after valid_end
  // Resynchronisation past valid_end (not searched when the tail is zero).
  uint64_t resynced = 0;    // records found past valid_end that verify (at any position)
  uint64_t moved_at = 0;    // the first of them that sits where it was not written (0: none)
  uint64_t moved_from = 0;  // ... and the offset it was written at (its checksum's seed)
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
// Highest synced_through claimed by any valid record at or after `from` (searched byte by byte,
// each candidate checked at its own offset only).
uint64_t MaxClaimAfter(std::string_view image, uint64_t segment_id, uint64_t from);
// Searches [scan->valid_end, end of data) for records that verify: at every position whose bytes
// could be a record header, the checksum is tried with the position itself and with the offsets
// the record could have been written at (valid_end; the end of the damaged record at valid_end;
// the record's own synced_through, which is its offset when it opened a group; what the
// synced_through values of the records chained after it imply; and, for a chain of at least two
// headers, every offset up to kResyncShiftBytesMax before it, within a hashing budget). A record
// found is followed record by record at the same shift. Sets resynced, claim_after, moved_at and
// moved_from. One pass; hashes at most a few times the bytes searched (docs/reliability.md
// "Resynchronisation").
void ResyncTail(std::string_view image, uint64_t segment_id, SegmentScan* scan);
// Salvage's repair of an insertion: if removing `*bytes` bytes at `*at` (valid_end <= at <=
// moved_from) makes every record from valid_end through the moved one decode at its own offset
// again, returns true with them. Needs scan.moved_at > scan.moved_from (bytes inserted) and a
// damaged stretch [valid_end, moved_from) of at most kSpliceSearchBytesMax bytes.
bool FindInsertion(std::string_view image, uint64_t segment_id, const SegmentScan& scan,
                   uint64_t* at, uint64_t* bytes);
// Bounds of the searches above (a run of inserted bytes longer than kResyncShiftBytesMax is
// still found when the records after it opened a group, as every synced append does).
inline constexpr uint64_t kResyncShiftBytesMax = 64 << 10;
inline constexpr uint64_t kResyncHashBytesMax = 256ull << 20;  // brute-force budget per scan
inline constexpr uint64_t kSpliceSearchBytesMax = 16 << 10;
// The first byte-identical copy of a record of [header, scan.valid_end) lying at or after
// scan.valid_end with non-zero bytes after it; sets scan->copy_at and copy_of.
void FindDisplacingCopy(std::string_view image, SegmentScan* scan);
// What makes the damage of an active segment corruption, naming the file and the offsets: the
// message recovery refuses with and `tldb verify` reports.
std::string DescribeActiveDamage(std::string_view path, const SegmentScan& scan);
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
