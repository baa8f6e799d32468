#include "cluster/lease_keeper.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

namespace tldb::cluster {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kRetryPause = std::chrono::milliseconds(250);

}  // namespace

Result<std::unique_ptr<LeaseKeeper>> LeaseKeeper::Start(const EtcdClientOptions& options,
                                                        int64_t lease_id, int64_t ttl_s,
                                                        LostCallback on_lost) {
  const std::string what = "lease keeper for lease " + std::to_string(lease_id);
  if (lease_id <= 0) return Status::InvalidArgument(what + ": the lease id must be > 0");
  if (ttl_s <= 0) return Status::InvalidArgument(what + ": the TTL must be > 0");
  if (!on_lost) return Status::InvalidArgument(what + ": no on_lost callback");
  // One refresh tries every endpoint: together they get at most TTL/3.
  EtcdClientOptions own = options;
  const int64_t per_endpoint_ms =
      ttl_s * 1000 / 3 / static_cast<int64_t>(std::max<size_t>(1, own.endpoints.size()));
  own.request_timeout_ms =
      std::min<uint32_t>(own.request_timeout_ms,
                         static_cast<uint32_t>(std::clamp<int64_t>(per_endpoint_ms, 50, 60'000)));
  own.connect_timeout_ms = std::min(own.connect_timeout_ms, own.request_timeout_ms);
  TLDB_ASSIGN_OR_RETURN(auto client, EtcdClient::Create(std::move(own)));
  std::unique_ptr<LeaseKeeper> k(
      new LeaseKeeper(std::move(client), lease_id, ttl_s, std::move(on_lost)));
  k->thread_ = std::thread([p = k.get()] { p->Run(); });
  return k;
}

LeaseKeeper::LeaseKeeper(std::unique_ptr<EtcdClient> client, int64_t lease_id, int64_t ttl_s,
                         LostCallback on_lost)
    : client_(std::move(client)),
      lease_id_(lease_id),
      ttl_s_(ttl_s),
      on_lost_(std::move(on_lost)) {}

LeaseKeeper::~LeaseKeeper() {
  Stop();
}

void LeaseKeeper::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LeaseKeeper::Run() {
  const std::string what = "lease " + std::to_string(lease_id_);
  auto last_ok = Clock::now();
  std::string last_error = "none sent";
  while (true) {
    const auto sent = Clock::now();
    Result<int64_t> ttl = client_->LeaseKeepAliveOnce(lease_id_);
    Clock::time_point next;
    if (ttl.ok() && *ttl > 0) {
      last_ok = sent;
      ttl_s_ = *ttl;
      ++refreshes_;
      next = sent + std::chrono::milliseconds(ttl_s_ * 1000 / 3);
    } else if ((ttl.ok() && *ttl == 0) || ttl.status().IsNotFound()) {
      if (std::lock_guard lock(mu_); stop_) return;
      lost_ = true;
      on_lost_(Status::NotFound(
          what + " expired: " + (ttl.ok() ? "etcd answered TTL 0" : ttl.status().message())));
      return;
    } else {
      last_error = ttl.status().message();
      next =
          std::min(Clock::now() + kRetryPause, sent + std::chrono::milliseconds(ttl_s_ * 1000 / 3));
    }
    const auto lost_at = last_ok + std::chrono::seconds(ttl_s_);
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_until(lock, std::min(next, lost_at), [this] { return stop_; })) return;
    }
    if (Clock::now() >= lost_at) {
      lost_ = true;
      on_lost_(Status::TimedOut(what + ": no refresh succeeded for its TTL of " +
                                std::to_string(ttl_s_) + " s; last error: " + last_error));
      return;
    }
  }
}

}  // namespace tldb::cluster
