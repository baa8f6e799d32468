#include "store/unsynced_indexes.h"

#include <utility>

namespace tldb {

size_t UnsyncedIndexes::Add(std::unique_ptr<WritableFile> file) {
  std::lock_guard l(mu_);
  files_.push_back(std::move(file));
  return files_.size();
}

Status UnsyncedIndexes::SyncAll(FileSystem& fs, const std::string& dir) {
  std::lock_guard s(sync_mu_);
  std::vector<std::unique_ptr<WritableFile>> files;
  {
    std::lock_guard l(mu_);
    files.swap(files_);
  }
  if (files.empty()) return Status::Ok();
  Status first;
  for (auto& f : files) {
    Status st = f->Sync();
    const Status c = f->Close();
    if (st.ok()) st = c;
    if (first.ok()) first = st;
  }
  const Status d = fs.SyncDir(dir);
  return first.ok() ? d : first;
}

}  // namespace tldb
