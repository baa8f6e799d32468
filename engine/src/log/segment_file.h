// SegmentFile: one segment file read into memory (read-only), its header decoded and its records
// found by the engine's rules: a plain segment is scanned record by record (log/segment_scan.h);
// a compressed one (a compaction output, docs/format.md "Compacted segment") is decoded block by
// block into its uncompressed record space, whose offsets are the ones its index stores.
//
// Contract: loading never writes and never takes the LOCK, so it is safe beside a running
// server (a record being written at that moment shows up as a torn tail). A damaged header
// or block is not a load error: header_status / damage say what is wrong.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "log/block_codec.h"
#include "log/record.h"
#include "log/segment_header.h"
#include "log/segment_scan.h"
#include "tldb/file_system.h"

namespace tldb {

// One zstd block of a compressed segment as found in the file.
struct BlockInfo {
  uint64_t file_offset = 0;
  BlockHeader header;
  bool ok = false;  // checksum, sizes and decompression all fine, and in sequence
};

struct SegmentFile {
  std::string path;
  uint64_t id = 0;
  uint32_t gen = 0;  // from the file name (0: written by appends)
  bool sealed = false;
  bool compressed = false;   // header flag (or, with a bad header, gen > 0)
  uint64_t checksum_id = 0;  // seeds record and block checksums: ChecksumId(id, gen)
  std::string image;
  std::string raw;                // compressed: the record space, decoded blocks at their raw_start
  std::vector<BlockInfo> blocks;  // compressed: every block reached, in file order
  Status header_status;           // OK, or what is wrong with the header
  SegmentHeader header;
  // Plain: the engine's scan. Compressed: valid_end = end of the record space decoded in
  // sequence from the header; stop = kBad at a bad block.
  SegmentScan scan;
  TailState tail = TailState::kClean;
  // Compressed and damaged: file offset of the first bad block and what is wrong with it.
  uint64_t damage_file_offset = 0;
  std::string damage_what;

  // The bytes record offsets refer to: the file (plain) or the record space (compressed).
  std::string_view records() const { return compressed ? std::string_view(raw) : image; }

  // A bad header and nothing but zeros after it: created (or prepared) but its header never
  // became durable, so it never held a record; the store recreates it.
  bool NeverDurable() const {
    return !compressed && !header_status.ok() && scan.valid_end <= format::kSegmentHeaderBytes &&
           scan.tail_zero;
  }

  // fn(offset, const RecordView&) for each record in [header, scan.valid_end).
  template <typename Fn>
  void ForEachRecord(Fn&& fn) const {
    const std::string_view rs = records();
    for (uint64_t off = format::kSegmentHeaderBytes; off < scan.valid_end;) {
      RecordView r;
      if (DecodeRecord({rs.data() + off, rs.size() - off}, checksum_id, off, &r) !=
          DecodeOutcome::kOk) {
        return;
      }
      fn(off, r);
      off += r.length;
    }
  }
  // Every record that still decodes anywhere at or after `from`, past damage too.
  template <typename Fn>
  void ForEachRecordFromAny(uint64_t from, Fn&& fn) const {
    ForEachRecordFrom(records(), checksum_id, from, fn);
  }
};

// `id` and `gen` come from the file name (they seed the checksums).
Result<SegmentFile> LoadSegmentFile(FileSystem& fs, const std::string& path, uint64_t id,
                                    bool sealed, uint32_t gen = 0);
// The same over bytes already read (the scrub reads them at its own pace).
SegmentFile ParseSegmentFile(std::string image, const std::string& path, uint64_t id, bool sealed,
                             uint32_t gen = 0);

// "message", "fanout", "recall", "edit", "trim".
const char* RecordTypeName(format::RecordType t);

}  // namespace tldb
