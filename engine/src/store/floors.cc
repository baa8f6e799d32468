#include "store/floors.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "log/file_names.h"
#include "store/namespace_state.h"
#include "tldb/options.h"
#include "util/checksum.h"
#include "util/coding.h"
#include "util/test_hook.h"

namespace tldb {
namespace {
constexpr char kMagic[8] = {'T', 'L', 'D', 'B', 'F', 'L', 'R', '1'};
}  // namespace

std::string EncodeFloors(const std::vector<Floor>& floors) {
  std::string out(kMagic, 8);
  PutFixed32(&out, static_cast<uint32_t>(floors.size()));
  for (const Floor& f : floors) {
    out.push_back(static_cast<char>(f.key.size()));
    out += f.key;
    PutFixed64(&out, f.last_seq);
    PutFixed64(&out, static_cast<uint64_t>(f.last_ts));
  }
  PutFixed64(&out, Hash64(out.data(), out.size()));
  return out;
}

Result<std::vector<Floor>> DecodeFloors(std::string_view b, std::string_view what) {
  const std::string where(what);
  if (b.size() < 20 || std::memcmp(b.data(), kMagic, 8) != 0 ||
      DecodeFixed64(b.data() + b.size() - 8) != Hash64(b.data(), b.size() - 8)) {
    return Status::Corruption(where + ": damaged floors file");
  }
  const size_t body = b.size() - 8;
  const uint32_t n = DecodeFixed32(b.data() + 8);
  std::vector<Floor> out;
  size_t pos = 12;
  for (uint32_t i = 0; i < n; ++i) {
    if (pos + 1 > body) return Status::Corruption(where + ": floors truncated");
    const auto len = static_cast<uint8_t>(b[pos++]);
    if (len == 0 || pos + len + 16 > body) return Status::Corruption(where + ": floors truncated");
    Floor f;
    f.key.assign(b.data() + pos, len);
    pos += len;
    f.last_seq = DecodeFixed64(b.data() + pos);
    f.last_ts = static_cast<TimestampMs>(DecodeFixed64(b.data() + pos + 8));
    pos += 16;
    out.push_back(std::move(f));
  }
  if (pos != body) return Status::Corruption(where + ": trailing bytes in floors");
  return out;
}

}  // namespace tldb

namespace tldb {
namespace {
constexpr uint32_t kFloorIdsPerHold = 64 * 1024;
}  // namespace

Status LoadFloors(NamespaceState& st) {
  const std::string path = FloorsFileName(st.dir);
  TLDB_ASSIGN_OR_RETURN(bool exists, st.fs->Exists(path));
  if (!exists) return Status::Ok();
  TLDB_ASSIGN_OR_RETURN(std::string bytes, st.fs->ReadFileToString(path));
  TLDB_ASSIGN_OR_RETURN(auto floors, DecodeFloors(bytes, path));
  for (const Floor& f : floors) {
    TimelineState& ts = st.table.state(st.table.FindOrInsert(f.key, KeyHash(f.key)));
    // A timeline with records in the active segment got them after its floor was written.
    if (ts.active_slot != kNoSlot) continue;
    ts.last_seq = std::max(ts.last_seq, f.last_seq);
    ts.last_ts = std::max(ts.last_ts, f.last_ts);
  }
  return Status::Ok();
}

Status WriteFloors(NamespaceState& st, const std::vector<uint32_t>& also) {
  std::vector<Floor> floors;
  auto add = [&](uint32_t id) {
    const TimelineState& ts = st.table.state(id);
    if (ts.last_seq != 0) {
      floors.push_back({std::string(st.table.key(id)), ts.last_seq, ts.last_ts});
    }
  };
  auto empty = [&](uint32_t id) { return st.table.state(id).holds_no_records(); };
  // kFloorIdsPerHold timelines per hold of the lock: a commit publishes under it exclusively,
  // and one hold over every timeline would grow with the table (millions). Between holds a
  // timeline may gain records (its floor, if taken, is then merely low: a floor is a lower
  // bound) or be created (it has records); only the maintenance pass calling this takes records
  // away, and a freed id reads as a timeline with no SeqId (skipped).
  for (uint32_t from = 0;;) {
    TLDB_TEST_HOOK("floors.between_batches");  // no lock held here
    std::shared_lock l(st.mu);
    const uint32_t end = st.table.id_end();
    if (from >= end) {
      for (uint32_t id : also) {
        if (!empty(id)) add(id);
      }
      break;
    }
    const uint32_t to = end - from > kFloorIdsPerHold ? from + kFloorIdsPerHold : end;
    for (uint32_t id = from; id < to; ++id) {
      if (empty(id)) add(id);
    }
    from = to;
  }
  const std::string path = FloorsFileName(st.dir);
  TLDB_ASSIGN_OR_RETURN(bool exists, st.fs->Exists(path));
  if (floors.empty() && !exists) return Status::Ok();
  return st.fs->WriteFileAtomic(path, EncodeFloors(floors));
}

}  // namespace tldb
