#include "log/active_segment.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>

#include "util/check.h"

namespace tldb {

ActiveSegment::ActiveSegment(uint64_t id, std::unique_ptr<WritableFile> file,
                             std::string_view image, uint64_t segment_bytes_max)
    : chunk_bytes_(static_cast<size_t>(std::min<uint64_t>(kChunkBytesMax, segment_bytes_max))),
      id_(id),
      file_(std::move(file)) {
  TLDB_CHECK(chunk_bytes_ > 0);
  char* p = Reserve(image.size());
  std::memcpy(p, image.data(), image.size());
  Commit(image.size());
  durable_end_ = end_;
  allocated_end_ = end_;
  zeroed_end_ = end_;
  opened_end_ = end_;
}

ActiveSegment::ActiveSegment(uint64_t id, std::unique_ptr<WritableFile> file,
                             std::unique_ptr<MappedFile> recovered, uint64_t recovered_bytes,
                             uint64_t segment_bytes_max)
    : chunk_bytes_(static_cast<size_t>(std::min<uint64_t>(kChunkBytesMax, segment_bytes_max))),
      id_(id),
      file_(std::move(file)),
      recovered_(std::move(recovered)) {
  TLDB_CHECK(chunk_bytes_ > 0 && recovered_bytes > 0);
  TLDB_CHECK(recovered_bytes <= recovered_->data().size());
  chunks_.push_back(
      {0, static_cast<size_t>(recovered_bytes), LargeBuffer(), recovered_->data().data()});
  end_ = recovered_bytes;
  durable_end_ = end_;
  allocated_end_ = end_;
  zeroed_end_ = end_;
  opened_end_ = end_;
}

char* ActiveSegment::Reserve(size_t max_bytes) {
  // The recovered chunk (a read-only mapping) is full: it never takes new bytes.
  if (chunks_.empty() || chunks_.back().data.data() == nullptr ||
      end_ + max_bytes > chunks_.back().start + chunks_.back().capacity) {
    const size_t cap = std::max(chunk_bytes_, max_bytes);
    LargeBuffer buf(cap, LargeBuffer::Pages::kHeap);  // written before it is read
    char* bytes = buf.data();
    chunks_.push_back({end_, cap, std::move(buf), bytes});
  }
  Chunk& c = chunks_.back();
  return c.data.data() + (end_ - c.start);
}

void ActiveSegment::Rewind(uint64_t end) {
  TLDB_CHECK(end <= end_ && end >= durable_end_);
  end_ = end;
}

const ActiveSegment::Chunk& ActiveSegment::ChunkFor(uint64_t offset) const {
  auto it = std::upper_bound(chunks_.begin(), chunks_.end(), offset,
                             [](uint64_t off, const Chunk& c) { return off < c.start; });
  TLDB_CHECK(it != chunks_.begin());
  return *(it - 1);
}

std::span<const char> ActiveSegment::At(uint64_t offset) const {
  TLDB_CHECK(offset < end_);
  const Chunk& c = ChunkFor(offset);
  // A chunk's bytes end where the next chunk starts (a group that did not fit started a new
  // one; the rest of this chunk's capacity holds nothing).
  uint64_t stop = std::min<uint64_t>(end_, c.start + c.capacity);
  if (&c != &chunks_.back()) stop = std::min<uint64_t>(stop, (&c + 1)->start);
  return {c.bytes + (offset - c.start), static_cast<size_t>(stop - offset)};
}

std::span<const char> ActiveSegment::Range(uint64_t from, uint64_t to) const {
  TLDB_CHECK(from <= to && to <= end_);
  if (from == to) return {};
  const Chunk& c = ChunkFor(from);
  TLDB_CHECK(to <= c.start + c.capacity);  // a group never spans chunks
  return {c.bytes + (from - c.start), static_cast<size_t>(to - from)};
}

ActiveSegment::Slot::~Slot() {
  if (count_ > kInline) std::free(heap_);
}

ActiveSegment::Slot::Slot(Slot&& o) noexcept
    : first_seq_(o.first_seq_), timeline_(o.timeline_), count_(o.count_) {
  std::memcpy(inline_, o.inline_, sizeof inline_);  // also moves the heap pointer
  o.count_ = 0;
}

void ActiveSegment::Slot::push_back(uint32_t offset) {
  if (count_ < kInline) {
    inline_[count_++] = offset;
    return;
  }
  if (count_ == kInline) {
    auto* heap = static_cast<uint32_t*>(std::malloc(sizeof(uint32_t) * kInline * 2));
    TLDB_CHECK(heap != nullptr);
    std::memcpy(heap, inline_, sizeof inline_);
    heap_ = heap;
  } else if ((count_ & (count_ - 1)) == 0) {  // full: capacity is the power of two >= count
    // (not std::has_single_bit: without -mpopcnt it is a call into libgcc, per record)
    heap_ = static_cast<uint32_t*>(std::realloc(heap_, sizeof(uint32_t) * count_ * 2));
    TLDB_CHECK(heap_ != nullptr);
  }
  heap_[count_++] = offset;
}

size_t ActiveSegment::Slot::heap_bytes() const {
  return count_ > kInline ? sizeof(uint32_t) * std::bit_ceil(count_) : 0;
}

uint32_t ActiveSegment::AddSlot(uint32_t timeline, Seq first_seq, size_t key_bytes) {
  slots_.emplace_back(timeline, first_seq);
  slot_key_bytes_ += key_bytes;
  return static_cast<uint32_t>(slots_.size() - 1);
}

void ActiveSegment::NoteTimestamp(TimestampMs ts) {
  if (min_ts_ == 0 || ts < min_ts_) min_ts_ = ts;
  max_ts_ = std::max(max_ts_, ts);
}

uint64_t ActiveSegment::MemoryBytes() const {
  uint64_t n = slots_.capacity() * sizeof(Slot);
  for (const auto& s : slots_) n += s.heap_bytes();
  return n + dedupe_records_.capacity() * sizeof(DedupeRecord);
}

}  // namespace tldb
