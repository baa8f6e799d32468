#include "store/frame_reader.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>

#include "io/map_fault_registry.h"
#include "log/record.h"

namespace tldb {

Result<LogFrame> FrameReader::Records(uint64_t segment, std::span<const char> data, uint64_t base,
                                      uint64_t from, uint64_t limit) const {
  LogFrame f;
  f.kind = FrameKind::kRecords;
  f.segment = segment;
  f.offset = from;
  f.sync = true;
  uint64_t at = from;
  const uint64_t data_end = base + data.size();
  while (at < data_end && (at == from || at - from < limit)) {
    RecordView r;
    if (DecodeRecord(data.subspan(at - base), segment, at, &r) != DecodeOutcome::kOk) {
      return Status::Corruption(st_.SegmentName(segment) + " offset " + std::to_string(at) +
                                ": no valid record where the log has one");
    }
    at += r.length;
  }
  f.bytes.assign(data.data() + (from - base), at - from);
  return f;
}

Result<std::string> FrameReader::Header(uint64_t id) const {
  if (st_.active && st_.active->id() == id) {
    const auto h = st_.active->Range(0, format::kSegmentHeaderBytes);
    return std::string(h.data(), h.size());
  }
  const SealedSegment* seg = st_.Sealed(static_cast<uint32_t>(id));
  if (seg == nullptr || seg->gen != 0 || seg->data->data().size() < format::kSegmentHeaderBytes) {
    return Status::NotFound(st_.SegmentName(id) +
                            " was rewritten or dropped: a snapshot is needed");
  }
  return std::string(seg->data->data().data(), format::kSegmentHeaderBytes);
}

Result<std::vector<LogFrame>> FrameReader::Read(LogPosition from, uint64_t bytes_max) const {
  std::vector<LogFrame> out;
  std::shared_lock l(st_.mu);
  if (!st_.active) return Status::Closed("namespace '" + st_.entry.name + "' is closed");
  const uint64_t active_id = st_.active->id();
  uint64_t taken = 0;
  MapFaultScope faults;
  while (taken < bytes_max || out.empty()) {
    if (from.segment == active_id) {
      if (from.offset < format::kSegmentHeaderBytes || from.offset > st_.published_end) {
        return Status::InvalidArgument("position " + from.ToString() + " is outside the log (" +
                                       st_.SegmentName(active_id) + " ends at " +
                                       std::to_string(st_.published_end) + ")");
      }
      if (from.offset == st_.published_end) break;
      // One chunk of the image at a time: a group never spans two.
      const auto chunk = st_.active->At(from.offset);
      const uint64_t visible = std::min<uint64_t>(chunk.size(), st_.published_end - from.offset);
      TLDB_ASSIGN_OR_RETURN(LogFrame f,
                            Records(active_id, chunk.first(visible), from.offset, from.offset,
                                    bytes_max - std::min(taken, bytes_max)));
      from.offset += f.bytes.size();
      taken += f.bytes.size();
      out.push_back(std::move(f));
      continue;
    }
    if (from.segment > active_id) {
      return Status::InvalidArgument("position " + from.ToString() + " is beyond the log's end");
    }
    const SealedSegment* seg = st_.Sealed(static_cast<uint32_t>(from.segment));
    if (seg == nullptr || seg->gen != 0) {
      return Status::NotFound(st_.SegmentName(from.segment) +
                              " was rewritten or dropped: a snapshot is needed");
    }
    // Its records only: the file may end in zeros a crash kept (SealedSegment::data_end).
    const std::span<const char> data = seg->data->data().first(
        static_cast<size_t>(std::min<uint64_t>(seg->data_end(), seg->data->data().size())));
    if (from.offset < format::kSegmentHeaderBytes || from.offset > data.size()) {
      return Status::InvalidArgument("position " + from.ToString() + " is outside " +
                                     st_.SegmentName(from.segment));
    }
    if (from.offset < data.size()) {
      auto f = Records(from.segment, data, 0, from.offset, bytes_max - std::min(taken, bytes_max));
      if (faults.Faulted()) return Status::IOError(seg->FailedError(st_.dir));
      TLDB_RETURN_IF_ERROR(f.status());
      from.offset += f->bytes.size();
      taken += f->bytes.size();
      out.push_back(std::move(f).value());
      continue;
    }
    TLDB_ASSIGN_OR_RETURN(std::string header, Header(from.segment + 1));
    out.push_back(
        LogFrame{FrameKind::kRoll, from.segment + 1, from.offset, std::move(header), true});
    from = out.back().end();
  }
  if (faults.Faulted()) return Status::IOError("disk read error under a segment being shipped");
  return out;
}

}  // namespace tldb
