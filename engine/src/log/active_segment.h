// ActiveSegment: the one segment of a namespace that still takes appends.
//
// It keeps an in-memory image of every byte written to the file (so reads of recent messages,
// the hot IM path, make no syscall; the bytes recovered at open are a read-only mapping of the
// file, in the page cache rather than the heap) and the per-timeline offsets of its
// records (its index until it is sealed). It also tracks how far the file's blocks are known to be
// allocated (written or fallocated), so the writer reserves space before it writes (docs/design.md
// "Disk full"). The image is a list of chunks; one group commit is
// always contiguous in one chunk so it is written with one call. Not thread-safe: NamespaceLog
// guards it; bytes below `published_end` are immutable and safe for readers under a shared lock.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "tldb/file_system.h"
#include "tldb/types.h"
#include "util/large_buffer.h"

namespace tldb {

class ActiveSegment {
 public:
  // One timeline's records in this segment: SeqIds first_seq, first_seq+1, ... at offsets[i].
  // 24 bytes; two offsets inline (most timelines get a message or two per segment), the heap
  // beyond.
  class Slot {
   public:
    Slot(uint32_t timeline, Seq first_seq) : first_seq_(first_seq), timeline_(timeline) {}
    ~Slot();
    Slot(Slot&& o) noexcept;
    Slot& operator=(Slot&&) = delete;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

    uint32_t timeline() const { return timeline_; }
    Seq first_seq() const { return first_seq_; }
    uint32_t size() const { return count_; }
    uint32_t operator[](uint32_t i) const { return data()[i]; }
    std::span<const uint32_t> offsets() const { return {data(), count_}; }
    void push_back(uint32_t offset);
    size_t heap_bytes() const;
    // Fetches where the next push_back writes (a fan-out's targets: a cache miss each).
    void PrefetchEnd() const {
      if (count_ > kInline) __builtin_prefetch(heap_ + count_, 1);
    }

   private:
    static constexpr uint32_t kInline = 2;
    const uint32_t* data() const { return count_ <= kInline ? inline_ : heap_; }
    Seq first_seq_;
    uint32_t timeline_;
    uint32_t count_ = 0;
    union {
      uint32_t inline_[kInline];
      uint32_t* heap_;
    };
  };
  static_assert(sizeof(Slot) == 24, "keep the active index small");

  struct DedupeRecord {  // a record that carries a client_msg_id (copied into the index file)
    uint32_t timeline;
    uint64_t cmid_hash;
    Seq seq;
    TimestampMs ts;
  };

  struct MutationRecord {  // a recall, edit or trim record (copied into the index file)
    uint32_t timeline;
    uint8_t type;
    Seq seq;
    uint32_t offset;
  };

  // `image` holds the file's bytes [0, image.size()) as read at recovery (or just the header).
  // `segment_bytes_max` (the namespace's) sizes the in-memory chunks: kChunkBytesMax, or less
  // for a namespace whose segments are smaller (a group larger than a chunk gets its own).
  ActiveSegment(uint64_t id, std::unique_ptr<WritableFile> file, std::string_view image,
                uint64_t segment_bytes_max);
  // The same with the file's recovered bytes [0, recovered_bytes) read from `recovered`, a
  // mapping of the file kept for the segment's life instead of a copy on the heap: those bytes
  // never change (appends go after them, a Rewind never goes below durable_end()).
  ActiveSegment(uint64_t id, std::unique_ptr<WritableFile> file,
                std::unique_ptr<MappedFile> recovered, uint64_t recovered_bytes,
                uint64_t segment_bytes_max);

  uint64_t id() const { return id_; }
  WritableFile* file() { return file_.get(); }

  // End of the encoded bytes (the next record's offset).
  uint64_t end() const { return end_; }
  // Bytes known durable (fdatasync'ed).
  uint64_t durable_end() const { return durable_end_; }
  void set_durable_end(uint64_t v) { durable_end_ = v; }
  // fdatasyncs of this segment's records so far (decides whether its successor is pre-zeroed).
  uint64_t syncs() const { return syncs_; }
  void NoteSync() { ++syncs_; }
  // The file's blocks [0, allocated_end) are allocated: writes below it need no new space.
  uint64_t allocated_end() const { return allocated_end_; }
  void set_allocated_end(uint64_t v) { allocated_end_ = v; }
  // The file's bytes [0, zeroed_end) were written (records, or zeros ahead of them) when this
  // segment became the active one: an fdatasync after writing below it overwrites written
  // blocks (SegmentPreparer zeros further ahead from there).
  uint64_t zeroed_end() const { return zeroed_end_; }
  void set_zeroed_end(uint64_t v) { zeroed_end_ = v; }
  // end() when this process opened the segment (the header, or the records recovered): what
  // was appended since is end() - opened_end(), the records syncs() counts the fdatasyncs of.
  uint64_t opened_end() const { return opened_end_; }

  // Makes room for up to `max_bytes` contiguous bytes at end(); returns where to encode.
  char* Reserve(size_t max_bytes);
  // Marks `n` bytes at end() as encoded.
  void Commit(size_t n) { end_ += n; }
  // Drops encoded bytes past `end` (a failed group).
  void Rewind(uint64_t end);
  // The encoded bytes from `offset` to the end of the chunk holding it (at most end()); offset
  // must be < end().
  std::span<const char> At(uint64_t offset) const;
  // The contiguous encoded range [from, to) (one group), for writing.
  std::span<const char> Range(uint64_t from, uint64_t to) const;

  // Index.
  Slot& slot(uint32_t i) { return slots_[i]; }
  const Slot& slot(uint32_t i) const { return slots_[i]; }
  // Prefetches slot i, or where its next offset goes (kNoSlot, or any i past the end: nothing).
  void PrefetchSlot(uint32_t i) const {
    if (i < slots_.size()) __builtin_prefetch(&slots_[i]);
  }
  void PrefetchSlotEnd(uint32_t i) const {
    if (i < slots_.size()) slots_[i].PrefetchEnd();
  }
  const std::vector<Slot>& slots() const { return slots_; }
  // A new slot for `timeline`, whose key is `key_bytes` long (counted for IndexShape).
  uint32_t AddSlot(uint32_t timeline, Seq first_seq, size_t key_bytes);
  // Appends a record's offset to slot `i` (counted for IndexShape).
  void AddOffset(uint32_t i, uint32_t offset) {
    slots_[i].push_back(offset);
    ++offset_count_;
  }
  // What the index built from this segment's slots and records would hold so far (its size:
  // SegmentIndexBuilder::Bytes), without a pass over the slots.
  struct IndexShape {
    uint64_t timelines = 0, offsets = 0, dedupes = 0, mutations = 0, key_bytes = 0;
  };
  IndexShape Shape() const {
    return {slots_.size(), offset_count_, dedupe_records_.size(), mutation_records_.size(),
            slot_key_bytes_};
  }
  std::vector<DedupeRecord>& dedupe_records() { return dedupe_records_; }
  std::vector<MutationRecord>& mutation_records() { return mutation_records_; }
  void NoteTimestamp(TimestampMs ts);
  TimestampMs min_ts() const { return min_ts_; }
  TimestampMs max_ts() const { return max_ts_; }
  uint64_t MemoryBytes() const;

 private:
  struct Chunk {
    uint64_t start;  // file offset of data[0]
    size_t capacity;
    LargeBuffer data;   // empty for the recovered mapping
    const char* bytes;  // data, or the recovered mapping (data empty)
  };
  const Chunk& ChunkFor(uint64_t offset) const;

  static constexpr size_t kChunkBytesMax = 8u << 20;  // 8 MiB: a few per 64 MiB segment
  const size_t chunk_bytes_;
  uint64_t id_;
  std::unique_ptr<WritableFile> file_;
  std::unique_ptr<MappedFile> recovered_;  // the first chunk's bytes, if recovered mapped
  std::vector<Chunk> chunks_;
  uint64_t end_ = 0;
  uint64_t durable_end_ = 0;
  uint64_t syncs_ = 0;
  uint64_t allocated_end_ = 0;
  uint64_t zeroed_end_ = 0;
  uint64_t opened_end_ = 0;
  std::vector<Slot> slots_;
  uint64_t offset_count_ = 0;    // over all slots
  uint64_t slot_key_bytes_ = 0;  // the slots' timelines' keys
  std::vector<DedupeRecord> dedupe_records_;
  std::vector<MutationRecord> mutation_records_;
  TimestampMs min_ts_ = 0;
  TimestampMs max_ts_ = 0;
};

}  // namespace tldb
