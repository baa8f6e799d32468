#include "store/unsynced_indexes.h"

#include <algorithm>
#include <utility>

#include "io/write_back_pacer.h"

namespace tldb {

size_t UnsyncedIndexes::Add(std::unique_ptr<WritableFile> file) {
  std::lock_guard l(mu_);
  files_.push_back(std::move(file));
  return files_.size();
}

Status UnsyncedIndexes::WriteBackPaced(WritableFile& f, uint64_t bytes_per_s) {
  TLDB_ASSIGN_OR_RETURN(const uint64_t size, f.Size());
  WriteBackPacer pacer(bytes_per_s);
  return pacer.Range(f, 0, size, kWriteBackStepBytes, [this] {
    std::lock_guard l(mu_);
    return !files_.empty();  // another index waits: the fdatasync does the rest
  });
}

Status UnsyncedIndexes::SyncAll(FileSystem& fs, const std::string& dir,
                                uint64_t writeback_bytes_per_s) {
  std::lock_guard s(sync_mu_);
  std::vector<std::unique_ptr<WritableFile>> files;
  {
    std::lock_guard l(mu_);
    files.swap(files_);
  }
  if (files.empty()) return Status::Ok();
  Status first;
  for (auto& f : files) {
    Status st = files.size() == 1 && writeback_bytes_per_s != 0
                    ? WriteBackPaced(*f, writeback_bytes_per_s)
                    : Status::Ok();
    if (st.ok()) st = f->Sync();
    const Status c = f->Close();
    if (st.ok()) st = c;
    if (first.ok()) first = st;
  }
  const Status d = fs.SyncDir(dir);
  return first.ok() ? d : first;
}

}  // namespace tldb
