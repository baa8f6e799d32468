// Log shipping: what the engine offers a replication layer (docs/replication.md "Log shipping").
//
// A namespace's log is a sequence of segments; a position in it is (segment id, byte offset).
// The primary's log hands every group it writes to a LogShipper as a LogFrame, in log order,
// before anything of the group is visible or acknowledged. A follower writes the same frame at
// the same position (Db::ApplyFrame), so replicas hold byte-identical segments: recovery,
// checksums, `tldb verify` and sealed-segment comparison work unchanged on every replica.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "tldb/status.h"

namespace tldb {

// A position in one namespace's log: the byte `offset` of segment `segment`. Ordered by
// segment, then offset. The end of a log is the position its next frame starts at.
struct LogPosition {
  uint64_t segment = 0;
  uint64_t offset = 0;
  friend auto operator<=>(const LogPosition&, const LogPosition&) = default;
  std::string ToString() const { return std::to_string(segment) + ":" + std::to_string(offset); }
};

// Where a namespace's log ends before anything was written to it: its first segment, number
// 1, holds only its 64-byte header (docs/format.md). The same on every replica.
inline constexpr LogPosition kEmptyLogEnd{1, 64};

// Where a replica's log of one namespace ends: written (in the file, maybe not synced) and
// durable (fdatasync'ed). durable <= written.
struct LogEnds {
  LogPosition written;
  LogPosition durable;
};

enum class FrameKind : uint8_t {
  // Whole records at [offset, offset + bytes.size()) of segment `segment`.
  kRecords = 1,
  // The active segment `segment - 1`, whose records end at `offset`, is sealed, and segment
  // `segment` starts with `bytes` (its 64-byte header).
  kRoll = 2,
};

struct LogFrame {
  FrameKind kind = FrameKind::kRecords;
  uint64_t segment = 0;
  uint64_t offset = 0;
  std::string bytes;
  // The frame must be fdatasync'ed before it counts (it holds a kSync append).
  bool sync = true;

  LogPosition start() const {
    return kind == FrameKind::kRoll ? LogPosition{segment - 1, offset}
                                    : LogPosition{segment, offset};
  }
  LogPosition end() const {
    return kind == FrameKind::kRoll ? LogPosition{segment, bytes.size()}
                                    : LogPosition{segment, offset + bytes.size()};
  }
};

// Implemented by the replication layer and set in Options::log_shipper on a replicated Db.
class LogShipper {
 public:
  virtual ~LogShipper() = default;
  // Called by namespace `ns`'s group-commit leader, in log order, once `frame` is written to
  // the local file (and fdatasync'ed when frame.sync). Returns OK once the frame is committed
  // (written, or synced when frame.sync, on a majority of the replicas); only then are its
  // records published and its requests acknowledged. Any error fails the frame's requests and
  // makes the namespace's log refuse writes with that error until the Db is reopened (sticky):
  // the frame may or may not have reached other replicas.
  virtual Status Ship(std::string_view ns, const LogFrame& frame) = 0;
};

}  // namespace tldb
