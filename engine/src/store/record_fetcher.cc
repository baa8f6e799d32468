#include "store/record_fetcher.h"

#include <algorithm>
#include <memory>
#include <string>

#include "log/block_codec.h"
#include "log/file_names.h"

namespace tldb {

Status RecordFetcher::Decode(std::span<const char> bytes, uint64_t segment_id, uint32_t gen,
                             uint64_t offset, std::string_view key, Seq seq, RecordView* r) const {
  if (DecodeRecord(bytes, ChecksumId(segment_id, gen), offset, r) != DecodeOutcome::kOk) {
    return Status::Corruption(SegmentFileName(st_.dir, segment_id, gen) + " offset " +
                              std::to_string(offset) + ": damaged record (checksum or framing)");
  }
  if (!RecordHolds(*r, key, seq)) {
    return Status::Corruption(SegmentFileName(st_.dir, segment_id, gen) + " offset " +
                              std::to_string(offset) +
                              ": index points at a record of another timeline or SeqId");
  }
  return Status::Ok();
}

namespace {
// The block this thread read last: a scan reads many records of one block in a row, and the
// views it returns point into it, so it is held until this thread's next block.
struct LastBlock {
  BlockCache::Key key{};
  BlockCache::Block block;
};
thread_local LastBlock last_block;

// Whether `c` holds record-space offset `off` of `seg` (namespace instance `ns`): the instance,
// id and generation name a segment's bytes exactly.
bool LastBlockHolds(const LastBlock& c, uint32_t ns, const SealedSegment& seg, uint64_t off) {
  return c.block && c.key.ns == ns && c.key.segment == seg.id && c.key.gen == seg.gen &&
         off >= c.key.raw_start && off - c.key.raw_start < c.block->size();
}
}  // namespace

void RecordFetcher::PrefetchSealed(const SealedSegment& seg, uint64_t offset) const {
  if (!seg.compressed) {
    const auto data = seg.data->data();
    if (offset < data.size()) PrefetchBytes(data.subspan(offset));
    return;
  }
  const LastBlock& c = last_block;
  if (LastBlockHolds(c, st_.instance_id, seg, offset)) {
    PrefetchBytes(std::span<const char>(*c.block).subspan(offset - c.key.raw_start));
  }
}

Status RecordFetcher::SealedBytes(const SealedSegment& seg, uint64_t off,
                                  std::span<const char>* out) const {
  const auto data = seg.data->data();
  const uint64_t data_end = seg.index.summary().data_end;
  if (off >= data_end || off < format::kSegmentHeaderBytes) {
    return Status::Corruption(SegmentFileName(st_.dir, seg.id, seg.gen) + ": index offset " +
                              std::to_string(off) + " beyond segment data");
  }
  if (!seg.compressed) {
    const uint64_t end = std::min<uint64_t>(data.size(), data_end);
    *out = data.subspan(off, end - off);
    return Status::Ok();
  }
  LastBlock& c = last_block;
  if (LastBlockHolds(c, st_.instance_id, seg, off)) {  // a scan's next record: no search
    *out = std::span<const char>(*c.block).subspan(off - c.key.raw_start);
    return Status::Ok();
  }
  IndexBlock b;
  if (!seg.index.FindBlock(static_cast<uint32_t>(off), &b) || b.file_offset >= data.size()) {
    return Status::Corruption(SegmentFileName(st_.dir, seg.id, seg.gen) +
                              ": no block holds offset " + std::to_string(off));
  }
  const BlockCache::Key key{st_.instance_id, seg.gen, seg.id, b.raw_start};
  if (!c.block || !(c.key == key)) {
    BlockCache::Block block = st_.block_cache ? st_.block_cache->Lookup(key) : nullptr;
    if (!block) {
      auto raw = std::make_shared<std::string>();
      BlockHeader h;
      TLDB_RETURN_IF_ERROR(DecodeBlock(data.subspan(b.file_offset), seg.checksum_id(),
                                       b.file_offset, SegmentFileName(st_.dir, seg.id, seg.gen), &h,
                                       raw.get()));
      if (h.raw_start != b.raw_start || h.raw_bytes != b.raw_bytes) {
        return Status::Corruption(SegmentFileName(st_.dir, seg.id, seg.gen) + " offset " +
                                  std::to_string(b.file_offset) + ": block differs from its index");
      }
      block = std::move(raw);
      if (st_.block_cache) st_.block_cache->Insert(key, block);
    }
    c.key = key;
    c.block = std::move(block);
  }
  *out = std::span<const char>(*c.block).subspan(off - b.raw_start);
  return Status::Ok();
}

Status RecordFetcher::Sealed(const SealedSegment& seg, uint64_t offset, std::string_view key,
                             Seq seq, RecordView* r) const {
  if (seg.quarantine) return Status::Corruption(seg.QuarantineError(st_.dir));
  std::span<const char> bytes;
  Status s = SealedBytes(seg, offset, &bytes);
  if (s.ok()) {
    if (DecodeRecord(bytes, seg.checksum_id(), offset, r) == DecodeOutcome::kOk &&
        RecordHolds(*r, key, seq)) {
      return s;
    }
    s = Decode(bytes, seg.id, seg.gen, offset, key, seq, r);  // says what is wrong
  }
  // A disk read error under the mapping shows as zeros, which fail every check: it is told
  // apart here, off the fast path.
  if (!s.ok() && seg.failed()) return Status::IOError(seg.FailedError(st_.dir));
  return s;
}

Status RecordFetcher::At(uint32_t segment, uint64_t offset, std::string_view key, Seq seq,
                         RecordView* r) const {
  if (st_.active && segment == st_.active->id()) return Active(offset, key, seq, r);
  const SealedSegment* seg = st_.Sealed(segment);
  if (seg == nullptr) return Status::Deleted("message expired");
  return Sealed(*seg, offset, key, seq, r);
}

}  // namespace tldb
