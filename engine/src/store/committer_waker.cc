#include "store/committer_waker.h"

#include <algorithm>
#include <vector>

#include "store/group_commit.h"
#include "util/check.h"

namespace tldb {
namespace {

// The open batches of this thread and the committers they hold back.
struct BatchState {
  int depth = 0;
  std::vector<std::shared_ptr<CommitterWaker>> held;
};
thread_local BatchState batch;

}  // namespace

void CommitterWaker::Wake() {
  std::lock_guard l(mu_);
  if (gc_ != nullptr) gc_->WakeCommitter();
}

void CommitterWaker::Disarm() {
  std::lock_guard l(mu_);
  gc_ = nullptr;
}

bool CommitterWaker::Defer(const std::shared_ptr<CommitterWaker>& w) {
  if (batch.depth == 0) return false;
  if (std::find(batch.held.begin(), batch.held.end(), w) == batch.held.end()) {
    batch.held.push_back(w);
  }
  return true;
}

void CommitterWaker::OpenBatch() {
  ++batch.depth;
}

void CommitterWaker::CloseBatch() {
  TLDB_CHECK(batch.depth > 0);
  if (--batch.depth > 0) return;
  // Swapped out first: a wake-up cannot open a batch on this thread, but the list stays valid
  // whatever Wake does.
  std::vector<std::shared_ptr<CommitterWaker>> held;
  held.swap(batch.held);
  for (const auto& w : held) w->Wake();
  held.clear();
  if (batch.held.empty()) batch.held.swap(held);  // keep the capacity: no allocation per batch
}

}  // namespace tldb
