// RunDiskFullSuite: a real ENOSPC under a running tldb-server.
//
// Contract:
// - `dir` must be on a small filesystem of its own (a loop-mounted image or a size-capped
//   tmpfs: the caller mounts it). The server's data directory is dir/data; after the server
//   started, a filler file dir/filler takes all free space but `leave_bytes`.
// - One client appends (sync, unique client_msg_ids, ledger) until an append fails. The suite
//   records that error, checks that retries keep failing the same way (unless one succeeds:
//   the server's own compaction may free space meanwhile), and reads everything back while the
//   disk is full (Ledger::Check).
// - Then the filler is deleted and the failed message is retried every 20 ms for up to
//   `resume_timeout_ms`: "resumed" and the time from the delete to its acknowledgement. If
//   appends have not resumed by then and `restart_if_stuck`, the server is restarted
//   (SIGTERM, start) and the time to the first acknowledgement after the restart is reported.
// - Finally more appends, a SIGKILL + restart, and the read-back check: violations are losses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tldb/status.h"

namespace tldb::faults {

struct DiskFullOptions {
  std::string server_binary;
  std::string dir;
  std::string io_backend = "auto";
  std::string ns = "diskfull";
  uint64_t leave_bytes = 1u << 20;
  uint32_t payload_bytes = 4'000;
  uint32_t resume_timeout_ms = 3'000;
  bool restart_if_stuck = true;
  std::string server_log;
};

struct DiskFullReport {
  uint64_t acked_before_full = 0;
  std::string full_error;           // the failed append's status
  bool error_is_no_space = false;   // the status code is NoSpace (retriable)
  bool retries_fail_alike = false;  // every retry that failed, failed with the same code
  uint64_t acked_while_full = 0;    // retries acknowledged before the filler was deleted
  bool reads_ok_while_full = false;
  bool resumed_without_restart = false;
  double resume_ms = -1;          // filler deleted -> first acknowledgement (no restart)
  double restart_resume_ms = -1;  // restart begun -> first acknowledgement (when stuck)
  uint64_t acked_after_resume = 0;
  uint64_t acked = 0, stored = 0;
  bool server_alive_throughout = true;
  std::vector<std::string> violations;  // losses and wrong data
  std::string ToString() const;
};

Result<DiskFullReport> RunDiskFullSuite(const DiskFullOptions& options);

// Creates `path` filling the filesystem of `path` but `leave_bytes` (fallocate, then writes).
Status FillFilesystem(const std::string& path, uint64_t leave_bytes);

}  // namespace tldb::faults
