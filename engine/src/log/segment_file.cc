#include "log/segment_file.h"

#include <algorithm>

namespace tldb {
namespace {

// The raw record space the blocks' headers claim, read without checks: only a capacity hint
// for f->raw, so that decoding does not reallocate and copy it as it grows (a short hint costs
// reallocations, nothing else). Bounded by 8 times the file, so that a damaged size cannot
// reserve much more memory than the image already takes (zstd at level 1 makes chat records
// 3-4 times smaller).
uint64_t ClaimedRawEnd(std::string_view img) {
  const uint64_t hint_bytes_max = uint64_t{8} * img.size();
  uint64_t end = format::kSegmentHeaderBytes;
  for (uint64_t off = format::kSegmentHeaderBytes; off + kBlockHeaderBytes <= img.size();) {
    const BlockHeader h = ReadBlockHeaderFields(img.data() + off);
    end = std::max(end, uint64_t{h.raw_start} + h.raw_bytes);
    if (h.stored_bytes <= kBlockHeaderBytes || h.stored_bytes > img.size() - off) break;
    off += h.stored_bytes;
  }
  return std::min(end, hint_bytes_max);
}

// Decodes the blocks of a compressed segment into f->raw, block after block from the header.
// A bad block stops the in-sequence part (scan.valid_end); if its header still gives a sane
// size, the blocks after it are decoded too so that verify and repair can see what follows.
// A block that continues the raw space is decompressed in place at its end (the scrub and
// verify decode every block: no copy through a block buffer); any other block decodes into a
// buffer first and replaces its range only once it decoded whole.
void LoadBlocks(SegmentFile* f) {
  const std::string_view img = f->image;
  uint64_t raw_end = format::kSegmentHeaderBytes;
  bool in_sequence = true;
  std::string block;
  f->scan.valid_end = raw_end;
  f->raw.reserve(ClaimedRawEnd(img));
  f->raw.assign(format::kSegmentHeaderBytes, '\0');
  for (uint64_t off = format::kSegmentHeaderBytes; off < img.size();) {
    BlockInfo b;
    b.file_offset = off;
    const std::span<const char> avail(img.data() + off, img.size() - off);
    Status s = DecodeBlockHeader(avail, f->checksum_id, off, f->path, &b.header);
    if (s.ok() && in_sequence && b.header.raw_start != raw_end) {
      s = Status::Corruption(
          f->path + " offset " + std::to_string(off) + ": block out of sequence (raw_start " +
          std::to_string(b.header.raw_start) + ", expected " + std::to_string(raw_end) + ")");
    }
    if (s.ok()) {
      const uint64_t start = b.header.raw_start, end = start + b.header.raw_bytes;
      if (start == f->raw.size()) {  // continues the raw space: decompress in place
        f->raw.resize(end);
        s = DecompressBlock(avail, off, f->path, b.header, f->raw.data() + start);
        if (!s.ok()) f->raw.resize(start);
      } else {
        block.resize(b.header.raw_bytes);
        s = DecompressBlock(avail, off, f->path, b.header, block.data());
        if (s.ok()) {
          if (f->raw.size() < end) f->raw.resize(end, '\0');
          f->raw.replace(start, b.header.raw_bytes, block);
        }
      }
      if (s.ok() && in_sequence) f->scan.valid_end = raw_end = end;
    }
    b.ok = s.ok();
    if (!s.ok() && in_sequence) {
      in_sequence = false;
      f->scan.stop = DecodeOutcome::kBad;
      f->damage_file_offset = off;
      // The codec's message starts with "<path> offset <off>: ", which the report says anyway.
      const std::string where = f->path + " offset " + std::to_string(off) + ": ";
      f->damage_what =
          s.message().starts_with(where) ? s.message().substr(where.size()) : s.message();
    }
    f->blocks.push_back(b);
    // Skip on by the size the header claims, if it can be believed at all.
    const uint64_t stored = avail.size() >= kBlockHeaderBytes ? b.header.stored_bytes : 0;
    if (stored <= kBlockHeaderBytes || stored > avail.size()) break;
    off += stored;
  }
  f->tail = in_sequence ? TailState::kClean : TailState::kCorrupt;
}

}  // namespace

const char* RecordTypeName(format::RecordType t) {
  switch (t) {
    case format::RecordType::kMessage:
      return "message";
    case format::RecordType::kFanout:
      return "fanout";
    case format::RecordType::kRecall:
      return "recall";
    case format::RecordType::kEdit:
      return "edit";
    case format::RecordType::kTrim:
      return "trim";
  }
  return "unknown";
}

Result<SegmentFile> LoadSegmentFile(FileSystem& fs, const std::string& path, uint64_t id,
                                    bool sealed, uint32_t gen) {
  TLDB_ASSIGN_OR_RETURN(std::string image, fs.ReadFileToString(path));
  return ParseSegmentFile(std::move(image), path, id, sealed, gen);
}

SegmentFile ParseSegmentFile(std::string image, const std::string& path, uint64_t id, bool sealed,
                             uint32_t gen) {
  SegmentFile f;
  f.path = path;
  f.id = id;
  f.gen = gen;
  f.sealed = sealed;
  f.checksum_id = ChecksumId(id, gen);
  f.image = std::move(image);
  auto header = DecodeSegmentHeader(f.image, path);
  if (header.ok()) {
    f.header = *header;
    if (f.header.segment_id != id) {
      f.header_status = Status::Corruption(path + ": header names segment " +
                                           std::to_string(f.header.segment_id));
    } else if (f.header.gen != gen) {
      f.header_status =
          Status::Corruption(path + ": header names generation " + std::to_string(f.header.gen) +
                             ", the file name " + std::to_string(gen));
    }
    f.compressed = (f.header.flags & kSegmentCompressed) != 0;
  } else {
    f.header_status = header.status();
    f.compressed = gen != 0;  // compaction outputs are always compressed
  }
  if (f.image.size() < format::kSegmentHeaderBytes) {
    f.scan.valid_end = f.image.size();
    f.scan.tail_zero = f.image.find_first_not_of('\0') == std::string::npos;
    f.compressed = false;
    return f;
  }
  if (f.compressed) {
    LoadBlocks(&f);
    return f;
  }
  f.scan = ScanSegment(f.image, id);
  f.tail = ClassifyTail(f.scan, f.image.size(), sealed);
  return f;
}

}  // namespace tldb
