// SimCoordinator: etcd's part in a simulated partition (docs/replication.md "Testing"): one
// leader key on its holder's lease, epochs from a revision counter, leases that expire when
// their node stops renewing them, and faults: a node cut off from etcd, or etcd stalled for
// everyone (every call then fails, as an unreachable etcd does).
//
// Contract: thread-safe; time comes from the clock given.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "replication/coordinator.h"

namespace tldb::repl {

class SimCoordinator : public Coordinator {
 public:
  SimCoordinator(std::function<int64_t()> now_ms, int64_t lease_ttl_ms)
      : now_ms_(std::move(now_ms)), lease_ttl_ms_(lease_ttl_ms) {}

  Result<LeaderInfo> Campaign(uint32_t node) override;
  Result<LeaderInfo> Leader(uint32_t node) override;
  Status Resign(uint32_t node, uint64_t epoch) override;
  Status KeepAlive(uint32_t node) override;
  Result<std::optional<uint32_t>> PromoteTarget(uint32_t node) override;
  Status ClearPromote(uint32_t node) override;
  Result<bool> Initialized(uint32_t node) override;
  Status MarkInitialized(uint32_t node) override;
  // What `tldb cluster promote N` does.
  void SetPromote(uint32_t target);

  void SetReachable(uint32_t node, bool reachable);
  void SetStalled(bool stalled);
  // The key as etcd holds it, whoever can reach it (for checks).
  LeaderInfo Peek();
  uint64_t elections() const;

 private:
  Status Reach(uint32_t node) const;  // mu_ held
  void Expire();                      // mu_ held

  const std::function<int64_t()> now_ms_;
  const int64_t lease_ttl_ms_;
  mutable std::mutex mu_;
  uint64_t revision_ = 0;
  LeaderInfo key_;
  std::map<uint32_t, int64_t> lease_expiry_ms_;
  std::set<uint32_t> unreachable_;
  bool stalled_ = false;
  std::optional<uint32_t> promote_;
  bool initialized_ = false;
  uint64_t elections_ = 0;
};

}  // namespace tldb::repl
