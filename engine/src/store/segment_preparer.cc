#include "store/segment_preparer.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "index/segment_index.h"
#include "io/write_back_pacer.h"
#include "log/file_names.h"
#include "log/record_format.h"
#include "log/segment_header.h"
#include "util/check.h"
#include "util/kill_point.h"
#include "util/test_hook.h"

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
  StopZeroing();
  uint64_t spare = 0;
  {
    std::lock_guard l(mu_);
    spare = std::exchange(spare_ready_id_, 0);
  }
  if (spare != 0) (void)st_.fs->Remove(IndexSpareName(spare));  // else deleted at open (*.tmp)
}

std::string SegmentPreparer::PreparedName(uint64_t id) const {
  return SegmentFileName(st_.dir, id) + ".tmp";
}

void SegmentPreparer::SyncIndexesSoon() {
  if (st_.db_options.prezero != Options::Prezero::kBackground) return;
  std::lock_guard l(mu_);
  sync_indexes_ = true;
  cv_.notify_one();
}

std::string SegmentPreparer::IndexSpareName(uint64_t id) const {
  return IndexFileName(st_.dir, id) + ".spare.tmp";
}

namespace {
// An eighth more than `bytes`, in whole MiB: the room a spare or a buffer is given to grow.
uint64_t WithRoomToGrow(uint64_t bytes) {
  constexpr uint64_t kMiB = 1u << 20;
  return (bytes * 9 / 8 + kMiB - 1) / kMiB * kMiB;
}
}  // namespace

// A spare an eighth larger than the index is expected to be, in whole MiB: consecutive segments
// of one workload have indexes of about one size, and the active segment's own index so far,
// projected to a full segment, covers the first roll and a workload that changed. A bigger
// index still gains for the spare's part.
void SegmentPreparer::MaybePrepareIndexSpare(uint64_t end) {
  const uint64_t id = st_.active->id();
  if (spare_requested_ >= id || end == 0) return;
  const ActiveSegment::IndexShape a = st_.active->Shape();
  const uint64_t so_far =
      SegmentIndexBuilder::Bytes({a.timelines, a.offsets, a.dedupes, a.mutations, 0, a.key_bytes});
  const uint64_t projected = so_far * std::max(st_.segment_bytes_max(), end) / end;
  const uint64_t expected = std::max(last_index_bytes_, projected);
  if (expected < kIndexSpareBytesMin) return;
  spare_requested_ = id;
  const uint64_t bytes = std::min(st_.segment_bytes_max(), WithRoomToGrow(expected));
  // The roll builds the index in the buffer it kept from the last one: only one too small for
  // the projection is replaced (with room for it to grow, so a steady workload needs none).
  const uint64_t buffer_bytes = projected > kept_buffer_bytes_ ? WithRoomToGrow(projected) : 0;
  if (st_.db_options.prezero == Options::Prezero::kBackground) {
    std::lock_guard l(mu_);
    spare_request_id_ = id;
    spare_request_bytes_ = bytes;
    spare_request_buffer_bytes_ = buffer_bytes;
    cv_.notify_one();
    return;
  }
  PrepareIndexSpare(id, bytes, buffer_bytes);  // kInline: deterministic, on the leader
}

void SegmentPreparer::PrepareIndexSpare(uint64_t id, uint64_t bytes, uint64_t buffer_bytes) {
  if (buffer_bytes > 0) {  // first: it saves the roll more than the spare does
    LargeBuffer buffer(buffer_bytes);
    std::memset(buffer.data(), 0, buffer.size());  // every page faulted in here, not in the roll
    std::lock_guard l(mu_);
    if (id > spare_taken_id_ && !stop_) {
      index_buffer_ = std::move(buffer);
      buffer_ready_id_ = id;
    }  // else too late: freed here
  }
  // Zeros to copy from, never freed (a store open at exit may still be writing; see WriteZeros):
  // calloc'ed, so its pages are the kernel's shared zero page until written, which nobody does.
  constexpr uint64_t kChunk = 1u << 20;
  static const char* const kZeros = static_cast<const char*>(std::calloc(kChunk, 1));
  const std::string name = IndexSpareName(id);
  Status s = kZeros == nullptr ? Status::IOError("out of memory") : Status::Ok();
  if (s.ok()) {
    s = [&]() -> Status {
      TLDB_ASSIGN_OR_RETURN(auto file, st_.fs->OpenWritable(name, true, false));
      for (uint64_t off = 0; off < bytes; off += kChunk) {
        TLDB_RETURN_IF_ERROR(file->Write(off, {kZeros, std::min(kChunk, bytes - off)}));
      }
      TLDB_RETURN_IF_ERROR(file->Truncate(bytes));  // a stale longer spare
      return file->Close();
    }();
  }
  std::lock_guard l(mu_);
  if (s.ok() && id > spare_taken_id_ && !stop_) {
    spare_ready_id_ = id;
    TLDB_TEST_HOOK("prepare.index_spare_ready");
  } else {
    (void)st_.fs->Remove(name);  // too late (the roll came first) or failed: only a cache warm-up
  }
}

LargeBuffer SegmentPreparer::TakeIndexBuffer(uint64_t id) {
  LargeBuffer b;
  {
    std::lock_guard l(mu_);
    spare_taken_id_ = std::max(spare_taken_id_, id);
    b = std::move(index_buffer_);
    if (std::exchange(buffer_ready_id_, 0) == id) return b;
  }
  return LargeBuffer();  // `b`, if any, was made for an earlier roll: freed without mu_
}

bool SegmentPreparer::TakeIndexSpare(uint64_t id) {
  std::lock_guard l(mu_);
  spare_taken_id_ = std::max(spare_taken_id_, id);
  if (spare_ready_id_ != id) return false;
  spare_ready_id_ = 0;
  return true;
}

void SegmentPreparer::Request(uint64_t id, bool zeros) {
  {
    std::lock_guard l(mu_);
    created_id_ = std::max(created_id_, id - 1);
    if (st_.db_options.prezero == Options::Prezero::kBackground) {
      request_ = id;
      request_zeros_ = zeros;
      cv_.notify_one();
      return;
    }
  }
  if (st_.db_options.prezero != Options::Prezero::kInline) return;
  std::string header;
  if (Prepare(id, zeros, /*writeback_bytes_per_s=*/0, &header).ok()) {  // leader: never paced
    std::lock_guard l(mu_);
    prepared_id_ = id;
    prepared_ = Prepared{zeros, std::move(header)};
  } else {
    (void)st_.fs->Remove(PreparedName(id));  // e.g. no space: free what it took
  }
}

// Zeros are a second write of the blocks, and what they buy is per fdatasync (one into written
// blocks needs no journal commit and took half the time here: 83 vs 169 µs). So they are
// written only for records synced at least once per kPrezeroBytesPerSyncMax; the records
// counted are those appended since this process opened the segment (syncs() counts theirs).
bool SegmentPreparer::SyncedDensely(uint64_t end) const {
  // 64 KiB: a journal commit is ~12 KiB of writes, so denser syncs save more bytes than the
  // zeros cost, and sparser ones are not latency-bound.
  constexpr uint64_t kPrezeroBytesPerSyncMax = 64 << 10;
  const ActiveSegment& a = *st_.active;
  return a.syncs() * kPrezeroBytesPerSyncMax >= end - std::min(end, a.opened_end());
}

// Once the active segment is half full, its successor is prepared (an idle namespace costs no
// disk for it), if its records were synced densely enough to pay for the zeros. Otherwise
// (mostly buffered appends) the roll fallocates instead. kInline always prepares.
void SegmentPreparer::MaybePrepareNext(uint64_t end) {
  if (st_.db_options.prezero == Options::Prezero::kOff) return;
  if (end < st_.segment_bytes_max() / 2) return;
  MaybePrepareIndexSpare(end);
  const uint64_t next = st_.active->id() + 1;
  if (requested_ >= next) return;
  requested_ = next;
  const bool zeros = st_.db_options.prezero == Options::Prezero::kInline || SyncedDensely(end);
  if (!zeros) st_.counters.prezero_skipped++;
  Request(next, zeros);
}

// Asked again once less than half of kZeroAheadBytes is left ahead of the records, so a request
// (a wake-up of the thread) comes once per ~4 MiB of records, not per group.
void SegmentPreparer::MaybeZeroAhead(uint64_t end) {
  if (st_.db_options.prezero == Options::Prezero::kOff) return;
  const ActiveSegment& a = *st_.active;
  if (ahead_id_ != a.id()) {
    ahead_id_ = a.id();
    ahead_to_ = a.zeroed_end();
  }
  const uint64_t limit = st_.segment_bytes_max();
  if (ahead_to_ >= limit || ahead_to_ >= end + kZeroAheadBytes / 2) return;
  if (!SyncedDensely(end)) return;
  ahead_to_ = std::min(limit, end + kZeroAheadBytes);
  std::unique_lock l(mu_);
  if (!zeroing_ || zeroing_->id != a.id()) {
    TLDB_CHECK(!zeroing_ || !zeroing_->busy);  // StopZeroing ran at the roll
    zeroing_ = std::make_unique<Zeroing>();
    zeroing_->id = a.id();
    zeroing_->path = SegmentFileName(st_.dir, a.id());
    zeroing_->done = a.zeroed_end();
  }
  zeroing_->floor = std::max(zeroing_->floor, end);  // every record so far is below `end`
  zeroing_->target = ahead_to_;
  if (st_.db_options.prezero == Options::Prezero::kInline) {
    while (ZeroDue()) ZeroStep(l);
  } else {
    cv_.notify_all();
  }
}

void SegmentPreparer::FenceZeros(uint64_t id, uint64_t end) {
  if (st_.db_options.prezero != Options::Prezero::kBackground) return;  // inline: no overlap
  std::unique_lock l(mu_);
  if (!zeroing_ || zeroing_->id != id) return;
  Zeroing& z = *zeroing_;
  z.floor = std::max(z.floor, end);
  // A chunk being written below `end`: the group's bytes must land after it, not under it.
  cv_.wait(l, [&] { return z.writing_from == z.writing_to || z.writing_from >= end; });
}

void SegmentPreparer::StopZeroing() {
  ahead_id_ = 0;
  std::unique_ptr<Zeroing> z;
  {
    std::unique_lock l(mu_);
    if (!zeroing_) return;
    cv_.wait(l, [&] { return !zeroing_->busy; });
    z = std::move(zeroing_);
  }
  if (z->file) (void)z->file->Close();  // its zeros were synced (or failed, and stopped)
}

void SegmentPreparer::MaybeWriteBack(uint64_t end, uint64_t durable_end) {
  if (st_.db_options.prezero == Options::Prezero::kOff) return;
  const ActiveSegment& a = *st_.active;
  if (wb_asked_id_ != a.id()) {
    wb_asked_id_ = a.id();
    wb_asked_to_ = 0;
  }
  const uint64_t from = std::max(wb_asked_to_, durable_end);  // synced ones need none
  if (end < from + kRecordsWriteBackBytes) return;
  wb_asked_to_ = end;
  if (st_.db_options.prezero == Options::Prezero::kInline) {
    WriteBackRecords(a.id(), from, end, /*bytes_per_s=*/0);
    return;
  }
  std::lock_guard l(mu_);
  if (wb_request_id_ != a.id()) {
    wb_request_id_ = a.id();
    wb_request_from_ = from;
  }
  wb_request_to_ = end;  // one not taken yet grows
  cv_.notify_one();
}

void SegmentPreparer::WriteBackRecords(uint64_t id, uint64_t from, uint64_t to,
                                       uint64_t bytes_per_s) {
  if (wb_failed_id_ == id) return;
  // A handle per request, closed after it: one kept open would hold a sealed segment's blocks
  // after the segment is deleted (compaction, TTL) until the next request.
  auto file = st_.fs->OpenWritable(SegmentFileName(st_.dir, id), /*create=*/false,
                                   /*exclusive=*/false);
  Status s = file.status();
  constexpr uint64_t kStepBytes = 1u << 20;
  if (s.ok() && bytes_per_s == 0) {
    s = (*file)->WriteBack(from, to - from);
  } else if (s.ok()) {
    WriteBackPacer pacer(bytes_per_s);
    s = pacer.Range(**file, from, to, kStepBytes);
  }
  if (file.ok()) (void)(*file)->Close();  // nothing of it to sync: only written back
  if (s.ok()) {
    st_.counters.records_written_back_bytes += to - from;
  } else {
    wb_failed_id_ = id;
    st_.Event("writing back records of " + SegmentFileName(st_.dir, id) +
              " failed (the roll's fdatasync writes them): " + s.ToString());
  }
}

bool SegmentPreparer::ZeroDue() const {
  if (!zeroing_ || zeroing_->failed || zeroing_->busy) return false;
  return std::max(zeroing_->done, zeroing_->floor) < zeroing_->target;
}

void SegmentPreparer::ZeroStep(std::unique_lock<std::mutex>& l) {
  Zeroing& z = *zeroing_;  // stays while busy: StopZeroing waits for it
  const uint64_t from = std::max(z.done, z.floor);
  const uint64_t to = std::min(from + kZeroChunkBytes, z.target);
  z.busy = true;
  z.writing_from = from;
  z.writing_to = to;
  l.unlock();
  Status s;
  if (!z.file) {
    auto f = st_.fs->OpenWritable(z.path, /*create=*/false, /*exclusive=*/false);
    if (f.ok()) {
      z.file = std::move(f).value();
    } else {
      s = f.status();
    }
  }
  if (s.ok()) s = WriteZeros(*z.file, from, to);
  l.lock();
  z.writing_from = z.writing_to = 0;
  cv_.notify_all();  // a leader waiting in FenceZeros
  l.unlock();
  if (s.ok()) s = z.file->Sync();
  if (!s.ok()) {
    st_.Event("writing zeros ahead in " + z.path +
              " failed (its records go into unwritten blocks): " + s.ToString());
  }
  l.lock();
  z.busy = false;
  if (s.ok()) {
    z.done = to;
    st_.counters.prezero_ahead_bytes += to - from;
  } else {
    z.failed = true;
  }
  cv_.notify_all();  // StopZeroing
}

std::optional<SegmentPreparer::Prepared> SegmentPreparer::TakePrepared(uint64_t id) {
  std::lock_guard l(mu_);
  created_id_ = std::max(created_id_, id);  // a preparation of `id` finishing later is stale
  if (prepared_id_ != id) return std::nullopt;
  prepared_id_ = 0;
  return std::move(prepared_);
}

void SegmentPreparer::Loop() {
  for (;;) {
    uint64_t id = 0;
    bool zeros = false;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] {
        return stop_ || request_ != 0 || spare_request_id_ != 0 || sync_indexes_ ||
               wb_request_id_ != 0 || ZeroDue();
      });
      if (stop_) return;
      if (ZeroDue()) {  // first: the records are about to reach it
        ZeroStep(l);
        continue;
      }
      if (sync_indexes_) {
        sync_indexes_ = false;
        l.unlock();
        st_.SyncIndexes(st_.db_options.background_writeback_bytes_per_s);  // paced
        continue;
      }
      // Records written back last: the roll needs the next segment and the spare, and only
      // goes faster for the writeback (which a later request extends).
      if (request_ == 0 && spare_request_id_ == 0) {
        const uint64_t wb = std::exchange(wb_request_id_, 0);
        const uint64_t from = wb_request_from_, to = wb_request_to_;
        l.unlock();
        WriteBackRecords(wb, from, to, st_.db_options.background_writeback_bytes_per_s);
        continue;
      }
      if (request_ == 0) {  // the next segment first: its zeros are synced, the spare's not
        const uint64_t spare = std::exchange(spare_request_id_, 0);
        const uint64_t bytes = spare_request_bytes_;
        const uint64_t buffer_bytes = spare_request_buffer_bytes_;
        l.unlock();
        PrepareIndexSpare(spare, bytes, buffer_bytes);
        continue;
      }
      id = request_;
      zeros = request_zeros_;
      request_ = 0;
    }
    std::string header;
    Status s = Prepare(id, zeros, st_.db_options.background_writeback_bytes_per_s, &header);
    std::lock_guard l(mu_);
    if (s.ok() && id > created_id_ && !stop_) {
      prepared_id_ = id;
      prepared_ = Prepared{zeros, std::move(header)};
      TLDB_TEST_HOOK("prepare.next_ready");
    } else {
      (void)st_.fs->Remove(PreparedName(id));  // too late (the roll came first) or failed
      if (!s.ok()) {
        st_.Event("preparing segment " + std::to_string(id) +
                  " failed (segments will grow by appending): " + s.ToString());
      }
    }
  }
}

Status SegmentPreparer::Prepare(uint64_t id, bool zeros, uint64_t writeback_bytes_per_s,
                                std::string* header) {
  const uint64_t size = st_.segment_bytes_max();
  TLDB_CHECK(size > format::kSegmentHeaderBytes);
  TLDB_ASSIGN_OR_RETURN(auto file, st_.fs->OpenWritable(PreparedName(id), true, false));
  TLDB_RETURN_IF_ERROR(file->Truncate(0));
  // created_ms: when it was prepared, ahead of the roll that puts it in place.
  *header = SegmentHeaderBytes(st_.entry.id, id, st_.clock->NowMs());
  TLDB_RETURN_IF_ERROR(file->Write(0, *header));
  if (!zeros) TLDB_RETURN_IF_ERROR(file->Allocate(0, size));
  // Paced, the zeros reach the device a chunk at a time.
  std::optional<WriteBackPacer> pacer;
  if (zeros && writeback_bytes_per_s != 0) pacer.emplace(writeback_bytes_per_s);
  for (uint64_t off = 0; zeros && off < size; off += kZeroChunkBytes) {
    const uint64_t from = std::max<uint64_t>(off, format::kSegmentHeaderBytes);
    const uint64_t to = std::min(off + kZeroChunkBytes, size);
    TLDB_RETURN_IF_ERROR(WriteZeros(*file, from, to));
    if (pacer) TLDB_RETURN_IF_ERROR(pacer->Step(*file, off, to - off));
  }
  TLDB_RETURN_IF_ERROR(file->Sync());
  TLDB_KILL_POINT("prepare.after_zeros");
  return file->Close();
}

// One write per page: the page cache keeps each page written as a folio of its own. Written in
// one 1 MiB call, the zeros sit in large folios (ext4 on this kernel, 6.18), and a record
// written later dirties its whole folio: every fdatasync then wrote back ~85 KiB instead of one
// 4 KiB page (/proc/self/io, bench/prezero_bench.cc), which cost more than the zeros save.
Status SegmentPreparer::WriteZeros(WritableFile& file, uint64_t from, uint64_t to) {
  constexpr uint64_t kPageBytes = 4096;
  // A plain array, never destroyed: a committer thread of a store still open while the
  // process exits may be writing zeros after static destructors ran (a std::vector here was
  // freed under it; found by the session fuzz target at its exit).
  static constexpr char kZeros[kPageBytes] = {};
  while (from < to) {
    const uint64_t n = std::min((from / kPageBytes + 1) * kPageBytes, to) - from;  // to a page end
    TLDB_RETURN_IF_ERROR(file.Write(from, {kZeros, static_cast<size_t>(n)}));
    from += n;
  }
  return Status::Ok();
}

}  // namespace tldb
