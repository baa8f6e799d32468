// Db::TruncateLog: a replica's log cut back to a position its new primary holds
// (docs/replication.md "Fencing"). The Db must not be open; the directory lock is taken.
#include <algorithm>

#include "log/file_names.h"
#include "log/record.h"
#include "log/record_format.h"
#include "store/catalog.h"
#include "tldb/db.h"
#include "tldb/file_system.h"

namespace tldb {

Status Db::TruncateLog(const std::string& dir, const Options& options, std::string_view ns,
                       LogPosition end) {
  std::shared_ptr<FileSystem> fs = options.file_system;
  if (!fs) {
    TLDB_ASSIGN_OR_RETURN(fs, NewFileSystem(options.io_backend));
  }
  TLDB_ASSIGN_OR_RETURN(auto lock, fs->Lock(LockFileName(dir)));
  TLDB_ASSIGN_OR_RETURN(std::string catalog_bytes, fs->ReadFileToString(CatalogFileName(dir)));
  TLDB_ASSIGN_OR_RETURN(auto catalog, DecodeCatalog(catalog_bytes, CatalogFileName(dir)));
  if (std::none_of(catalog.begin(), catalog.end(),
                   [&](const CatalogEntry& e) { return e.name == ns; })) {
    return Status::NotFound("namespace '" + std::string(ns) + "' does not exist");
  }
  const std::string ns_dir = NamespaceDirName(dir, ns);
  TLDB_ASSIGN_OR_RETURN(NamespaceFiles files, ListNamespaceFiles(*fs, ns_dir));
  auto it = files.by_id.find(end.segment);
  if (it == files.by_id.end() || !it->second.segment || it->second.gen != 0) {
    return Status::NotFound(SegmentFileName(ns_dir, end.segment) +
                            " is not in the log as written (rewritten or dropped)");
  }
  // The cut must fall between records: walk them (each checked) up to it.
  const std::string path = SegmentFileName(ns_dir, end.segment);
  TLDB_ASSIGN_OR_RETURN(std::string image, fs->ReadFileToString(path));
  uint64_t at = format::kSegmentHeaderBytes;
  while (at < end.offset && at < image.size()) {
    RecordView r;
    const std::span<const char> rest(image.data() + at, image.size() - at);
    if (DecodeRecord(rest, end.segment, at, &r) != DecodeOutcome::kOk) break;
    at += r.length;
  }
  if (at != end.offset) {
    return Status::InvalidArgument("cannot cut " + path + " at " + std::to_string(end.offset) +
                                   ": its records end or break at " + std::to_string(at));
  }
  // Later segments first (newest first), so a crash in between leaves a shorter log, never one
  // with a hole.
  for (auto later = files.by_id.rbegin(); later != files.by_id.rend() && later->first > end.segment;
       ++later) {
    if (later->second.index)
      TLDB_RETURN_IF_ERROR(fs->Remove(IndexFileName(ns_dir, later->first, later->second.gen)));
    if (later->second.segment)
      TLDB_RETURN_IF_ERROR(fs->Remove(SegmentFileName(ns_dir, later->first, later->second.gen)));
  }
  for (const auto& name : files.temp_names) TLDB_RETURN_IF_ERROR(fs->Remove(ns_dir + "/" + name));
  // Without its index the segment is the active one again (recovery's rule).
  if (it->second.index) TLDB_RETURN_IF_ERROR(fs->Remove(IndexFileName(ns_dir, end.segment)));
  TLDB_RETURN_IF_ERROR(fs->SyncDir(ns_dir));
  TLDB_ASSIGN_OR_RETURN(auto file, fs->OpenWritable(path, /*create=*/false, /*exclusive=*/false));
  TLDB_RETURN_IF_ERROR(file->Truncate(end.offset));
  TLDB_RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

}  // namespace tldb
