// SegmentFile: one segment file read into memory (read-only), its header decoded and its records
// scanned by the engine's rule (log/segment_scan.h); IndexFile: one index file, validated.
//
// Contract: loading never writes and never takes the LOCK, so it is safe beside a running
// server (a record being written at that moment shows up as a torn tail). A damaged header or
// index is not a load error: header_status / status say what is wrong.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "index/segment_index.h"
#include "io/file_system.h"
#include "log/record.h"
#include "log/segment_header.h"
#include "log/segment_scan.h"

namespace tldb::admin {

struct SegmentFile {
  std::string path;
  uint64_t id = 0;
  bool sealed = false;
  std::string image;
  Status header_status;  // OK, or what is wrong with the header
  SegmentHeader header;
  SegmentScan scan;
  TailState tail = TailState::kClean;

  // A bad header and nothing but zeros after it: created (or prepared) but its header never
  // became durable, so it never held a record; the store recreates it.
  bool NeverDurable() const {
    return !header_status.ok() && scan.valid_end <= format::kSegmentHeaderBytes && scan.tail_zero;
  }

  // fn(offset, const RecordView&) for each record in [header, scan.valid_end).
  template <typename Fn>
  void ForEachRecord(Fn&& fn) const {
    for (uint64_t off = format::kSegmentHeaderBytes; off < scan.valid_end;) {
      RecordView r;
      if (DecodeRecord({image.data() + off, image.size() - off}, id, off, &r) !=
          DecodeOutcome::kOk) {
        return;
      }
      fn(off, r);
      off += r.length;
    }
  }
};

// `id` is the id from the file name (it seeds the record checksums).
Result<SegmentFile> LoadSegmentFile(FileSystem& fs, const std::string& path, uint64_t id,
                                    bool sealed);

class IndexFile {
 public:
  // Reads and validates `path` for the namespace and segment; status() tells the outcome.
  static Result<std::unique_ptr<IndexFile>> Load(FileSystem& fs, const std::string& path,
                                                 uint32_t namespace_id, uint64_t segment_id);
  const Status& status() const { return status_; }
  const SegmentIndexReader& reader() const { return reader_; }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
  Status status_;
  SegmentIndexReader reader_;
};

// Every message a record holds: fn(key, seq) once per message (fan-outs: once per target).
template <typename Fn>
void ForEachMessage(const RecordView& r, Fn&& fn) {
  if (r.type == format::RecordType::kMessage) {
    fn(r.key, r.seq);
    return;
  }
  ForEachTarget(r, [&](const FanoutTarget& t) { fn(t.key, t.seq); });
}

}  // namespace tldb::admin
