// The io_uring backend: the POSIX backend with an io_uring data path.
//
// Contract (in addition to file_system.h and posix_file_system.h, whose metadata operations,
// Sync, Truncate, Allocate, Map, OpenReadable and Lock it reuses unchanged):
// - WritableFile::Write submits IORING_OP_WRITE and resubmits the remainder of short writes.
// - WritableFile::WriteAndSync submits the write linked (IOSQE_IO_LINK) to an
//   IORING_OP_FSYNC(IORING_FSYNC_DATASYNC) in one io_uring_enter. After a short write (which
//   cancels the linked fsync) the remainder is resubmitted with a new linked fsync.
// - Reads are pread (the engine reads sealed data through mappings, and recovery reads whole
//   files once).
// - Rings are not thread-safe: each WritableFile owns one ring (ops on it are serialised by a
//   mutex). Ring depth is 64.
// This header deliberately does not include liburing.h; only uring_file_system.cc does.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "io/posix_file_system.h"

namespace tldb {

// liburing maps and unmaps ring memory with raw system calls, so ThreadSanitizer cannot see that
// a ring set up in one thread may reuse the addresses of a ring torn down in another. Every
// io_uring of the engine (a file's, a loop's socket sends) passes through this mutex right
// after it is set up and right before it is torn down, which gives ThreadSanitizer the
// happens-before edge (and costs nothing measurable: rings are set up once per file or thread).
std::mutex& UringRingLifetimeMutex();

class UringFileSystem : public PosixFileSystem {
 public:
  std::string Name() const override { return "uring"; }
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool create,
                                                     bool exclusive) override;
};

}  // namespace tldb
