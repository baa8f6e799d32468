#include "disk_full_run.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "common/server_process.h"
#include "kill_run.h"
#include "ledger.h"
#include "tldb/errno_status.h"

namespace tldb::faults {

using common::FaultServerOptions;
using common::ServerProcess;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// One sequential writer with a ledger: each message keeps its client_msg_id until acknowledged.
class LedgerWriter {
 public:
  LedgerWriter(const std::string& address, const std::string& ns, uint32_t payload_bytes,
               Ledger* ledger)
      : address_(address), ns_(ns), payload_bytes_(payload_bytes), ledger_(ledger) {}

  // Appends the pending message (a new one if none is pending); OK once acknowledged.
  Status AppendNext() {
    if (pending_id_.empty()) {
      pending_id_ = "m-" + std::to_string(n_++);
      // Random letters: compaction shrinks them little (about 1.7x), so the disk fills for
      // real instead of being emptied by the server's own compaction as fast as it is filled.
      std::mt19937_64 rng(n_);
      pending_payload_.resize(payload_bytes_);
      for (char& c : pending_payload_) c = static_cast<char>('a' + rng() % 26);
      std::memcpy(pending_payload_.data(), pending_id_.data(), pending_id_.size());
      ledger_->Sent(0, "t", pending_id_, pending_payload_);
    }
    if (!client_) {
      auto c = Client::Connect(FaultClientOptions(address_));
      if (!c.ok()) return c.status();
      client_ = std::move(c).value();
    }
    AppendOptions ao;
    ao.client_msg_id = pending_id_;
    ao.durability = Durability::kSync;
    auto r = client_->Append(ns_, "t", pending_payload_, ao);
    if (!r.ok()) {
      if (r.status().code() == Status::Code::kIOError ||
          r.status().code() == Status::Code::kClosed) {
        client_.reset();
      }
      return r.status();
    }
    ledger_->Acked("t", pending_id_, r->seq);
    pending_id_.clear();
    return Status::Ok();
  }
  // Retries the pending message every 20 ms until acknowledged or timeout_ms; the time taken.
  Result<double> RetryUntilAcked(uint32_t timeout_ms) {
    const auto t0 = Clock::now();
    Status last;
    while (MsSince(t0) < timeout_ms) {
      last = AppendNext();
      if (last.ok()) return MsSince(t0);
      std::this_thread::sleep_for(milliseconds(20));
    }
    return last;
  }
  void Reconnect() { client_.reset(); }

 private:
  std::string address_, ns_;
  uint32_t payload_bytes_;
  Ledger* ledger_;
  std::unique_ptr<Client> client_;
  uint64_t n_ = 0;
  std::string pending_id_, pending_payload_;
};

Result<std::vector<std::string>> CheckAll(const std::string& address, const std::string& ns,
                                          const Ledger& ledger, uint64_t* stored) {
  auto c = Client::Connect(FaultClientOptions(address));
  if (!c.ok()) return c.status();
  auto back = ReadBack(**c, ns, ledger.Timelines());
  if (!back.ok()) return back.status();
  *stored = 0;
  for (const auto& [_, msgs] : *back) *stored += msgs.size();
  return ledger.Check(*back);
}

}  // namespace

Status FillFilesystem(const std::string& path, uint64_t leave_bytes) {
  struct statvfs st {};
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (statvfs(dir.c_str(), &st) != 0) return Status::IOError("statvfs " + dir);
  const uint64_t avail = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  if (avail <= leave_bytes) return Status::Ok();
  const uint64_t bytes = (avail - leave_bytes) & ~uint64_t{4095};
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return StatusFromErrno(errno, "open " + path);
  int rc = posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  if (rc == 0) rc = fsync(fd) == 0 ? 0 : errno;
  close(fd);
  if (rc != 0) return StatusFromErrno(rc, "fill " + path);
  return Status::Ok();
}

std::string DiskFullReport::ToString() const {
  char buf[1024];
  std::snprintf(buf, sizeof(buf),
                "%llu acknowledged before the disk was full; append error: %s (NoSpace: %s, "
                "retries fail alike: %s, %llu retries acknowledged before the delete); "
                "reads while full: %s; appends resumed after the "
                "delete without restart: %s (%.1f ms); after a restart: %.1f ms; %llu "
                "acknowledged after resuming; %llu acknowledged in all, %llu stored, %zu "
                "violations (losses); server alive throughout: %s",
                static_cast<unsigned long long>(acked_before_full), full_error.c_str(),
                error_is_no_space ? "yes" : "no", retries_fail_alike ? "yes" : "no",
                static_cast<unsigned long long>(acked_while_full),
                reads_ok_while_full ? "ok" : "FAILED", resumed_without_restart ? "yes" : "no",
                resume_ms, restart_resume_ms, static_cast<unsigned long long>(acked_after_resume),
                static_cast<unsigned long long>(acked), static_cast<unsigned long long>(stored),
                violations.size(), server_alive_throughout ? "yes" : "no");
  return buf;
}

Result<DiskFullReport> RunDiskFullSuite(const DiskFullOptions& o) {
  const std::string data_dir = o.dir + "/data", filler = o.dir + "/filler";
  std::filesystem::create_directories(data_dir);
  ServerProcess server(
      FaultServerOptions(o.server_binary, data_dir, o.io_backend, 1, o.server_log));
  if (auto s = server.Start(); !s.ok()) return s;
  {
    auto c = Client::Connect(FaultClientOptions(server.address()));
    if (!c.ok()) return c.status();
    NamespaceOptions no;
    no.segment_bytes_max = 256u << 10;
    if (auto s = (*c)->CreateNamespace(o.ns, no); !s.ok()) return s;
  }
  if (auto s = FillFilesystem(filler, o.leave_bytes); !s.ok()) return s;

  DiskFullReport rep;
  Ledger ledger;
  LedgerWriter writer(server.address(), o.ns, o.payload_bytes, &ledger);
  Status failed;
  for (uint64_t i = 0; i < 1'000'000 && failed.ok(); ++i) failed = writer.AppendNext();
  rep.acked_before_full = ledger.acked();
  rep.full_error = failed.ToString();
  rep.error_is_no_space = failed.code() == Status::Code::kNoSpace;
  rep.retries_fail_alike = true;
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
    Status again = writer.AppendNext();
    if (again.ok()) {
      ++rep.acked_while_full;  // the server's compaction freed space in the meantime
    } else if (again.code() != failed.code()) {
      rep.retries_fail_alike = false;
    }
  }
  uint64_t stored = 0;
  auto full_check = CheckAll(server.address(), o.ns, ledger, &stored);
  rep.reads_ok_while_full = full_check.ok() && full_check->empty();
  rep.server_alive_throughout = server.Alive();

  std::filesystem::remove(filler);
  auto resumed = writer.RetryUntilAcked(o.resume_timeout_ms);
  rep.server_alive_throughout = rep.server_alive_throughout && server.Alive();
  if (resumed.ok()) {
    rep.resumed_without_restart = true;
    rep.resume_ms = *resumed;
  } else if (o.restart_if_stuck) {
    const auto t0 = Clock::now();
    (void)server.Stop();
    if (auto s = server.Start(); !s.ok()) return s;
    writer.Reconnect();
    auto after = writer.RetryUntilAcked(30'000);
    if (!after.ok()) return after.status();
    rep.restart_resume_ms = MsSince(t0);
  }
  const uint64_t before = ledger.acked();
  for (int i = 0; i < 50; ++i) {
    if (auto s = writer.AppendNext(); !s.ok()) break;
  }
  rep.acked_after_resume = ledger.acked() - before;
  if (auto s = server.Kill(); !s.ok()) return s;
  if (auto s = server.Start(); !s.ok()) return s;
  auto final_check = CheckAll(server.address(), o.ns, ledger, &rep.stored);
  if (!final_check.ok()) return final_check.status();
  rep.violations = *final_check;
  if (!full_check.ok()) {
    rep.violations.push_back("read while full: " + full_check.status().ToString());
  } else {
    for (auto& v : *full_check) rep.violations.push_back("while full: " + v);
  }
  rep.acked = ledger.acked();
  (void)server.Stop();
  return rep;
}

}  // namespace tldb::faults
