// WriteGate: the writes admitted to one local replica of a partition, and the freeze a split
// puts on them (docs/cluster.md "Splitting a partition"). ShardedDb, IntentFanout and the
// namespace catalog enter the gate (ShardHost::Admit) before they hand a write to the replica
// and leave it when the write is answered; the ShardHost's poll thread freezes the gate while
// a split of the partition runs, and the split's positions are taken once no admitted write
// is left (Drained).
//
// Contract: Enter() is false while frozen (nothing is counted); every true Enter() is paired
// with one Exit(). Thread-safe; one mutex, a leaf, held for a few instructions.
#pragma once

#include <cstdint>
#include <mutex>

namespace tldb::cluster {

class WriteGate {
 public:
  bool Enter() {
    std::lock_guard l(mu_);
    if (frozen_) return false;
    ++admitted_;
    return true;
  }
  void Exit() {
    std::lock_guard l(mu_);
    --admitted_;
  }
  void Freeze() {
    std::lock_guard l(mu_);
    frozen_ = true;
  }
  void Unfreeze() {
    std::lock_guard l(mu_);
    frozen_ = false;
  }
  bool frozen() const {
    std::lock_guard l(mu_);
    return frozen_;
  }
  // Frozen, and every write admitted before has been answered.
  bool Drained() const {
    std::lock_guard l(mu_);
    return frozen_ && admitted_ == 0;
  }

 private:
  mutable std::mutex mu_;
  bool frozen_ = false;
  uint64_t admitted_ = 0;
};

}  // namespace tldb::cluster
