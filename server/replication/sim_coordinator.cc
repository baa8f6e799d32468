#include "replication/sim_coordinator.h"

namespace tldb::repl {

Status SimCoordinator::Reach(uint32_t node) const {
  if (stalled_) return Status::TimedOut("etcd (simulated) is stalled");
  if (unreachable_.count(node) != 0) {
    return Status::IOError("etcd (simulated) is unreachable from node " + std::to_string(node));
  }
  return Status::Ok();
}

void SimCoordinator::Expire() {
  if (!key_.present) return;
  auto it = lease_expiry_ms_.find(key_.node);
  if (it == lease_expiry_ms_.end() || now_ms_() > it->second) key_ = {};
}

Result<LeaderInfo> SimCoordinator::Campaign(uint32_t node) {
  std::lock_guard l(mu_);
  TLDB_RETURN_IF_ERROR(Reach(node));
  Expire();
  auto it = lease_expiry_ms_.find(node);
  if (it == lease_expiry_ms_.end() || now_ms_() > it->second) {
    return Status::NotFound("node " + std::to_string(node) + " has no live lease");
  }
  if (!key_.present) {
    key_ = {true, node, ++revision_};
    elections_++;
  }
  return key_;
}

Result<LeaderInfo> SimCoordinator::Leader(uint32_t node) {
  std::lock_guard l(mu_);
  TLDB_RETURN_IF_ERROR(Reach(node));
  Expire();
  return key_;
}

Status SimCoordinator::Resign(uint32_t node, uint64_t epoch) {
  std::lock_guard l(mu_);
  TLDB_RETURN_IF_ERROR(Reach(node));
  ++revision_;
  if (key_.present && key_.epoch == epoch) key_ = {};
  return Status::Ok();
}

Status SimCoordinator::KeepAlive(uint32_t node) {
  std::lock_guard l(mu_);
  TLDB_RETURN_IF_ERROR(Reach(node));
  ++revision_;
  auto it = lease_expiry_ms_.find(node);
  if (it != lease_expiry_ms_.end() && now_ms_() > it->second) {
    // Expired: a new lease (etcd would grant one with a new id); the old key went with it.
    Expire();
  }
  lease_expiry_ms_[node] = now_ms_() + lease_ttl_ms_;
  return Status::Ok();
}

Result<std::optional<uint32_t>> SimCoordinator::PromoteTarget(uint32_t node) {
  std::lock_guard l(mu_);
  TLDB_RETURN_IF_ERROR(Reach(node));
  return promote_;
}

Status SimCoordinator::ClearPromote(uint32_t node) {
  std::lock_guard l(mu_);
  TLDB_RETURN_IF_ERROR(Reach(node));
  promote_.reset();
  return Status::Ok();
}

Result<bool> SimCoordinator::Initialized(uint32_t node) {
  std::lock_guard l(mu_);
  TLDB_RETURN_IF_ERROR(Reach(node));
  return initialized_;
}

Status SimCoordinator::MarkInitialized(uint32_t node) {
  std::lock_guard l(mu_);
  TLDB_RETURN_IF_ERROR(Reach(node));
  initialized_ = true;
  return Status::Ok();
}

void SimCoordinator::SetPromote(uint32_t target) {
  std::lock_guard l(mu_);
  promote_ = target;
}

void SimCoordinator::SetReachable(uint32_t node, bool reachable) {
  std::lock_guard l(mu_);
  if (reachable) {
    unreachable_.erase(node);
  } else {
    unreachable_.insert(node);
  }
}

void SimCoordinator::SetStalled(bool stalled) {
  std::lock_guard l(mu_);
  stalled_ = stalled;
}

LeaderInfo SimCoordinator::Peek() {
  std::lock_guard l(mu_);
  Expire();
  return key_;
}

uint64_t SimCoordinator::elections() const {
  std::lock_guard l(mu_);
  return elections_;
}

}  // namespace tldb::repl
