// CommitterWaker: the handle through which a SubmitBatch wakes a GroupCommit's committer thread
// once the batch ends, and the per-thread list of wake-ups that open batches hold back.
//
// Contract: a GroupCommit owns one (shared) and disarms it in Stop(); a batch keeps a reference,
// so a wake-up held back by a batch that outlives its namespace does nothing instead of touching
// a destroyed GroupCommit. Wake() and Disarm() take mu_; Wake() then calls
// GroupCommit::WakeCommitter, which takes GroupCommit's mutex: lock order CommitterWaker::mu_,
// then GroupCommit::mu_ (GroupCommit never calls into this class while holding its mutex except
// Defer, which takes no lock). The per-thread list is touched only by its own thread.
#pragma once

#include <memory>
#include <mutex>

namespace tldb {

class GroupCommit;

class CommitterWaker {
 public:
  explicit CommitterWaker(GroupCommit* gc) : gc_(gc) {}

  // Wakes the committer, unless disarmed.
  void Wake();
  // After this returns, Wake() does nothing.
  void Disarm();

  // True when a SubmitBatch is open on this thread: `w` is then woken when the outermost batch
  // ends (once, however many writes deferred it) and the caller must not wake it now.
  static bool Defer(const std::shared_ptr<CommitterWaker>& w);
  // SubmitBatch's constructor and destructor.
  static void OpenBatch();
  static void CloseBatch();

 private:
  std::mutex mu_;
  GroupCommit* gc_;  // null once disarmed
};

}  // namespace tldb
