#include "store/snapshot_taker.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>

#include "log/file_names.h"
#include "store/floors.h"
#include "util/test_hook.h"

namespace tldb {

namespace {

// Bytes copied per read/write: large enough to stream at disk speed, small enough to keep a
// snapshot's memory bounded.
constexpr uint64_t kCopyChunkBytes = 1u << 20;

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Removes what an attempt left in `dir` (files only: a namespace directory has no subdirectory).
Status EmptyDir(FileSystem& fs, const std::string& dir) {
  TLDB_ASSIGN_OR_RETURN(auto names, fs.ListDir(dir));
  for (const auto& n : names) TLDB_RETURN_IF_ERROR(fs.Remove(dir + "/" + n));
  return Status::Ok();
}

}  // namespace

Result<uint64_t> CopyFilePrefix(FileSystem& fs, const std::string& from, const std::string& to,
                                uint64_t bytes, bool sync) {
  TLDB_ASSIGN_OR_RETURN(auto in, fs.OpenReadable(from));
  TLDB_ASSIGN_OR_RETURN(uint64_t size, in->Size());
  if (bytes == UINT64_MAX) bytes = size;
  if (bytes > size) {
    return Status::Corruption(from + ": " + std::to_string(size) + " bytes, expected at least " +
                              std::to_string(bytes));
  }
  TLDB_ASSIGN_OR_RETURN(auto out, fs.OpenWritable(to, /*create=*/true, /*exclusive=*/true));
  std::string buf(std::min(bytes, kCopyChunkBytes), '\0');
  for (uint64_t off = 0; off < bytes;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), bytes - off));
    TLDB_ASSIGN_OR_RETURN(size_t n, in->Read(off, want, buf.data()));
    if (n != want)
      return Status::Corruption(from + ": short read at offset " + std::to_string(off));
    TLDB_RETURN_IF_ERROR(out->Write(off, std::span<const char>(buf.data(), n)));
    off += n;
  }
  if (sync) TLDB_RETURN_IF_ERROR(out->Sync());
  TLDB_RETURN_IF_ERROR(out->Close());
  return bytes;
}

Status SnapshotTaker::Take(const std::string& ns_dir, const std::string& rel_dir,
                           const SnapshotOptions& o, SnapshotInfo* info) {
  FileSystem& fs = *st_.fs;
  TLDB_RETURN_IF_ERROR(fs.CreateDir(ns_dir));
  for (int attempt = 0; attempt < kAttemptsMax; ++attempt) {
    TLDB_ASSIGN_OR_RETURN(Point p, Capture());
    TLDB_TEST_HOOK("snapshot.after_capture");  // no lock of the namespace held here
    // The point's index files are linked: those a roll left unsynced are synced first.
    if (o.sync) TLDB_RETURN_IF_ERROR(st_.unsynced_indexes.SyncAll(fs, st_.dir));
    std::vector<SnapshotFile> files;
    Status s = Materialize(p, ns_dir, rel_dir, o, &files);
    if (s.ok()) {
      if (o.sync) TLDB_RETURN_IF_ERROR(fs.SyncDir(ns_dir));
      for (auto& f : files) info->files.push_back(std::move(f));
      info->namespaces.push_back({st_.entry.name, {p.active_id, p.active_end}});
      return Status::Ok();
    }
    if (!s.IsNotFound()) return s;
    // A compaction or a TTL drop removed a file of this point before it was linked.
    st_.Event("snapshot of namespace '" + st_.entry.name + "': " + s.message() +
              " (removed by maintenance): starting over");
    TLDB_RETURN_IF_ERROR(EmptyDir(fs, ns_dir));
  }
  return Status::Busy("snapshot of namespace '" + st_.entry.name +
                      "': maintenance removed its files " + std::to_string(kAttemptsMax) +
                      " times in a row");
}

Result<SnapshotTaker::Point> SnapshotTaker::Capture() const {
  Point p;
  std::vector<Floor> floors;
  std::shared_lock l(st_.mu);
  if (!st_.active) return Status::Closed("namespace '" + st_.entry.name + "' is closed");
  for (const auto& [id, seg] : st_.sealed) p.sealed.emplace_back(id, seg->gen);
  p.active_id = st_.active->id();
  p.active_end = std::min(st_.active->durable_end(), st_.published_end);
  // FLOORS as of this point (docs/format.md "Floors"): every timeline with no record in the
  // sealed segments listed keeps the last SeqId it had before its records in the active segment
  // (all of them when it has none there). A floor is skipped at open for a timeline with records
  // in the active segment, so one whose active records lie past the copied end still gets it.
  for (uint32_t t = 0; t < st_.table.id_end(); ++t) {
    const TimelineState& ts = st_.table.state(t);
    if (!ts.segs.empty()) continue;
    Seq last = ts.last_seq;
    if (ts.active_slot != kNoSlot) {
      const ActiveSegment::Slot& slot = st_.active->slot(ts.active_slot);
      if (slot.size() > 0) last = slot.first_seq() - 1;
    }
    if (last != 0) floors.push_back({std::string(st_.table.key(t)), last, ts.last_ts});
  }
  l.unlock();
  if (!floors.empty()) p.floors = EncodeFloors(floors);
  return p;
}

Status SnapshotTaker::Materialize(const Point& p, const std::string& ns_dir,
                                  const std::string& rel_dir, const SnapshotOptions& o,
                                  std::vector<SnapshotFile>* files) {
  FileSystem& fs = *st_.fs;
  auto add = [&](const std::string& to, uint64_t bytes) {
    files->push_back({rel_dir + "/" + BaseName(to), bytes});
  };
  for (const auto& [id, gen] : p.sealed) {
    for (const auto& [from, to] :
         {std::pair{SegmentFileName(st_.dir, id, gen), SegmentFileName(ns_dir, id, gen)},
          std::pair{IndexFileName(st_.dir, id, gen), IndexFileName(ns_dir, id, gen)}}) {
      TLDB_ASSIGN_OR_RETURN(uint64_t bytes, LinkOrCopy(from, to, o.sync));
      add(to, bytes);
    }
  }
  // The active segment: its bytes below the durable end never change again (the file only grows,
  // a roll seals it as it is), so a copy of them is the segment as of the point, ending at a
  // record boundary: opening it finds no torn tail.
  const std::string to = SegmentFileName(ns_dir, p.active_id);
  TLDB_ASSIGN_OR_RETURN(uint64_t bytes, CopyFilePrefix(fs, SegmentFileName(st_.dir, p.active_id),
                                                       to, p.active_end, o.sync));
  add(to, bytes);
  if (!p.floors.empty()) {
    const std::string floors = FloorsFileName(ns_dir);
    TLDB_ASSIGN_OR_RETURN(auto f, fs.OpenWritable(floors, /*create=*/true, /*exclusive=*/true));
    TLDB_RETURN_IF_ERROR(f->Write(0, p.floors));
    if (o.sync) TLDB_RETURN_IF_ERROR(f->Sync());
    TLDB_RETURN_IF_ERROR(f->Close());
    add(floors, p.floors.size());
  }
  return Status::Ok();
}

Result<uint64_t> SnapshotTaker::LinkOrCopy(const std::string& from, const std::string& to,
                                           bool sync) {
  FileSystem& fs = *st_.fs;
  Status s = fs.Link(from, to);
  if (s.ok()) return fs.FileSize(to);  // the linked inode: removing `from` no longer matters
  if (s.code() != Status::Code::kNotSupported) return s;
  return CopyFilePrefix(fs, from, to, UINT64_MAX, sync);
}

bool IsSafeSnapshotPath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    const std::string_view part = path.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
      if (!ok) return false;
    }
    start = slash + 1;
  }
  return true;
}

}  // namespace tldb
