#include "index/segment_index.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "util/check.h"
#include "util/checksum.h"
#include "util/coding.h"

namespace tldb {

using namespace index_format;  // NOLINT(google-build-using-namespace)

namespace {

// About eight entries per directory bucket.
uint32_t DirectoryBits(uint32_t timelines) {
  uint32_t bits = 0;
  while (bits < kDirectoryBitsMax && (uint64_t{8} << bits) < timelines) ++bits;
  return bits;
}

uint64_t Bucket(uint64_t key_hash, uint32_t bits) {
  return bits == 0 ? 0 : key_hash >> (64 - bits);
}

}  // namespace

uint64_t KeyHash(std::string_view key) {
  return Hash64(key, 0x7464626b6579ull);
}
uint64_t DedupeHash(uint64_t key_hash, std::string_view client_msg_id) {
  return Hash64(client_msg_id, key_hash);
}

void SegmentIndexBuilder::AddTimeline(std::string_view key, uint64_t key_hash, Seq first_seq,
                                      TimestampMs last_ts, std::span<const uint32_t> offsets) {
  TLDB_CHECK(!offsets.empty() && first_seq != 0);
  Timeline t{std::string(key), key_hash, first_seq, last_ts, {}, {offsets.begin(), offsets.end()}};
  t.offsets = t.owned;  // a vector's move keeps its buffer: the view stays valid
  timelines_.push_back(std::move(t));
}

void SegmentIndexBuilder::AddTimelineKept(std::string_view key, uint64_t key_hash, Seq first_seq,
                                          TimestampMs last_ts, std::span<const uint32_t> offsets) {
  TLDB_CHECK(!offsets.empty() && first_seq != 0);
  timelines_.push_back({std::string(key), key_hash, first_seq, last_ts, offsets, {}});
}

void SegmentIndexBuilder::AddDedupe(std::string_view key, uint64_t cmid_hash, Seq seq,
                                    TimestampMs ts) {
  dedupe_.push_back({std::string(key), cmid_hash, seq, ts});
}

void SegmentIndexBuilder::AddMutation(std::string_view key, uint64_t key_hash, uint8_t type,
                                      Seq seq, uint32_t offset) {
  mutations_.push_back({std::string(key), type, seq, offset});
  mutation_keys_.emplace_back(std::string(key), key_hash);
}

void SegmentIndexBuilder::AddEmptyTimelines() {
  if (mutation_keys_.empty()) return;  // a roll of appends only: no pass over every timeline
  // The keys of maintenance records that no timeline of this index holds, each once, in the
  // order first met: only these are looked up (a roll has thousands of timelines, few of them).
  std::unordered_map<std::string_view, bool> missing;  // key -> added already
  for (const auto& [key, hash] : mutation_keys_) missing.emplace(key, false);
  for (const auto& t : timelines_) missing.erase(t.key);
  for (const auto& [key, hash] : mutation_keys_) {
    auto it = missing.find(key);
    if (it == missing.end() || it->second) continue;
    it->second = true;
    timelines_.push_back({key, hash, 0, 0, {}, {}});
  }
}

namespace {

// Writes the index file's bytes in order into a buffer sized for them.
class Cursor {
 public:
  explicit Cursor(char* at) : at_(at) {}
  void Put(const void* bytes, size_t n) {
    if (n == 0) return;  // an empty span's data() may be null, which memcpy must not get
    std::memcpy(at_, bytes, n);
    at_ += n;
  }
  void Fixed32(uint32_t v) {
    EncodeFixed32(at_, v);
    at_ += 4;
  }
  void Fixed64(uint64_t v) {
    EncodeFixed64(at_, v);
    at_ += 8;
  }
  char* at() const { return at_; }

 private:
  char* at_;
};

}  // namespace

std::string SegmentIndexBuilder::Finish(uint32_t data_end, TimestampMs min_ts, TimestampMs max_ts) {
  const LargeBuffer b = FinishBuffer(data_end, min_ts, max_ts);
  return {b.data(), b.size()};
}

LargeBuffer SegmentIndexBuilder::FinishBuffer(uint32_t data_end, TimestampMs min_ts,
                                              TimestampMs max_ts) {
  LargeBuffer out;
  const std::span<const char> idx = FinishInto(&out, data_end, min_ts, max_ts);
  TLDB_CHECK(idx.size() == out.size());  // allocated for it, exactly
  return out;
}

uint64_t SegmentIndexBuilder::Bytes(const IndexCounts& c) {
  const uint64_t buckets = uint64_t{1} << DirectoryBits(
                               static_cast<uint32_t>(std::min<uint64_t>(c.timelines, UINT32_MAX)));
  return kHeaderBytes + (buckets + 1) * 4 + c.timelines * kEntryBytes + c.offsets * 4 +
         c.dedupes * kDedupeBytes + c.mutations * kMutationBytes + c.blocks * kBlockBytes +
         c.key_bytes + kFooterBytes;
}

std::span<const char> SegmentIndexBuilder::FinishInto(LargeBuffer* buffer, uint32_t data_end,
                                                      TimestampMs min_ts, TimestampMs max_ts) {
  AddEmptyTimelines();
  // Entries go in (key_hash, key) order. Sorted as (hash, position) pairs, not the timelines
  // themselves (each ~100 bytes with its key): a roll sorts tens of thousands while appends wait.
  std::vector<std::pair<uint64_t, uint32_t>> order(timelines_.size());
  for (uint32_t i = 0; i < timelines_.size(); ++i) order[i] = {timelines_[i].key_hash, i};
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first
                              : timelines_[a.second].key < timelines_[b.second].key;
  });
  auto sorted = [&](uint32_t i) -> const Timeline& { return timelines_[order[i].second]; };
  // Entries by key, for dedupe and maintenance records (none in a roll of plain appends).
  std::unordered_map<std::string_view, uint32_t> entry_of;
  if (!dedupe_.empty() || !mutations_.empty()) entry_of.reserve(timelines_.size());
  uint64_t offset_count = 0;
  uint64_t key_bytes = 0;
  for (uint32_t i = 0; i < timelines_.size(); ++i) {
    if (!dedupe_.empty() || !mutations_.empty()) entry_of.emplace(sorted(i).key, i);
    offset_count += timelines_[i].offsets.size();
    key_bytes += timelines_[i].key.size();
  }
  TLDB_CHECK(offset_count < (uint64_t{1} << 32) && key_bytes < (uint64_t{1} << 32));
  const uint32_t bits = DirectoryBits(static_cast<uint32_t>(timelines_.size()));
  const uint64_t buckets = uint64_t{1} << bits;
  // One buffer of huge pages: a fan-out segment's index holds millions of offsets (18 MB for
  // 2,000 members), and filling fresh 4 KiB pages cost a fault each (~10 µs here) on the roll.
  const uint64_t size = Bytes({timelines_.size(), offset_count, dedupe_.size(), mutations_.size(),
                               blocks_.size(), key_bytes});
  if (buffer->size() < size) *buffer = LargeBuffer(size);
  char* h = buffer->data();
  std::memcpy(h, kMagic, 8);
  EncodeFixed32(h + kHdrVersion, kVersion);
  EncodeFixed32(h + kHdrNamespaceId, ns_id_);
  EncodeFixed64(h + kHdrSegmentId, segment_id_);
  EncodeFixed32(h + kHdrDataEnd, data_end);
  EncodeFixed32(h + kHdrTimelineCount, static_cast<uint32_t>(timelines_.size()));
  EncodeFixed32(h + kHdrOffsetCount, static_cast<uint32_t>(offset_count));
  EncodeFixed32(h + kHdrDedupeCount, static_cast<uint32_t>(dedupe_.size()));
  EncodeFixed64(h + kHdrMinTs, static_cast<uint64_t>(min_ts));
  EncodeFixed64(h + kHdrMaxTs, static_cast<uint64_t>(max_ts));
  EncodeFixed32(h + kHdrDirectoryBits, bits);
  EncodeFixed32(h + kHdrMutationCount, static_cast<uint32_t>(mutations_.size()));
  EncodeFixed32(h + kHdrBlockCount, static_cast<uint32_t>(blocks_.size()));
  EncodeFixed32(h + kHdrGeneration, generation_);
  EncodeFixed32(h + kHdrFlags, compressed_ ? 1 : 0);
  EncodeFixed32(h + kHdrChecksum, static_cast<uint32_t>(Hash64(h, kHdrChecksum)));
  Cursor c(h + kHeaderBytes);
  // Directory: dir[b] = first entry whose hash has top `bits` bits >= b.
  uint32_t e = 0;
  for (uint64_t b = 0; b <= buckets; ++b) {
    while (e < order.size() && Bucket(order[e].first, bits) < b) ++e;
    c.Fixed32(e);
  }

  uint32_t offsets_start = 0;
  uint32_t key_offset = 0;
  for (uint32_t i = 0; i < order.size(); ++i) {
    const Timeline& t = sorted(i);
    char e[kEntryBytes] = {};
    EncodeFixed64(e, t.key_hash);
    EncodeFixed64(e + kEntFirstSeq, t.first_seq);
    EncodeFixed64(e + kEntLastTs, static_cast<uint64_t>(t.last_ts));
    EncodeFixed32(e + kEntCount, static_cast<uint32_t>(t.offsets.size()));
    EncodeFixed32(e + kEntOffsetsStart, offsets_start);
    EncodeFixed32(e + kEntKeyOffset, key_offset);
    e[kEntKeyLength] = static_cast<char>(t.key.size());
    c.Put(e, kEntryBytes);
    offsets_start += static_cast<uint32_t>(t.offsets.size());
    key_offset += static_cast<uint32_t>(t.key.size());
  }
  for (uint32_t i = 0; i < order.size(); ++i) {  // fixed32 little-endian, as the host stores them
    c.Put(sorted(i).offsets.data(), sorted(i).offsets.size() * 4);
  }
  for (const auto& d : dedupe_) {
    auto it = entry_of.find(d.key);
    TLDB_CHECK(it != entry_of.end());
    char e[kDedupeBytes] = {};
    EncodeFixed64(e, d.cmid_hash);
    EncodeFixed64(e + kDedSeq, d.seq);
    EncodeFixed64(e + kDedTs, static_cast<uint64_t>(d.ts));
    EncodeFixed32(e + kDedEntry, it->second);
    c.Put(e, kDedupeBytes);
  }
  for (const auto& m : mutations_) {
    auto it = entry_of.find(m.key);
    TLDB_CHECK(it != entry_of.end());
    char e[kMutationBytes] = {};
    EncodeFixed32(e, it->second);
    e[kMutType] = static_cast<char>(m.type);
    EncodeFixed64(e + kMutSeq, m.seq);
    EncodeFixed32(e + kMutOffset, m.offset);
    c.Put(e, kMutationBytes);
  }
  for (const auto& b : blocks_) {
    c.Fixed32(b.raw_start);
    c.Fixed32(b.file_offset);
    c.Fixed32(b.stored_bytes);
    c.Fixed32(b.raw_bytes);
  }
  for (uint32_t i = 0; i < order.size(); ++i) c.Put(sorted(i).key.data(), sorted(i).key.size());
  const auto body = static_cast<size_t>(c.at() - h);
  TLDB_CHECK(body + kFooterBytes == size);  // every byte written, none past the end
  c.Fixed64(Hash64(h, body));
  return {h, static_cast<size_t>(size)};
}

Status SegmentIndexReader::Open(std::span<const char> file, uint32_t namespace_id,
                                uint64_t segment_id, std::string_view what, BodyChecksum body_sum) {
  const std::string where(what);
  if (file.size() < kHeaderBytesV1 + kFooterBytes) {
    return Status::Corruption(where + ": index file truncated");
  }
  const char* h = file.data();
  if (std::memcmp(h, kMagic, 8) != 0) return Status::Corruption(where + ": bad index magic");
  const uint32_t version = DecodeFixed32(h + kHdrVersion);
  if (version != 1 && version != kVersion) {
    return Status::Corruption(where + ": unsupported index version");
  }
  const size_t header_bytes = version == 1 ? kHeaderBytesV1 : kHeaderBytes;
  const size_t sum_at = header_bytes - 4;
  if (file.size() < header_bytes + kFooterBytes ||
      DecodeFixed32(h + sum_at) != static_cast<uint32_t>(Hash64(h, sum_at))) {
    return Status::Corruption(where + ": index header checksum mismatch");
  }
  mutation_count_ = version == 1 ? 0 : DecodeFixed32(h + kHdrMutationCount);
  block_count_ = version == 1 ? 0 : DecodeFixed32(h + kHdrBlockCount);
  summary_.generation = version == 1 ? 0 : DecodeFixed32(h + kHdrGeneration);
  summary_.compressed = version == 1 ? false : (DecodeFixed32(h + kHdrFlags) & 1) != 0;
  summary_.namespace_id = DecodeFixed32(h + kHdrNamespaceId);
  summary_.segment_id = DecodeFixed64(h + kHdrSegmentId);
  summary_.data_end = DecodeFixed32(h + kHdrDataEnd);
  timeline_count_ = DecodeFixed32(h + kHdrTimelineCount);
  offset_count_ = DecodeFixed32(h + kHdrOffsetCount);
  dedupe_count_ = DecodeFixed32(h + kHdrDedupeCount);
  summary_.min_ts = static_cast<TimestampMs>(DecodeFixed64(h + kHdrMinTs));
  summary_.max_ts = static_cast<TimestampMs>(DecodeFixed64(h + kHdrMaxTs));
  dir_bits_ = DecodeFixed32(h + kHdrDirectoryBits);
  if (summary_.namespace_id != namespace_id || summary_.segment_id != segment_id) {
    return Status::Corruption(where + ": index belongs to another segment or namespace");
  }
  if (dir_bits_ > kDirectoryBitsMax) return Status::Corruption(where + ": bad directory size");
  const uint64_t dir_bytes = ((uint64_t{1} << dir_bits_) + 1) * 4;
  const uint64_t fixed = header_bytes + dir_bytes + uint64_t{timeline_count_} * kEntryBytes +
                         uint64_t{offset_count_} * 4 + uint64_t{dedupe_count_} * kDedupeBytes +
                         uint64_t{mutation_count_} * kMutationBytes +
                         uint64_t{block_count_} * kBlockBytes + kFooterBytes;
  if (fixed > file.size() || file.size() - fixed >= (uint64_t{1} << 32)) {
    return Status::Corruption(where + ": index size mismatch");
  }
  key_blob_bytes_ = static_cast<uint32_t>(file.size() - fixed);
  const size_t body = file.size() - kFooterBytes;
  if (body_sum == BodyChecksum::kVerify && DecodeFixed64(h + body) != Hash64(h, body)) {
    return Status::Corruption(where + ": index checksum mismatch");
  }
  data_ = h;
  size_ = file.size();
  dir_ = h + header_bytes;
  entries_ = dir_ + dir_bytes;
  offsets_ = entries_ + uint64_t{timeline_count_} * kEntryBytes;
  dedupes_ = offsets_ + uint64_t{offset_count_} * 4;
  mutations_ = dedupes_ + uint64_t{dedupe_count_} * kDedupeBytes;
  blocks_ = mutations_ + uint64_t{mutation_count_} * kMutationBytes;
  keys_ = blocks_ + uint64_t{block_count_} * kBlockBytes;
  // The directory must be monotonic, start at 0 and end at the entry count.
  uint32_t prev = 0;
  for (uint64_t b = 0; b <= (uint64_t{1} << dir_bits_); ++b) {
    const uint32_t v = DecodeFixed32(dir_ + b * 4);
    if (v < prev || v > timeline_count_ || (b == 0 && v != 0)) {
      return Status::Corruption(where + ": bad index directory");
    }
    prev = v;
  }
  if (prev != timeline_count_) return Status::Corruption(where + ": bad index directory");
  // Entries must point inside the arrays (checked once here, trusted by lookups), and be
  // sorted by (key_hash, key) without repeats: lookups search by hash, and recovery merges the
  // index files of a namespace in that order (IndexMerge).
  // And each entry must lie in its hash's directory slot: Find trusts the directory (a lie
  // would hide a timeline's records here from reads).
  std::string_view prev_key;
  uint64_t slot = 0;  // the directory slot whose range holds entry i
  for (uint32_t i = 0; i < timeline_count_; ++i) {
    const char* e = entries_ + uint64_t{i} * kEntryBytes;
    while (DecodeFixed32(dir_ + (slot + 1) * 4) <= i) ++slot;
    if (Bucket(DecodeFixed64(e + kEntKeyHash), dir_bits_) != slot) {
      return Status::Corruption(where + ": index entry " + std::to_string(i) +
                                " is outside its directory slot");
    }
    const uint64_t count = DecodeFixed32(e + kEntCount),
                   start = DecodeFixed32(e + kEntOffsetsStart);
    const uint64_t koff = DecodeFixed32(e + kEntKeyOffset),
                   klen = static_cast<uint8_t>(e[kEntKeyLength]);
    // count 0: a timeline with only maintenance records here (first_seq 0).
    const bool empty_ok = count == 0 && DecodeFixed64(e + kEntFirstSeq) == 0;
    if ((count == 0 && !empty_ok) || start + count > offset_count_ ||
        koff + klen > key_blob_bytes_ || klen == 0 ||
        (count != 0 && DecodeFixed64(e + kEntFirstSeq) == 0)) {
      return Status::Corruption(where + ": index entry " + std::to_string(i) + " out of range");
    }
    const std::string_view key(keys_ + koff, klen);
    if (i > 0) {
      const uint64_t hash = DecodeFixed64(e + kEntKeyHash),
                     prev_hash = DecodeFixed64(e - kEntryBytes + kEntKeyHash);
      if (hash < prev_hash || (hash == prev_hash && key <= prev_key)) {
        return Status::Corruption(where + ": index entry " + std::to_string(i) + " out of order");
      }
    }
    prev_key = key;
  }
  for (uint32_t i = 0; i < dedupe_count_; ++i) {
    if (DecodeFixed32(dedupes_ + uint64_t{i} * kDedupeBytes + kDedEntry) >= timeline_count_) {
      return Status::Corruption(where + ": dedupe entry out of range");
    }
  }
  for (uint32_t i = 0; i < mutation_count_; ++i) {
    const IndexMutation m = Mutation(i);
    if (m.entry >= timeline_count_ || m.type < 3 || m.type > 5 || m.seq == 0) {
      return Status::Corruption(where + ": mutation entry " + std::to_string(i) + " out of range");
    }
  }
  uint64_t raw = 0;
  for (uint32_t i = 0; i < block_count_; ++i) {
    const IndexBlock b = Block(i);
    if (b.raw_start < raw || b.raw_bytes == 0) {
      return Status::Corruption(where + ": block entry " + std::to_string(i) + " out of order");
    }
    raw = uint64_t{b.raw_start} + b.raw_bytes;
  }
  if (summary_.compressed != (block_count_ > 0) && timeline_count_ > 0) {
    return Status::Corruption(where + ": compressed segment without blocks");
  }
  return Status::Ok();
}

IndexMutation SegmentIndexReader::Mutation(uint32_t i) const {
  const char* e = mutations_ + uint64_t{i} * kMutationBytes;
  return {DecodeFixed32(e), static_cast<uint8_t>(e[kMutType]), DecodeFixed64(e + kMutSeq),
          DecodeFixed32(e + kMutOffset)};
}

IndexBlock SegmentIndexReader::Block(uint32_t i) const {
  const char* e = blocks_ + uint64_t{i} * kBlockBytes;
  return {DecodeFixed32(e), DecodeFixed32(e + kBlkFileOffset), DecodeFixed32(e + kBlkStoredBytes),
          DecodeFixed32(e + kBlkRawBytes)};
}

bool SegmentIndexReader::FindBlock(uint32_t raw, IndexBlock* out) const {
  uint32_t lo = 0, hi = block_count_;
  while (lo < hi) {  // first block with raw_start > raw
    const uint32_t mid = lo + (hi - lo) / 2;
    if (DecodeFixed32(blocks_ + uint64_t{mid} * kBlockBytes) <= raw) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == 0) return false;
  *out = Block(lo - 1);
  return raw - out->raw_start < out->raw_bytes;
}

Status SegmentIndexReader::MoveTo(std::span<const char> copy, std::string_view what) {
  TLDB_CHECK(data_ != nullptr);  // opened
  constexpr size_t kPage = 4096;
  const size_t edge = std::min(size_, kPage);
  if (copy.size() != size_ || std::memcmp(copy.data(), data_, edge) != 0 ||
      std::memcmp(copy.data() + size_ - edge, data_ + size_ - edge, edge) != 0) {
    return Status::Corruption(std::string(what) + ": differs from the index written to it");
  }
  const char* to = copy.data();
  auto move = [&](const char*& p) { p = to + (p - data_); };
  for (const char** p : {&dir_, &entries_, &offsets_, &dedupes_, &mutations_, &blocks_, &keys_}) {
    move(*p);
  }
  data_ = to;
  return Status::Ok();
}

IndexEntry SegmentIndexReader::Entry(uint32_t i) const {
  const char* e = entries_ + uint64_t{i} * kEntryBytes;
  IndexEntry r;
  r.key_hash = DecodeFixed64(e);
  r.first_seq = DecodeFixed64(e + kEntFirstSeq);
  r.last_ts = static_cast<TimestampMs>(DecodeFixed64(e + kEntLastTs));
  r.count = DecodeFixed32(e + kEntCount);
  r.offsets_start = DecodeFixed32(e + kEntOffsetsStart);
  r.key = std::string_view(keys_ + DecodeFixed32(e + kEntKeyOffset),
                           static_cast<uint8_t>(e[kEntKeyLength]));
  return r;
}

uint64_t SegmentIndexReader::EntryKeyHash(uint32_t i) const {
  return DecodeFixed64(entries_ + uint64_t{i} * kEntryBytes + kEntKeyHash);
}

IndexDedupe SegmentIndexReader::Dedupe(uint32_t i) const {
  const char* e = dedupes_ + uint64_t{i} * kDedupeBytes;
  return {DecodeFixed64(e), DecodeFixed64(e + kDedSeq),
          static_cast<TimestampMs>(DecodeFixed64(e + kDedTs)), DecodeFixed32(e + kDedEntry)};
}

uint32_t SegmentIndexReader::Offset(const IndexEntry& e, uint32_t i) const {
  TLDB_CHECK(i < e.count);
  return DecodeFixed32(offsets_ + (uint64_t{e.offsets_start} + i) * 4);
}

bool SegmentIndexReader::Find(std::string_view key, uint64_t key_hash, IndexEntry* out) const {
  const uint64_t b = Bucket(key_hash, dir_bits_);
  uint32_t lo = DecodeFixed32(dir_ + b * 4), hi = DecodeFixed32(dir_ + (b + 1) * 4);
  const uint32_t end = hi;
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (DecodeFixed64(entries_ + uint64_t{mid} * kEntryBytes) < key_hash) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  for (uint32_t i = lo; i < end; ++i) {
    if (DecodeFixed64(entries_ + uint64_t{i} * kEntryBytes) != key_hash) break;
    IndexEntry e = Entry(i);
    if (e.key == key) {
      *out = e;
      return true;
    }
  }
  return false;
}

}  // namespace tldb
