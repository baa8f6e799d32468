// GroupCommit: the write path's queue and its leader. Requests are queued; one thread at a time
// (the "leader": a blocking caller, or the committer thread for async requests) takes a group,
// makes room (SegmentRoller), assigns it (GroupAssigner), writes it with one call and, if any
// request asked for kSync, one fdatasync; then it publishes the group to readers and completes
// the requests.
//
// Errors: a NoSpace while reserving space fails the group with NoSpace and changes nothing; a
// later group tries again. A failed write or fdatasync (or any other failure of a roll) makes
// the log read-only with that error (sticky): nothing of the failed group is acknowledged or
// becomes visible, and every later request fails with the same error.
//
// Locking: mu_ guards the queue and the leader role; NamespaceState::mu is taken (exclusively)
// only to assign a group and to publish it, never across a write, an fdatasync or a roll's I/O.
// Lock order: mu_ is never held while NamespaceState::mu is taken.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "store/append_request.h"
#include "store/group_assigner.h"
#include "store/namespace_state.h"
#include "store/segment_preparer.h"
#include "store/segment_roller.h"

namespace tldb {

class GroupCommit {
 public:
  GroupCommit(NamespaceState& st, GroupAssigner& assigner, SegmentRoller& roller,
              SegmentPreparer& preparer)
      : st_(st), assigner_(assigner), roller_(roller), preparer_(preparer) {}
  ~GroupCommit() { Stop(); }
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  void Start();  // the committer thread
  // Queues `r` (already validated). A blocking request returns once completed.
  void Submit(AppendRequest* r);
  // Refuses new requests, lets the queued ones finish, and joins the committer.
  void Stop();
  // The first write or sync error (sticky), or OK.
  Status sticky() const;

 private:
  void LeadUntil(AppendRequest* mine);
  void CommitterLoop();
  bool RunOneGroup();  // false when the queue was empty (the leader role is then released)
  void WaitForStragglers(std::unique_lock<std::mutex>& l);
  void ReleaseLeader();  // mu_ held
  void FailGroup(const std::vector<AppendRequest*>& group, const Status& s);

  NamespaceState& st_;
  GroupAssigner& assigner_;
  SegmentRoller& roller_;
  SegmentPreparer& preparer_;

  mutable std::mutex mu_;  // guards the fields below
  std::condition_variable committer_cv_;
  std::condition_variable queue_cv_;   // signalled on enqueue while leader_waiting_
  std::condition_variable leader_cv_;  // signalled when the leader role is released
  std::deque<AppendRequest*> queue_;
  uint64_t pending_bytes_ = 0;
  bool leader_busy_ = false;
  bool leader_waiting_ = false;  // the leader waits in WaitForStragglers
  bool handoff_ = false;
  bool stopping_ = false;
  Status sticky_;
  std::thread committer_;

  // Leader only.
  size_t last_synced_group_size_ = 0;
  bool no_space_ = false;  // the last group failed to reserve space
};

}  // namespace tldb
