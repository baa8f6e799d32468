#include "log/block_codec.h"

#include <zstd.h>

#include <memory>

#include "log/record_format.h"
#include "util/check.h"
#include "util/checksum.h"
#include "util/coding.h"

namespace tldb {
namespace {

uint32_t BlockChecksum(const char* block, uint32_t stored, uint64_t checksum_id, uint64_t off) {
  return static_cast<uint32_t>(Hash64(block + 4, stored - 4, format::RecordSeed(checksum_id, off)));
}

// A block holds up to compress_block_bytes of records, or one record bigger than that.
constexpr uint64_t kBlockRawBytesMax = kCompressBlockBytesMax + format::kRecordBytesMax;

// One compression and one decompression context per thread, kept: ZSTD_compress and
// ZSTD_decompress allocate and initialise a fresh context for every block, which added an
// eighth to compressing a 16 KiB block of chat text at level 1 and a fifth to decompressing it
// (bench/zstd_context_bench.cc; docs/benchmarks.md "Compaction").
ZSTD_CCtx* ThreadCompressor() {
  thread_local const std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> c(ZSTD_createCCtx(),
                                                                          &ZSTD_freeCCtx);
  TLDB_CHECK(c != nullptr);
  return c.get();
}

ZSTD_DCtx* ThreadDecompressor() {
  thread_local const std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> d(ZSTD_createDCtx(),
                                                                          &ZSTD_freeDCtx);
  TLDB_CHECK(d != nullptr);
  return d.get();
}

std::string Where(std::string_view what, uint64_t off) {
  return std::string(what) + " offset " + std::to_string(off);
}

}  // namespace

size_t EncodedBlockBytesMax(size_t raw_bytes) {
  return kBlockHeaderBytes + ZSTD_compressBound(raw_bytes);
}

void EncodeBlock(std::string_view raw, uint32_t raw_start, uint64_t checksum_id,
                 uint64_t file_offset, int level, std::string* out) {
  TLDB_CHECK(!raw.empty() && raw.size() < (uint64_t{1} << 32));
  const size_t at = out->size();
  const size_t bound = EncodedBlockBytesMax(raw.size()) - kBlockHeaderBytes;
  out->resize(at + kBlockHeaderBytes + bound);
  const size_t n = ZSTD_compressCCtx(ThreadCompressor(), out->data() + at + kBlockHeaderBytes,
                                     bound, raw.data(), raw.size(), level);
  TLDB_CHECK(!ZSTD_isError(n));
  const auto stored = static_cast<uint32_t>(kBlockHeaderBytes + n);
  out->resize(at + stored);
  char* b = out->data() + at;
  EncodeFixed32(b + 4, stored);
  EncodeFixed32(b + 8, static_cast<uint32_t>(raw.size()));
  EncodeFixed32(b + 12, raw_start);
  EncodeFixed32(b, BlockChecksum(b, stored, checksum_id, file_offset));
  // Checked where written: the block must decode back to `raw`.
  BlockHeader h;
  std::string back;
  TLDB_CHECK(DecodeBlock({b, stored}, checksum_id, file_offset, "new block", &h, &back).ok());
  TLDB_CHECK(back == raw);
}

BlockHeader ReadBlockHeaderFields(const char* b) {
  return {DecodeFixed32(b + 4), DecodeFixed32(b + 8), DecodeFixed32(b + 12)};
}

Status DecodeBlockHeader(std::span<const char> avail, uint64_t checksum_id, uint64_t file_offset,
                         std::string_view what, BlockHeader* h) {
  if (avail.size() < kBlockHeaderBytes) {
    return Status::Corruption(Where(what, file_offset) + ": block header truncated");
  }
  const char* b = avail.data();
  *h = ReadBlockHeaderFields(b);
  if (h->stored_bytes <= kBlockHeaderBytes || h->stored_bytes > avail.size() || h->raw_bytes == 0 ||
      h->raw_bytes > kBlockRawBytesMax) {
    return Status::Corruption(Where(what, file_offset) + ": bad block size");
  }
  if (DecodeFixed32(b) != BlockChecksum(b, h->stored_bytes, checksum_id, file_offset)) {
    return Status::Corruption(Where(what, file_offset) + ": block checksum mismatch");
  }
  return Status::Ok();
}

Status DecodeBlock(std::span<const char> avail, uint64_t checksum_id, uint64_t file_offset,
                   std::string_view what, BlockHeader* h, std::string* raw) {
  TLDB_RETURN_IF_ERROR(DecodeBlockHeader(avail, checksum_id, file_offset, what, h));
  raw->resize(h->raw_bytes);
  return DecompressBlock(avail, file_offset, what, *h, raw->data());
}

Status DecompressBlock(std::span<const char> avail, uint64_t file_offset, std::string_view what,
                       const BlockHeader& h, char* dst) {
  TLDB_CHECK(h.stored_bytes > kBlockHeaderBytes && h.stored_bytes <= avail.size());
  const size_t n =
      ZSTD_decompressDCtx(ThreadDecompressor(), dst, h.raw_bytes, avail.data() + kBlockHeaderBytes,
                          h.stored_bytes - kBlockHeaderBytes);
  if (ZSTD_isError(n) || n != h.raw_bytes) {
    return Status::Corruption(Where(what, file_offset) + ": block does not decompress");
  }
  return Status::Ok();
}

}  // namespace tldb
