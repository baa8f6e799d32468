#include "compaction_jobs.h"

namespace tldb::server {

using proto::CompactState;
using proto::CompactStatusResponse;

Result<uint64_t> CompactionJobs::Start(std::string_view ns, bool full) {
  std::lock_guard lock(mu_);
  if (stopping_) return Status::Closed("server stopping");
  size_t queued = 0;
  for (const auto& j : jobs_) {
    if (j.state != CompactState::kQueued) continue;
    if (j.ns == ns && j.full == full) return j.job_id;  // a retry, or a second operator
    ++queued;
  }
  if (queued >= kQueuedMax) {
    return Status::Busy(std::to_string(queued) + " compactions already queued");
  }
  CompactStatusResponse job;
  job.job_id = next_id_++;
  job.ns = std::string(ns);
  job.full = full;
  jobs_.push_back(job);
  while (jobs_.size() > kJobsKept && jobs_.front().state >= CompactState::kDone) jobs_.pop_front();
  ++totals_.started;
  const uint64_t id = job.job_id;
  if (!thread_.Post([this, id] { Run(id); })) {
    jobs_.back().state = CompactState::kFailed;
    return Status::Closed("server stopping");
  }
  return id;
}

Result<CompactStatusResponse> CompactionJobs::Get(uint64_t id) const {
  std::lock_guard lock(mu_);
  if (id == 0 && !jobs_.empty()) return jobs_.back();
  for (const auto& j : jobs_) {
    if (j.job_id == id) return j;
  }
  return Status::NotFound("no compaction job " + std::to_string(id));
}

void CompactionJobs::Stop() {
  stopping_ = true;
  thread_.Stop();
}

CompactionJobs::Totals CompactionJobs::totals() const {
  std::lock_guard lock(mu_);
  return totals_;
}

CompactStatusResponse* CompactionJobs::FindLocked(uint64_t id) {
  for (auto& j : jobs_) {
    if (j.job_id == id) return &j;
  }
  return nullptr;
}

void CompactionJobs::Run(uint64_t id) {
  std::string ns;
  bool full = false;
  {
    std::lock_guard lock(mu_);
    CompactStatusResponse* j = FindLocked(id);
    if (!j) return;
    if (stopping_) {
      j->state = CompactState::kFailed;
      j->error_code = static_cast<uint16_t>(Status::Code::kClosed);
      j->error_message = "server stopping";
      ++totals_.failed;
      return;
    }
    j->state = CompactState::kRunning;
    ns = j->ns;
    full = j->full;
  }
  CompactOptions o;
  o.full = full;
  o.progress = [this, id](const CompactionProgress& p) {
    std::lock_guard lock(mu_);
    if (CompactStatusResponse* j = FindLocked(id)) j->progress = p;
  };
  Finish(id, db_->Compact(ns, o));
}

void CompactionJobs::Finish(uint64_t id, const Result<CompactionProgress>& r) {
  std::lock_guard lock(mu_);
  if (r.ok()) {
    ++totals_.done;
    totals_.bytes_read += r->bytes_read;
    totals_.bytes_written += r->bytes_written;
    totals_.records_dropped += r->records_dropped;
    totals_.segments_expired += r->segments_expired;
  } else {
    ++totals_.failed;
  }
  CompactStatusResponse* j = FindLocked(id);
  if (!j) return;
  if (r.ok()) {
    j->state = CompactState::kDone;
    j->progress = r.value();
  } else {
    j->state = CompactState::kFailed;
    j->error_code = static_cast<uint16_t>(r.status().code());
    j->error_message = r.status().message();
  }
}

}  // namespace tldb::server
