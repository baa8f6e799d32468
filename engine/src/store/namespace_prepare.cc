// NamespaceLog segment preparation: writes the next segment's blocks (zeros, fdatasync'ed) ahead
// of time as "<id>.seg.tmp". When the active segment rolls, ReserveNext takes it (otherwise it
// reserves "<id>.seg.new.tmp" with fallocate) and PromoteNext renames it into place,
// so group-commit fdatasyncs overwrite allocated blocks instead of extending the file (ext4 must
// journal every extension). A preparation that loses the race with a roll is discarded; one
// left over by a crash is a *.tmp file, deleted at open.
#include <algorithm>
#include <vector>

#include "log/file_names.h"
#include "log/record_format.h"
#include "store/namespace_log.h"
#include "util/kill_point.h"

namespace tldb {

std::string NamespaceLog::PreparedName(uint64_t id) const {
  return SegmentFileName(dir_, id) + ".tmp";
}

void NamespaceLog::RequestPrepare(uint64_t id) {
  {
    std::lock_guard l(prep_mu_);
    created_id_ = std::max(created_id_, id - 1);
    if (db_options_.prezero == Options::Prezero::kBackground) {
      prep_request_ = id;
      prep_cv_.notify_one();
      return;
    }
  }
  if (db_options_.prezero != Options::Prezero::kInline) return;
  if (PrepareSegment(id).ok()) {
    std::lock_guard l(prep_mu_);
    prepared_id_ = id;
  } else {
    (void)fs_->Remove(PreparedName(id));  // e.g. no space: free what it took
  }
}

// Once the active segment is half full, its successor is prepared (an idle namespace costs no
// disk for it), if its records were synced densely enough to pay for the zeros: zeros are a
// second write of the whole segment, and what they buy is per fdatasync (one into written
// blocks needs no journal commit and took half the time here: MACHINE.md 83 vs 169 µs). Below
// one fdatasync per kPrezeroBytesPerSyncMax of records (mostly buffered appends) the roll
// fallocates instead. kInline (the simulated backend's deterministic mode) always prepares.
// Called by the leader after each group; only the leader changes active_.
void NamespaceLog::MaybePrepareNext(uint64_t end) {
  // 64 KiB: a journal commit is ~12 KiB of writes, so denser syncs save more bytes than the
  // zeros cost, and sparser ones are not latency-bound.
  constexpr uint64_t kPrezeroBytesPerSyncMax = 64 << 10;
  if (db_options_.prezero == Options::Prezero::kOff) return;
  if (end < segment_bytes_max_.load() / 2) return;
  const uint64_t next = active_->id() + 1;
  if (prepare_requested_ >= next) return;
  prepare_requested_ = next;
  const uint64_t records = end - format::kSegmentHeaderBytes;
  if (db_options_.prezero == Options::Prezero::kBackground &&
      active_->syncs() * kPrezeroBytesPerSyncMax < records) {
    counters_.prezero_skipped++;
    return;
  }
  RequestPrepare(next);
}

bool NamespaceLog::TakePrepared(uint64_t id) {
  std::lock_guard l(prep_mu_);
  created_id_ = std::max(created_id_, id);  // a preparation of `id` finishing later is stale
  if (prepared_id_ != id) return false;
  prepared_id_ = 0;
  return true;
}

void NamespaceLog::PreparerLoop() {
  for (;;) {
    uint64_t id = 0;
    {
      std::unique_lock l(prep_mu_);
      prep_cv_.wait(l, [&] { return prep_stop_ || prep_request_ != 0; });
      if (prep_stop_) return;
      id = prep_request_;
      prep_request_ = 0;
    }
    Status s = PrepareSegment(id);
    std::lock_guard l(prep_mu_);
    if (s.ok() && id > created_id_ && !prep_stop_) {
      prepared_id_ = id;
    } else {
      (void)fs_->Remove(PreparedName(id));  // too late (the roll came first) or failed
      if (!s.ok() && db_options_.on_event) {
        db_options_.on_event("preparing segment " + std::to_string(id) +
                             " failed (segments "
                             "will grow by appending): " +
                             s.ToString());
      }
    }
  }
}

Status NamespaceLog::PrepareSegment(uint64_t id) {
  constexpr size_t kChunkBytes = 1u << 20;
  static const std::vector<char> zeros(kChunkBytes, 0);
  const uint64_t size = segment_bytes_max_.load();
  TLDB_ASSIGN_OR_RETURN(auto file, fs_->OpenWritable(PreparedName(id), true, false));
  TLDB_RETURN_IF_ERROR(file->Truncate(0));
  for (uint64_t off = 0; off < size; off += kChunkBytes) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, size - off));
    TLDB_RETURN_IF_ERROR(file->Write(off, {zeros.data(), n}));
  }
  TLDB_RETURN_IF_ERROR(file->Sync());
  TLDB_KILL_POINT("prepare.after_zeros");
  return file->Close();
}

}  // namespace tldb
