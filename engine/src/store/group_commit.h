// GroupCommit: the write path's queue and its leader. Requests are queued; one thread at a time
// (the "leader": a blocking caller, or the committer thread for async requests) takes a group,
// makes room (SegmentRoller), assigns it (GroupAssigner), writes it with one call and, if any
// request asked for kSync, one fdatasync; then it publishes the group to readers and completes
// the requests.
//
// Pipelined groups (Options::groups_in_flight_max > 1, not replicated): the leader writes a
// group and hands its fdatasync to one of the sync threads, then goes on with the next group
// while that fdatasync runs; up to groups_in_flight_max groups are written and not yet
// published. Groups are published and their requests completed strictly in log order, by
// whichever thread finds the oldest group done (PublishInOrder). A group that rolls the segment,
// or writes nothing (a retry answered from the dedupe window, Db::Sync), first waits until every
// earlier group is published, then runs as a group alone.
//
// Errors: a NoSpace while reserving space fails the group with NoSpace and changes nothing; a
// later group tries again. A failed write or fdatasync (or any other failure of a roll) makes
// the log read-only with that error (sticky): nothing of the failed group is acknowledged or
// becomes visible, nor of any group published after it (also groups written before the failure
// that were still in flight), and every later request fails with the same error. A failed
// fdatasync is never retried.
//
// Wake-ups: an asynchronous request that finds no leader wakes the committer thread, unless a
// SubmitBatch is open on the submitting thread: the wake-up is then held until the batch ends
// (CommitterWaker), so that what the batch submits is taken as one group.
//
// Locking: mu_ guards the queue, the leader role and the groups in flight; NamespaceState::mu is
// taken (exclusively) only to assign a group and to publish it, never across a write, an
// fdatasync or a roll's I/O. Lock order: mu_ is never held while NamespaceState::mu is taken.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/append_request.h"
#include "store/committer_waker.h"
#include "store/group_assigner.h"
#include "store/namespace_state.h"
#include "store/segment_preparer.h"
#include "store/segment_roller.h"

namespace tldb {

class GroupCommit {
 public:
  GroupCommit(NamespaceState& st, GroupAssigner& assigner, SegmentRoller& roller,
              SegmentPreparer& preparer);
  ~GroupCommit() { Stop(); }
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  void Start();  // the committer thread (and the sync threads of pipelined groups)
  // Queues `r` (already validated). A blocking request returns once completed.
  void Submit(AppendRequest* r);
  // Refuses new requests, lets the queued ones finish, and joins the committer.
  void Stop();
  // The first write or sync error (sticky), or OK.
  Status sticky() const;
  // Wakes the committer thread if work was handed to it (CommitterWaker, at a batch's end).
  void WakeCommitter();
  // True while the committer thread waits for work: work handed to it now waits for a wake-up
  // (tests of SubmitBatch wait for this first).
  bool committer_parked() const {
    std::lock_guard l(mu_);
    return committer_parked_;
  }

 private:
  void LeadUntil(AppendRequest* mine);
  void CommitterLoop();
  bool RunOneGroup();  // false when the queue was empty (the leader role is then released)
  void WaitForStragglers(std::unique_lock<std::mutex>& l);
  void ReleaseLeader();  // mu_ held
  void FailGroup(const std::vector<AppendRequest*>& group, const Status& s);
  void MakeSticky(const Status& s);  // mu_ not held

  // A group written and not yet published (pipelined groups).
  struct InFlight {
    std::vector<AppendRequest*> group;
    std::vector<GroupAssigner::Assigned> assigned;
    ActiveSegment* active = nullptr;  // not replaced while the group is in flight
    uint64_t end = 0;
    bool need_sync = false;
    bool done = false;  // its fdatasync returned (or it needs none)
    Status status;      // of its fdatasync
  };
  // Pipelined: writes the assigned group [start, end) and hands it to the sync threads.
  void WriteInFlight(std::vector<AppendRequest*>& group,
                     std::vector<GroupAssigner::Assigned>& assigned, uint64_t start, uint64_t end,
                     bool need_sync);
  void SyncLoop();
  // Publishes (or fails) the oldest groups in flight that are done, in log order.
  void PublishInOrder();
  // Waits until every group in flight is published or failed; returns the sticky error.
  Status Drain();

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
  bool committer_parked_ = false;  // the committer thread waits on committer_cv_
  bool stopping_ = false;
  Status sticky_;
  std::thread committer_;
  // Held by open SubmitBatches that deferred a wake-up; disarmed by Stop().
  const std::shared_ptr<CommitterWaker> waker_ = std::make_shared<CommitterWaker>(this);

  // Pipelined groups (guarded by mu_).
  const uint32_t in_flight_max_;                     // groups, from Options::groups_in_flight_max
  bool pipelined_ = false;                           // set by Start(): sync threads run
  std::deque<std::unique_ptr<InFlight>> in_flight_;  // written, not yet published, log order
  std::deque<InFlight*> to_sync_;                    // handed to the sync threads, not yet taken
  size_t unpublished_ = 0;                           // written and not yet published or failed
  bool publishing_ = false;                          // a thread runs PublishInOrder
  bool syncers_stop_ = false;
  std::condition_variable sync_cv_;       // to_sync_ or syncers_stop_ changed
  std::condition_variable published_cv_;  // unpublished_ went down
  std::vector<std::thread> syncers_;

  // Leader only.
  size_t last_synced_group_size_ = 0;
  bool no_space_ = false;  // the last group failed to reserve space
};

}  // namespace tldb
