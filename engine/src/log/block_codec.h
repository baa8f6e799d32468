// Compressed blocks of a compacted segment (docs/format.md "Compacted segment").
//
// A block holds whole records of the segment's uncompressed record space [raw_start,
// raw_start + raw_bytes), zstd-compressed, behind a 16-byte header:
//   u32 checksum  low 32 bits of XXH3 over bytes [4, stored_bytes), seeded with the block's
//                 place (ChecksumId of the segment, file offset): a misplaced block fails
//   u32 stored_bytes  header + compressed bytes
//   u32 raw_bytes
//   u32 raw_start
// Contract: EncodeBlock appends one block and checks that it decodes back (always on);
// DecodeBlock verifies the checksum and sizes before it decompresses, never reads outside
// `avail`, and returns Corruption naming `what` and the offset.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tldb/status.h"

namespace tldb {

inline constexpr size_t kBlockHeaderBytes = 16;

struct BlockHeader {
  uint32_t stored_bytes = 0;
  uint32_t raw_bytes = 0;
  uint32_t raw_start = 0;
};

// The most bytes EncodeBlock can append for `raw_bytes` of records. Over blocks of a run,
// the sum is at most EncodedBlockBytesMax(total) + blocks * EncodedBlockBytesMax(0).
size_t EncodedBlockBytesMax(size_t raw_bytes);

// Compresses `raw` (records starting at raw_start) and appends the block to `out`, which will
// be written at file offset `file_offset`.
void EncodeBlock(std::string_view raw, uint32_t raw_start, uint64_t checksum_id,
                 uint64_t file_offset, int level, std::string* out);
// The header fields of the block at b[0, kBlockHeaderBytes), unchecked (sizes may be garbage).
BlockHeader ReadBlockHeaderFields(const char* b);
// Reads the header of the block at avail[0] (file offset `file_offset`) and checks it.
Status DecodeBlockHeader(std::span<const char> avail, uint64_t checksum_id, uint64_t file_offset,
                         std::string_view what, BlockHeader* h);
// Decodes the whole block into `raw` (resized to raw_bytes).
Status DecodeBlock(std::span<const char> avail, uint64_t checksum_id, uint64_t file_offset,
                   std::string_view what, BlockHeader* h, std::string* raw);
// Decompresses the block at avail[0], whose header `h` DecodeBlockHeader read and checked, into
// dst[0, h.raw_bytes). On an error dst's bytes are undefined.
Status DecompressBlock(std::span<const char> avail, uint64_t file_offset, std::string_view what,
                       const BlockHeader& h, char* dst);

}  // namespace tldb
