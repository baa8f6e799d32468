// io_uring backend (see uring_file_system.h for the contract). The only translation unit in
// the project that includes liburing.h.
#include "io/uring_file_system.h"

#include <liburing.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <mutex>

#include "tldb/errno_status.h"

namespace tldb {

std::mutex& UringRingLifetimeMutex() {
  static std::mutex mu;
  return mu;
}

namespace {

constexpr unsigned kRingDepth = 64;
// Bytes per SQE (the length field is 32 bits; stay below Linux's 0x7ffff000 cap).
constexpr size_t kMaxChunk = size_t{1} << 30;
// Result slot of an SQE that was never submitted or reaped.
constexpr int kNotDone = INT_MIN;

std::string Context(std::string_view op, const std::string& path, uint64_t offset) {
  std::string ctx(op);
  ctx += " ";
  ctx += path;
  ctx += " at ";
  ctx += std::to_string(offset);
  return ctx;
}

// One io_uring instance. Not thread-safe; not movable (the kernel maps its rings).
class Ring {
 public:
  Ring() = default;
  ~Ring() { Exit(); }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  Status Init() {
    const int rc = io_uring_queue_init(kRingDepth, &ring_, 0);
    if (rc < 0) return StatusFromErrno(-rc, "io_uring_setup");
    std::lock_guard lock(UringRingLifetimeMutex());
    ok_ = true;
    return Status::Ok();
  }
  // Tears the ring down and builds a fresh one, so no stale SQE outlives a failed submit.
  Status Reset() {
    Exit();
    return Init();
  }
  bool ok() const { return ok_; }
  io_uring* get() { return &ring_; }

  // Submits everything prepared, waits for all of it, and stores each completion's res in
  // results[user_data]. Slots of SQEs that never completed keep kNotDone.
  Status SubmitAndReap(unsigned n, std::span<int> results);

 private:
  void Exit() {
    if (!ok_) return;
    std::lock_guard lock(UringRingLifetimeMutex());
    io_uring_queue_exit(&ring_);
    ok_ = false;
  }

  io_uring ring_{};
  bool ok_ = false;
};

Status Ring::SubmitAndReap(unsigned n, std::span<int> results) {
  std::fill(results.begin(), results.end(), kNotDone);
  int rc;
  do {
    rc = io_uring_submit_and_wait(&ring_, n);
  } while (rc == -EINTR);
  if (rc < 0) {
    (void)Reset();
    return StatusFromErrno(-rc, "io_uring_enter");
  }
  const auto submitted = static_cast<unsigned>(rc);
  for (unsigned i = 0; i < submitted; ++i) {
    io_uring_cqe* cqe = nullptr;
    do {
      rc = io_uring_wait_cqe(&ring_, &cqe);
    } while (rc == -EINTR);
    if (rc < 0) {
      (void)Reset();
      return StatusFromErrno(-rc, "io_uring_wait_cqe");
    }
    const uint64_t slot = io_uring_cqe_get_data64(cqe);
    if (slot < results.size()) results[slot] = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
  }
  if (submitted < n) {
    (void)Reset();  // drop the SQEs the kernel did not take
    return Status::IOError("io_uring_enter: submitted " + std::to_string(submitted) + " of " +
                           std::to_string(n));
  }
  return Status::Ok();
}

bool Retriable(int res) {
  return res == -EINTR || res == -EAGAIN;
}

// Write + fdatasync go through a per-file ring (mutex-guarded) as one linked submission;
// everything else is the POSIX code.
class UringWritableFile : public PosixWritableFile {
 public:
  UringWritableFile(int fd, std::string path, std::unique_ptr<Ring> ring)
      : PosixWritableFile(fd, std::move(path)), ring_(std::move(ring)) {}

  Status Write(uint64_t offset, std::span<const char> data) override;
  Status WriteAndSync(uint64_t offset, std::span<const char> data) override;

 private:
  // One IORING_OP_WRITE of (a prefix of) `data`, linked to a datasync when `sync`.
  // res[0] is the write's result, res[1] the fsync's.
  Status SubmitLocked(uint64_t offset, std::span<const char> data, bool sync,
                      std::array<int, 2>& res);
  Status WriteLocked(uint64_t offset, std::span<const char> data, bool sync);

  std::mutex mu_;
  std::unique_ptr<Ring> ring_;
};

Status UringWritableFile::SubmitLocked(uint64_t offset, std::span<const char> data, bool sync,
                                       std::array<int, 2>& res) {
  if (!ring_->ok()) TLDB_RETURN_IF_ERROR(ring_->Init());
  io_uring_sqe* w = io_uring_get_sqe(ring_->get());
  const auto len = static_cast<unsigned>(std::min(data.size(), kMaxChunk));
  io_uring_prep_write(w, fd(), data.data(), len, offset);
  io_uring_sqe_set_data64(w, 0);
  if (sync) {
    w->flags |= IOSQE_IO_LINK;
    io_uring_sqe* s = io_uring_get_sqe(ring_->get());
    io_uring_prep_fsync(s, fd(), IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(s, 1);
  }
  return ring_->SubmitAndReap(sync ? 2 : 1, res);
}

// Loops until every byte is written. With `sync`, each submission carries a linked fsync; a
// short write cancels it, so the remainder goes out with a fresh one, and a cancelled fsync
// after the last bytes landed is re-issued on its own.
Status UringWritableFile::WriteLocked(uint64_t offset, std::span<const char> data, bool sync) {
  TLDB_RETURN_IF_ERROR(CheckOpen());
  while (!data.empty()) {
    std::array<int, 2> res{};
    TLDB_RETURN_IF_ERROR(SubmitLocked(offset, data, sync, res));
    if (Retriable(res[0])) continue;
    if (res[0] < 0) return StatusFromErrno(-res[0], Context("io_uring write", path(), offset));
    if (res[0] == 0)
      return Status::IOError(Context("io_uring write", path(), offset) + ": 0 bytes");
    data = data.subspan(static_cast<size_t>(res[0]));
    offset += static_cast<uint64_t>(res[0]);
    if (!data.empty() || !sync) continue;
    if (res[1] == 0) return Status::Ok();
    if (res[1] == -ECANCELED || Retriable(res[1])) return PosixWritableFile::Sync();
    return StatusFromErrno(-res[1], "io_uring fdatasync " + path());
  }
  return sync ? PosixWritableFile::Sync() : Status::Ok();  // only for empty `data`
}

// A write without a sync is a plain pwrite: a buffered write that extends a file is punted by
// io_uring to a kernel worker thread, which measured 3x slower per append than pwrite
// (docs/benchmarks.md). io_uring pays off where it saves a syscall: write + linked fdatasync.
Status UringWritableFile::Write(uint64_t offset, std::span<const char> data) {
  return PosixWritableFile::Write(offset, data);
}

Status UringWritableFile::WriteAndSync(uint64_t offset, std::span<const char> data) {
  std::lock_guard lock(mu_);
  return WriteLocked(offset, data, /*sync=*/true);
}

// Checks that the kernel creates rings and knows the opcodes this backend submits.
Status ProbeUring() {
  Ring ring;
  TLDB_RETURN_IF_ERROR(ring.Init());
  io_uring_probe* probe = io_uring_get_probe_ring(ring.get());
  if (probe == nullptr) return Status::NotSupported("io_uring: opcode probe refused");
  const bool ok = io_uring_opcode_supported(probe, IORING_OP_WRITE) &&
                  io_uring_opcode_supported(probe, IORING_OP_READ) &&
                  io_uring_opcode_supported(probe, IORING_OP_FSYNC);
  io_uring_free_probe(probe);
  if (!ok) return Status::NotSupported("io_uring: kernel lacks IORING_OP_READ/WRITE/FSYNC");
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<WritableFile>> UringFileSystem::OpenWritable(const std::string& path,
                                                                    bool create, bool exclusive) {
  auto ring = std::make_unique<Ring>();
  TLDB_RETURN_IF_ERROR(ring->Init());
  TLDB_ASSIGN_OR_RETURN(int fd, OpenWritableFd(path, create, exclusive));
  return std::unique_ptr<WritableFile>(
      std::make_unique<UringWritableFile>(fd, path, std::move(ring)));
}

Result<std::shared_ptr<FileSystem>> NewUringFileSystem() {
  TLDB_RETURN_IF_ERROR(ProbeUring());
  return std::shared_ptr<FileSystem>(std::make_shared<UringFileSystem>());
}

}  // namespace tldb
