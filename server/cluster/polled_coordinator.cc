#include "cluster/polled_coordinator.h"

#include <chrono>
#include <string>

namespace tldb::cluster {

PolledCoordinator::PolledCoordinator(repl::Coordinator& inner, NodesFn nodes,
                                     PolledCoordinatorOptions options)
    : inner_(inner), nodes_fn_(std::move(nodes)), o_(std::move(options)) {}

PolledCoordinator::~PolledCoordinator() {
  Stop();
}

void PolledCoordinator::Start() {
  thread_ = std::thread([this] { Poll(); });
}

void PolledCoordinator::Stop() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PolledCoordinator::Poll() {
  int64_t nodes_asked_ms = 0;
  bool nodes_read = false;
  std::unique_lock l(mu_);
  while (!stopping_) {
    const uint64_t leader_generation = leader_.generation;
    const uint64_t promote_generation = promote_.generation;
    const uint64_t soon_asked = nodes_soon_asked_;
    const bool soon = soon_asked > nodes_soon_answered_;
    l.unlock();
    const int64_t asked = o_.now_ms();
    Status keepalive = inner_.KeepAlive(o_.node);
    auto leader = inner_.Leader(o_.node);
    auto promote = inner_.PromoteTarget(o_.node);
    std::optional<Result<std::map<uint32_t, NodeAddresses>>> nodes;
    const int64_t nodes_due_ms = nodes_asked_ms + (soon ? o_.nodes_soon_ms : o_.nodes_poll_ms);
    if (nodes_fn_ && (!nodes_read || asked >= nodes_due_ms)) {
      nodes.emplace(nodes_fn_());
      nodes_asked_ms = asked;
      nodes_read = true;
    }
    l.lock();
    keepalive_.value = std::move(keepalive);
    keepalive_.asked_ms = asked;
    if (leader.ok() && leader_.generation == leader_generation) {
      leader_.value = *leader;
      leader_.asked_ms = asked;
    }
    if (promote.ok() && promote_.generation == promote_generation) {
      promote_.value = *promote;
      promote_.asked_ms = asked;
    }
    if (nodes && nodes->ok()) nodes_ = std::move(**nodes);
    if (nodes) nodes_soon_answered_ = soon_asked;
    cv_.wait_for(l, std::chrono::milliseconds(o_.poll_ms), [this] { return stopping_; });
  }
}

Status PolledCoordinator::Stale(const char* what, int64_t asked_ms) const {
  return Status::IOError(std::string("etcd: no answer about the ") + what + " for " +
                         std::to_string(o_.now_ms() - asked_ms) + " ms");
}

Result<repl::LeaderInfo> PolledCoordinator::Campaign(uint32_t node) {
  const int64_t asked = o_.now_ms();
  auto r = inner_.Campaign(node);
  std::lock_guard l(mu_);
  ++leader_.generation;
  if (r.ok()) {
    leader_.value = *r;
    leader_.asked_ms = asked;
  } else {
    leader_.value.reset();
  }
  return r;
}

Result<repl::LeaderInfo> PolledCoordinator::Leader(uint32_t) {
  std::lock_guard l(mu_);
  if (!leader_.value || o_.now_ms() - leader_.asked_ms > o_.stale_ms) {
    return Stale("leader key", leader_.asked_ms);
  }
  return *leader_.value;
}

Status PolledCoordinator::Resign(uint32_t node, uint64_t epoch) {
  Status s = inner_.Resign(node, epoch);
  std::lock_guard l(mu_);
  ++leader_.generation;
  leader_.value.reset();
  return s;
}

Status PolledCoordinator::KeepAlive(uint32_t) {
  std::lock_guard l(mu_);
  if (!keepalive_.value || o_.now_ms() - keepalive_.asked_ms > o_.stale_ms) {
    return Stale("lease", keepalive_.asked_ms);
  }
  return *keepalive_.value;
}

Result<std::optional<uint32_t>> PolledCoordinator::PromoteTarget(uint32_t) {
  std::lock_guard l(mu_);
  if (!promote_.value || o_.now_ms() - promote_.asked_ms > o_.stale_ms) {
    return Stale("promote key", promote_.asked_ms);
  }
  return *promote_.value;
}

Status PolledCoordinator::ClearPromote(uint32_t node) {
  Status s = inner_.ClearPromote(node);
  std::lock_guard l(mu_);
  ++promote_.generation;
  promote_.value.reset();
  return s;
}

Result<bool> PolledCoordinator::Initialized(uint32_t node) {
  return inner_.Initialized(node);
}

Status PolledCoordinator::MarkInitialized(uint32_t node) {
  return inner_.MarkInitialized(node);
}

void PolledCoordinator::PollNodesSoon() {
  std::lock_guard l(mu_);
  ++nodes_soon_asked_;
}

Result<std::map<uint32_t, NodeAddresses>> PolledCoordinator::Nodes() {
  std::lock_guard l(mu_);
  if (!nodes_) return Status::IOError("etcd: the nodes' addresses were not read yet");
  return *nodes_;
}

}  // namespace tldb::cluster
