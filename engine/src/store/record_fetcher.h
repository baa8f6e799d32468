// RecordFetcher: reads one record of a namespace by (segment, offset) and proves it is the one
// the index promised: its checksum (over header, identity and payload) verifies and it holds
// (key, SeqId). Plain segments are read in place; a compressed segment's block is decoded once
// into the Db's block cache. No deletion rules here (TimelineRules) and no search (TimelineRuns).
//
// Contract: the caller holds NamespaceState::mu (shared is enough). A RecordView it fills points
// into the active segment, a sealed mapping, or this thread's last decoded block, and stays valid
// while mu is held and until this thread's next fetch from another compressed block.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "log/record.h"
#include "log/segment_header.h"
#include "store/namespace_state.h"

namespace tldb {

class RecordFetcher {
 public:
  explicit RecordFetcher(NamespaceState& st) : st_(st) {}

  // The record of (key, seq) at `offset` of segment `segment` (active or sealed); Deleted when
  // the segment is gone (expired).
  Status At(uint32_t segment, uint64_t offset, std::string_view key, Seq seq, RecordView* r) const;
  // The record at `offset` of the active segment. Inline: most reads are of recent messages.
  Status Active(uint64_t offset, std::string_view key, Seq seq, RecordView* r) const {
    const ActiveSegment& a = *st_.active;
    if (DecodeRecord(a.At(offset), ChecksumId(a.id(), 0), offset, r) == DecodeOutcome::kOk &&
        RecordHolds(*r, key, seq)) {
      return Status::Ok();
    }
    return Decode(a.At(offset), a.id(), 0, offset, key, seq, r);  // says what is wrong
  }
  // The record at record-space offset `offset` of a sealed segment.
  Status Sealed(const SealedSegment& seg, uint64_t offset, std::string_view key, Seq seq,
                RecordView* r) const;

  // Hints that the record at `offset` will be read soon: its first bytes are fetched into the
  // CPU cache (a scan reads records one after another, each a cache miss otherwise). Reads
  // nothing and checks nothing; a compressed segment's record only if it lies in this thread's
  // last decoded block.
  void PrefetchActive(uint64_t offset) const {
    const ActiveSegment& a = *st_.active;
    if (offset < a.end()) PrefetchBytes(a.At(offset));
  }
  void PrefetchSealed(const SealedSegment& seg, uint64_t offset) const;

 private:
  static void PrefetchBytes(std::span<const char> bytes) {
    constexpr size_t kLines = 4;  // a 200-byte message's record; the rest streams in
    for (size_t i = 0; i < kLines && i * 64 < bytes.size(); ++i) {
      __builtin_prefetch(bytes.data() + i * 64);
    }
  }
  // Bytes from record-space offset `off` of a sealed segment to the end of its block or data.
  Status SealedBytes(const SealedSegment& seg, uint64_t off, std::span<const char>* out) const;
  Status Decode(std::span<const char> bytes, uint64_t segment_id, uint32_t gen, uint64_t offset,
                std::string_view key, Seq seq, RecordView* r) const;

  NamespaceState& st_;
};

}  // namespace tldb
