// Segment index file (.idx): written once when a segment is sealed, then read through a
// read-only mapping (docs/format.md "Index file"). It lets a store open without re-reading
// sealed segment data and finds any (timeline, SeqId) of the segment in O(log n).
//
// SegmentIndexBuilder collects per-timeline offsets and client_msg_id hashes and serialises
// them; SegmentIndexReader validates a file (sizes, checksum) and answers lookups without
// copying it into the heap.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tldb/status.h"
#include "tldb/types.h"
#include "util/large_buffer.h"

namespace tldb {

namespace index_format {
inline constexpr char kMagic[8] = {'T', 'L', 'D', 'B', 'I', 'D', 'X', '1'};
inline constexpr uint32_t kVersion = 2;  // version 1 files (no mutations, no blocks) still read
inline constexpr size_t kHeaderBytesV1 = 64;
inline constexpr size_t kHeaderBytes = 96;
inline constexpr size_t kMutationBytes = 24;
inline constexpr size_t kBlockBytes = 16;
// An offsets[] slot whose message is gone (compaction dropped it): the SeqId is deleted.
inline constexpr uint32_t kGapOffset = 0xffffffffu;
}  // namespace index_format
// The longest run of deleted SeqIds one index entry may carry as gaps (4 bytes each): 1Mi (4 MiB).
// More consecutive recalls than that (instead of a trim) keep the segment from being compacted.
inline constexpr uint64_t kIndexGapMax = 1u << 20;
namespace index_format {
inline constexpr size_t kEntryBytes = 40;
inline constexpr size_t kDedupeBytes = 32;
inline constexpr size_t kFooterBytes = 8;
// Byte offsets of every field (docs/format.md "Index file"): the header,
inline constexpr size_t kHdrMagic = 0;
inline constexpr size_t kHdrVersion = 8;
inline constexpr size_t kHdrNamespaceId = 12;
inline constexpr size_t kHdrSegmentId = 16;
inline constexpr size_t kHdrDataEnd = 24;
inline constexpr size_t kHdrTimelineCount = 28;
inline constexpr size_t kHdrOffsetCount = 32;
inline constexpr size_t kHdrDedupeCount = 36;
inline constexpr size_t kHdrMinTs = 40;
inline constexpr size_t kHdrMaxTs = 48;
inline constexpr size_t kHdrDirectoryBits = 56;
inline constexpr size_t kHdrMutationCount = 60;  // version 2 (version 1: its header checksum)
inline constexpr size_t kHdrBlockCount = 64;
inline constexpr size_t kHdrGeneration = 68;
inline constexpr size_t kHdrFlags = 72;  // bit 0: compressed
inline constexpr size_t kHdrChecksum = kHeaderBytes - 4;
// a timeline entry,
inline constexpr size_t kEntKeyHash = 0;
inline constexpr size_t kEntFirstSeq = 8;
inline constexpr size_t kEntLastTs = 16;
inline constexpr size_t kEntCount = 24;
inline constexpr size_t kEntOffsetsStart = 28;
inline constexpr size_t kEntKeyOffset = 32;
inline constexpr size_t kEntKeyLength = 36;
// a dedupe entry,
inline constexpr size_t kDedCmidHash = 0;
inline constexpr size_t kDedSeq = 8;
inline constexpr size_t kDedTs = 16;
inline constexpr size_t kDedEntry = 24;
// a mutation entry,
inline constexpr size_t kMutEntry = 0;
inline constexpr size_t kMutType = 4;
inline constexpr size_t kMutSeq = 8;
inline constexpr size_t kMutOffset = 16;
// and a block entry.
inline constexpr size_t kBlkRawStart = 0;
inline constexpr size_t kBlkFileOffset = 4;
inline constexpr size_t kBlkStoredBytes = 8;
inline constexpr size_t kBlkRawBytes = 12;
static_assert(kHdrFlags + 4 <= kHdrChecksum && kHdrMutationCount + 4 == kHeaderBytesV1);
static_assert(kEntKeyLength < kEntryBytes && kDedEntry + 4 <= kDedupeBytes);
static_assert(kMutOffset + 4 <= kMutationBytes && kBlkRawBytes + 4 == kBlockBytes);
// The directory splits entries by the top bits of their key hash (at most 2^24 buckets).
inline constexpr uint32_t kDirectoryBitsMax = 24;
}  // namespace index_format

struct IndexEntry {
  uint64_t key_hash = 0;
  std::string_view key;
  Seq first_seq = 0;
  TimestampMs last_ts = 0;
  uint32_t count = 0;
  uint32_t offsets_start = 0;
};

struct IndexDedupe {
  uint64_t cmid_hash = 0;  // DedupeHash(key_hash, client_msg_id)
  Seq seq = 0;
  TimestampMs ts = 0;
  uint32_t entry = 0;  // index of the timeline's IndexEntry
};

// A maintenance record of the segment (recall, edit, trim), replayed into memory at open.
struct IndexMutation {
  uint32_t entry = 0;  // index of the timeline's IndexEntry
  uint8_t type = 0;    // format::RecordType
  Seq seq = 0;         // the SeqId acted on (trim: the first one kept)
  uint32_t offset = 0;
};

// One zstd block of a compacted segment: uncompressed bytes [raw_start, raw_start + raw_bytes)
// of the segment's record space are stored at file_offset (block header included).
struct IndexBlock {
  uint32_t raw_start = 0;
  uint32_t file_offset = 0;
  uint32_t stored_bytes = 0;  // block header + compressed bytes
  uint32_t raw_bytes = 0;
};

// How much an index file holds; its size in bytes is SegmentIndexBuilder::Bytes.
struct IndexCounts {
  uint64_t timelines = 0;
  uint64_t offsets = 0;  // over all timelines
  uint64_t dedupes = 0;
  uint64_t mutations = 0;
  uint64_t blocks = 0;
  uint64_t key_bytes = 0;  // the timelines' keys
};

struct IndexSummary {
  uint32_t namespace_id = 0;
  uint64_t segment_id = 0;
  uint32_t generation = 0;  // 0: written by appends; > 0: a compaction output
  bool compressed = false;  // records live in zstd blocks
  uint32_t data_end = 0;    // end of the record space the index covers
  TimestampMs min_ts = 0;
  TimestampMs max_ts = 0;
};

class SegmentIndexBuilder {
 public:
  SegmentIndexBuilder(uint32_t namespace_id, uint64_t segment_id)
      : ns_id_(namespace_id), segment_id_(segment_id) {}
  // Not copyable: a timeline's offsets view its own vector, which a move keeps and a copy not.
  SegmentIndexBuilder(const SegmentIndexBuilder&) = delete;
  SegmentIndexBuilder& operator=(const SegmentIndexBuilder&) = delete;
  SegmentIndexBuilder(SegmentIndexBuilder&&) = default;
  SegmentIndexBuilder& operator=(SegmentIndexBuilder&&) = default;
  // Timelines may be added in any order; offsets are the records' segment offsets, one per
  // SeqId starting at first_seq.
  void AddTimeline(std::string_view key, uint64_t key_hash, Seq first_seq, TimestampMs last_ts,
                   std::span<const uint32_t> offsets);
  // The same without a copy of `offsets`, which the caller keeps until Finish (a roll: the
  // active segment's slots; 17 MB for a segment of fan-outs to 2,000 members).
  void AddTimelineKept(std::string_view key, uint64_t key_hash, Seq first_seq, TimestampMs last_ts,
                       std::span<const uint32_t> offsets);
  // Room for `timelines` more (a roll knows how many: no regrowth while it adds them).
  void ReserveTimelines(size_t timelines) { timelines_.reserve(timelines_.size() + timelines); }
  // `key` must have been added with AddTimeline or AddMutation.
  void AddDedupe(std::string_view key, uint64_t cmid_hash, Seq seq, TimestampMs ts);
  // A maintenance record of timeline `key` (which may have no message in this segment).
  void AddMutation(std::string_view key, uint64_t key_hash, uint8_t type, Seq seq, uint32_t offset);
  void AddBlock(const IndexBlock& b) { blocks_.push_back(b); }
  void SetGeneration(uint32_t generation, bool compressed) {
    generation_ = generation;
    compressed_ = compressed;
  }
  // Serialises everything. min/max_ts: the segment's record timestamps; data_end: its size.
  LargeBuffer FinishBuffer(uint32_t data_end, TimestampMs min_ts, TimestampMs max_ts);
  // The same into *buffer, reallocated (to the index's size) only when it is too small; returns
  // the index's bytes, at its start. A caller that keeps the buffer across indexes writes into
  // pages already touched (a fresh page costs a fault here, below the guest too).
  std::span<const char> FinishInto(LargeBuffer* buffer, uint32_t data_end, TimestampMs min_ts,
                                   TimestampMs max_ts);
  std::string Finish(uint32_t data_end, TimestampMs min_ts, TimestampMs max_ts);
  // The size of an index file that holds `c` (what Finish writes for it).
  static uint64_t Bytes(const IndexCounts& c);

 private:
  struct Timeline {
    std::string key;
    uint64_t key_hash;
    Seq first_seq;
    TimestampMs last_ts;
    std::span<const uint32_t> offsets;  // `owned`, or the caller's (AddTimelineKept)
    std::vector<uint32_t> owned;
  };
  struct Dedupe {
    std::string key;
    uint64_t cmid_hash;
    Seq seq;
    TimestampMs ts;
  };
  struct Mutation {
    std::string key;
    uint8_t type;
    Seq seq;
    uint32_t offset;
  };
  void AddEmptyTimelines();
  uint32_t ns_id_;
  uint64_t segment_id_;
  uint32_t generation_ = 0;
  bool compressed_ = false;
  std::vector<Timeline> timelines_;
  std::vector<Dedupe> dedupe_;
  std::vector<Mutation> mutations_;
  std::vector<std::pair<std::string, uint64_t>> mutation_keys_;  // key, key_hash
  std::vector<IndexBlock> blocks_;
};

class SegmentIndexReader {
 public:
  SegmentIndexReader() = default;
  // Whether Open recomputes the body's checksum. kBuiltHere: only for bytes FinishInto has just
  // computed it over, in this process's memory (a roll: 1 ms for an 18 MB index while appends
  // wait); everything read from a file is kVerify. The structure is checked either way.
  enum class BodyChecksum { kVerify, kBuiltHere };
  // Validates `file` (header, bounds, checksum) for the given namespace and segment; `what`
  // names the file in errors. The bytes must outlive the reader.
  Status Open(std::span<const char> file, uint32_t namespace_id, uint64_t segment_id,
              std::string_view what, BodyChecksum body = BodyChecksum::kVerify);
  // Reads from `copy` from now on: a byte-identical copy of the bytes Open validated (a roll
  // validates the index it built in memory, then serves the file it wrote them to without
  // reading all of it again). Checks the copy's size and its first and last pages (Corruption
  // if they differ); the rest is trusted to be what was just written. `copy` must outlive the
  // reader.
  Status MoveTo(std::span<const char> copy, std::string_view what);

  const IndexSummary& summary() const { return summary_; }
  uint32_t timeline_count() const { return timeline_count_; }
  uint32_t dedupe_count() const { return dedupe_count_; }
  uint32_t offset_count() const { return offset_count_; }
  uint32_t mutation_count() const { return mutation_count_; }
  uint32_t block_count() const { return block_count_; }
  IndexEntry Entry(uint32_t i) const;
  // Entry(i).key_hash, without decoding the rest.
  uint64_t EntryKeyHash(uint32_t i) const;

  IndexDedupe Dedupe(uint32_t i) const;
  IndexMutation Mutation(uint32_t i) const;
  IndexBlock Block(uint32_t i) const;
  // The block holding raw offset `raw`, or false.
  bool FindBlock(uint32_t raw, IndexBlock* out) const;
  // Segment offset of the record holding SeqId entry.first_seq + i (kGapOffset: deleted).
  uint32_t Offset(const IndexEntry& e, uint32_t i) const;
  // Binary search by hash, then key compare. False if the timeline has no record here.
  bool Find(std::string_view key, uint64_t key_hash, IndexEntry* out) const;

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
  IndexSummary summary_;
  uint32_t timeline_count_ = 0;
  uint32_t offset_count_ = 0;
  uint32_t dedupe_count_ = 0;
  uint32_t mutation_count_ = 0;
  uint32_t block_count_ = 0;
  uint32_t key_blob_bytes_ = 0;
  uint32_t dir_bits_ = 0;
  const char* dir_ = nullptr;
  const char* entries_ = nullptr;
  const char* offsets_ = nullptr;
  const char* dedupes_ = nullptr;
  const char* mutations_ = nullptr;
  const char* blocks_ = nullptr;
  const char* keys_ = nullptr;
};

// The hash under which a client_msg_id is remembered for a timeline.
uint64_t DedupeHash(uint64_t key_hash, std::string_view client_msg_id);
// The hash of a timeline key.
uint64_t KeyHash(std::string_view key);

}  // namespace tldb
