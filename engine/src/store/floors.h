// FLOORS: the last SeqId (and timestamp) of every timeline that has no record left in the
// namespace (all expired, compacted away or deleted), so that its SeqIds are never handed out
// again after a restart (docs/format.md "Floors"). Replaced atomically; a floor is a lower
// bound, so a stale entry is harmless.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tldb/status.h"
#include "tldb/types.h"

namespace tldb {

struct Floor {
  std::string key;
  Seq last_seq = 0;
  TimestampMs last_ts = 0;
};

std::string EncodeFloors(const std::vector<Floor>& floors);
Result<std::vector<Floor>> DecodeFloors(std::string_view bytes, std::string_view what);

}  // namespace tldb

namespace tldb {

class NamespaceState;

// Applies the namespace's FLOORS file (if any) to its timeline table (recovery; no reader
// exists yet).
Status LoadFloors(NamespaceState& st);
// Rewrites the namespace's FLOORS: every timeline without a record, plus `also` (timelines about
// to lose their last records). Takes NamespaceState::mu shared while it collects them, a batch
// of timelines per hold.
Status WriteFloors(NamespaceState& st, const std::vector<uint32_t>& also);

}  // namespace tldb
