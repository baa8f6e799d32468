#include "log/segment_records.h"

#include <string>

#include "log/block_codec.h"
#include "log/segment_header.h"
#include "log/segment_scan.h"

namespace tldb {

Status ForEachPlainRecord(std::string_view image, uint64_t segment_id, std::string_view what,
                          const RecordVisitor& fn, uint64_t* valid_end) {
  const SegmentScan scan = ScanSegment(image, segment_id);
  for (uint64_t off = format::kSegmentHeaderBytes; off < scan.valid_end;) {
    RecordView r;
    if (DecodeRecord({image.data() + off, image.size() - off}, segment_id, off, &r) !=
        DecodeOutcome::kOk) {
      break;  // cannot happen: ScanSegment decoded it
    }
    fn(off, r);
    off += r.length;
  }
  *valid_end = scan.valid_end;
  if (ClassifyTail(scan, image.size(), /*sealed=*/true) != TailState::kClean) {
    return Status::Corruption(std::string(what) + " offset " + std::to_string(scan.valid_end) +
                              ": damaged record in a sealed segment");
  }
  return Status::Ok();
}

Status ForEachBlockRecord(std::string_view image, uint64_t segment_id, uint32_t gen,
                          std::string_view what, const RecordVisitor& fn,
                          SegmentIndexBuilder* index, uint64_t* valid_end) {
  const uint64_t checksum_id = ChecksumId(segment_id, gen);
  uint64_t raw_end = format::kSegmentHeaderBytes;
  *valid_end = raw_end;
  std::string raw;
  for (uint64_t off = format::kSegmentHeaderBytes; off < image.size();) {
    BlockHeader h;
    TLDB_RETURN_IF_ERROR(
        DecodeBlock({image.data() + off, image.size() - off}, checksum_id, off, what, &h, &raw));
    if (h.raw_start != raw_end) {
      return Status::Corruption(std::string(what) + " offset " + std::to_string(off) +
                                ": block out of sequence");
    }
    for (uint64_t pos = 0; pos < raw.size();) {
      RecordView r;
      const uint64_t rec_off = h.raw_start + pos;
      if (DecodeRecord({raw.data() + pos, raw.size() - pos}, checksum_id, rec_off, &r) !=
          DecodeOutcome::kOk) {
        return Status::Corruption(std::string(what) + " offset " + std::to_string(off) +
                                  ": damaged record at record offset " + std::to_string(rec_off));
      }
      fn(rec_off, r);
      pos += r.length;
    }
    if (index != nullptr) {
      index->AddBlock({h.raw_start, static_cast<uint32_t>(off), h.stored_bytes, h.raw_bytes});
    }
    raw_end = uint64_t{h.raw_start} + h.raw_bytes;
    *valid_end = raw_end;
    off += h.stored_bytes;
  }
  return Status::Ok();
}

}  // namespace tldb
