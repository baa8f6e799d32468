#include "store/segment_preparer.h"

#include <algorithm>
#include <vector>

#include "log/file_names.h"
#include "log/record_format.h"
#include "util/kill_point.h"

namespace tldb {

void SegmentPreparer::Start() {
  if (st_.db_options.prezero == Options::Prezero::kBackground) {
    thread_ = std::thread([this] { Loop(); });
  }
}

void SegmentPreparer::Stop() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

std::string SegmentPreparer::PreparedName(uint64_t id) const {
  return SegmentFileName(st_.dir, id) + ".tmp";
}

void SegmentPreparer::Request(uint64_t id) {
  {
    std::lock_guard l(mu_);
    created_id_ = std::max(created_id_, id - 1);
    if (st_.db_options.prezero == Options::Prezero::kBackground) {
      request_ = id;
      cv_.notify_one();
      return;
    }
  }
  if (st_.db_options.prezero != Options::Prezero::kInline) return;
  if (Prepare(id).ok()) {
    std::lock_guard l(mu_);
    prepared_id_ = id;
  } else {
    (void)st_.fs->Remove(PreparedName(id));  // e.g. no space: free what it took
  }
}

// Once the active segment is half full, its successor is prepared (an idle namespace costs no
// disk for it), if its records were synced densely enough to pay for the zeros: zeros are a
// second write of the whole segment, and what they buy is per fdatasync (one into written
// blocks needs no journal commit and took half the time here: 83 vs 169 µs). Below one
// fdatasync per kPrezeroBytesPerSyncMax of records (mostly buffered appends) the roll
// fallocates instead. kInline always prepares.
void SegmentPreparer::MaybePrepareNext(uint64_t end) {
  // 64 KiB: a journal commit is ~12 KiB of writes, so denser syncs save more bytes than the
  // zeros cost, and sparser ones are not latency-bound.
  constexpr uint64_t kPrezeroBytesPerSyncMax = 64 << 10;
  if (st_.db_options.prezero == Options::Prezero::kOff) return;
  if (end < st_.segment_bytes_max() / 2) return;
  const uint64_t next = st_.active->id() + 1;
  if (requested_ >= next) return;
  requested_ = next;
  const uint64_t records = end - format::kSegmentHeaderBytes;
  if (st_.db_options.prezero == Options::Prezero::kBackground &&
      st_.active->syncs() * kPrezeroBytesPerSyncMax < records) {
    st_.counters.prezero_skipped++;
    return;
  }
  Request(next);
}

bool SegmentPreparer::TakePrepared(uint64_t id) {
  std::lock_guard l(mu_);
  created_id_ = std::max(created_id_, id);  // a preparation of `id` finishing later is stale
  if (prepared_id_ != id) return false;
  prepared_id_ = 0;
  return true;
}

void SegmentPreparer::Loop() {
  for (;;) {
    uint64_t id = 0;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stop_ || request_ != 0; });
      if (stop_) return;
      id = request_;
      request_ = 0;
    }
    Status s = Prepare(id);
    std::lock_guard l(mu_);
    if (s.ok() && id > created_id_ && !stop_) {
      prepared_id_ = id;
    } else {
      (void)st_.fs->Remove(PreparedName(id));  // too late (the roll came first) or failed
      if (!s.ok()) {
        st_.Event("preparing segment " + std::to_string(id) +
                  " failed (segments will grow by appending): " + s.ToString());
      }
    }
  }
}

Status SegmentPreparer::Prepare(uint64_t id) {
  constexpr size_t kChunkBytes = 1u << 20;
  static const std::vector<char> zeros(kChunkBytes, 0);
  const uint64_t size = st_.segment_bytes_max();
  TLDB_ASSIGN_OR_RETURN(auto file, st_.fs->OpenWritable(PreparedName(id), true, false));
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
