#include "store/group_commit.h"

#include <algorithm>
#include <shared_mutex>

#include "log/record_format.h"
#include "util/check.h"
#include "util/kill_point.h"

namespace tldb {
namespace {

bool IsReplica(const AppendRequest* r) {
  return std::holds_alternative<ReplicaAppend>(r->op);
}

void Finish(AppendRequest* r) {
  r->completed = true;
  if (r->on_done) {
    r->on_done(r);  // may free r
  } else {
    r->done.Signal();  // the waiter may free r from here on
  }
}

// How often a blocking caller yields its CPU before it sleeps until its group is done
// (Completion::Wait): a buffered group is written within a few other threads' time slices, and
// finding it done after a yield saves the futex sleep and wake-up; a synced one waits for an
// fdatasync (hundreds of microseconds), and every yield before it is a context switch in vain.
constexpr uint32_t kBufferedWaitYields = 4;

void AwaitDone(AppendRequest* r) {
  r->done.Wait(r->sync ? 0 : kBufferedWaitYields);
}

// Bounds the sync threads of a namespace (one per group in flight): the overlap measured on this
// disk flattens by 4 in flight (docs/benchmarks.md "Pipelined groups"), so more only cost threads.
constexpr uint32_t kGroupsInFlightCeiling = 16;

}  // namespace

GroupCommit::GroupCommit(NamespaceState& st, GroupAssigner& assigner, SegmentRoller& roller,
                         SegmentPreparer& preparer)
    : st_(st),
      assigner_(assigner),
      roller_(roller),
      preparer_(preparer),
      in_flight_max_(
          std::clamp<uint32_t>(st.db_options.groups_in_flight_max, 1, kGroupsInFlightCeiling)) {}

void GroupCommit::Start() {
  committer_ = std::thread([this] { CommitterLoop(); });
  // Replicated logs ship one group at a time: no sync threads.
  pipelined_ = in_flight_max_ > 1 && st_.db_options.log_shipper == nullptr;
  if (pipelined_) {
    for (uint32_t i = 0; i < in_flight_max_; ++i) syncers_.emplace_back([this] { SyncLoop(); });
  }
}

Status GroupCommit::sticky() const {
  std::lock_guard l(mu_);
  return sticky_;
}

void GroupCommit::Submit(AppendRequest* r) {
  const bool blocking = !r->on_done;
  {
    std::unique_lock l(mu_);
    Status reject;
    if (stopping_) {
      reject = Status::Closed("namespace '" + st_.entry.name + "' is closed");
    } else if (!sticky_.ok()) {
      reject = sticky_;
    } else if (IsReplica(r) != st_.follower.load() && !std::holds_alternative<FlushAppend>(r->op)) {
      // Role checks here, not at the Db, so that a role change orders with the queue.
      reject = IsReplica(r) ? Status::InvalidArgument("namespace '" + st_.entry.name +
                                                      "' is not a follower: it takes no frames")
                            : Status::NotPrimary("namespace '" + st_.entry.name +
                                                 "' is a follower: writes go to the primary");
    } else if (!queue_.empty() &&
               pending_bytes_ + r->bytes_estimate > st_.db_options.pending_bytes_max) {
      reject = Status::Busy("namespace '" + st_.entry.name + "': too many pending appends");
    }
    if (!reject.ok()) {
      l.unlock();
      r->status = reject;
      Finish(r);
      return;
    }
    queue_.push_back(r);
    pending_bytes_ += r->bytes_estimate;
    if (leader_waiting_) queue_cv_.notify_one();
    if (leader_busy_) {
      // Work handed to the committer may wait for a SubmitBatch of this very thread to end: a
      // blocking caller wakes it, or it would wait for itself.
      if (blocking && handoff_) committer_cv_.notify_one();
      l.unlock();
      if (blocking) AwaitDone(r);
      return;
    }
    leader_busy_ = true;
    if (!blocking) {
      handoff_ = true;
      if (!CommitterWaker::Defer(waker_)) committer_cv_.notify_one();
      return;
    }
  }
  LeadUntil(r);
  AwaitDone(r);
}

void GroupCommit::ReleaseLeader() {
  leader_busy_ = false;
  if (stopping_) leader_cv_.notify_all();  // only Stop() waits for it
}

void GroupCommit::LeadUntil(AppendRequest* mine) {
  while (!mine->taken) {  // its group is then completed, or in flight (pipelined)
    TLDB_CHECK(RunOneGroup());
  }
  std::unique_lock l(mu_);
  if (queue_.empty()) {
    ReleaseLeader();
  } else if (stopping_) {
    // The committer may be gone: this caller finishes what is queued.
    l.unlock();
    while (RunOneGroup()) {
    }
  } else {
    handoff_ = true;  // let the committer thread lead the rest: this caller returns now
    committer_cv_.notify_one();
  }
}

void GroupCommit::CommitterLoop() {
  for (;;) {
    {
      std::unique_lock l(mu_);
      committer_parked_ = true;
      committer_cv_.wait(l, [&] { return handoff_ || stopping_; });
      committer_parked_ = false;
      if (!handoff_) return;  // stopping, and nobody handed us work
      handoff_ = false;
    }
    while (RunOneGroup()) {
    }
  }
}

void GroupCommit::WakeCommitter() {
  std::lock_guard l(mu_);
  if (handoff_) committer_cv_.notify_one();
}

void GroupCommit::Stop() {
  waker_->Disarm();  // a batch ending later wakes nothing (the queue is finished below)
  {
    std::unique_lock l(mu_);
    stopping_ = true;
    committer_cv_.notify_all();
  }
  if (committer_.joinable()) committer_.join();
  std::unique_lock l(mu_);
  if (handoff_) {  // handed to a committer that had already stopped: finish it here
    handoff_ = false;
    l.unlock();
    while (RunOneGroup()) {
    }
    l.lock();
  }
  leader_cv_.wait(l, [&] { return !leader_busy_ && queue_.empty(); });
  published_cv_.wait(l, [&] { return unpublished_ == 0; });
  syncers_stop_ = true;
  sync_cv_.notify_all();
  l.unlock();
  for (auto& t : syncers_) t.join();
  syncers_.clear();
}

// After a synced group of n appends, the writers it released need some microseconds to send
// their next append. Without waiting, the next group is cut before they arrive and groups
// settle at about half the writers (measured: docs/benchmarks.md), doubling the fdatasyncs per
// append. So the leader waits up to group_commit_wait_us for the queue to reach n again.
void GroupCommit::WaitForStragglers(std::unique_lock<std::mutex>& l) {
  const size_t want = last_synced_group_size_;
  if (want < 2 || queue_.size() >= want || st_.db_options.group_commit_wait_us == 0) return;
  leader_waiting_ = true;
  queue_cv_.wait_for(l, std::chrono::microseconds(st_.db_options.group_commit_wait_us),
                     [&] { return queue_.size() >= want || stopping_; });
  leader_waiting_ = false;
}

bool GroupCommit::RunOneGroup() {
  std::vector<AppendRequest*> group;
  uint64_t group_bytes = 0;
  Status sticky;
  {
    std::unique_lock l(mu_);
    if (queue_.empty()) {
      ReleaseLeader();
      return false;
    }
    // Pipelined: a free place first (what queues meanwhile joins this group). No straggler wait:
    // the writers of the last group are still waiting for its fdatasync when the next is cut.
    if (pipelined_) {
      published_cv_.wait(l, [&] { return unpublished_ < in_flight_max_; });
    } else {
      WaitForStragglers(l);
    }
    // A follower's frame is a group alone: its bytes go exactly where the primary put them.
    while (!queue_.empty() &&
           (group.empty() ||
            (group_bytes + queue_.front()->bytes_estimate <= st_.db_options.group_bytes_max &&
             !IsReplica(queue_.front()) && !IsReplica(group.front())))) {
      group_bytes += queue_.front()->bytes_estimate;
      queue_.front()->taken = true;
      group.push_back(queue_.front());
      queue_.pop_front();
    }
    pending_bytes_ -= group_bytes;
    sticky = sticky_;
  }
  if (!sticky.ok()) {
    FailGroup(group, sticky);
    return true;
  }
  const bool force_roll = std::any_of(group.begin(), group.end(), [](const AppendRequest* r) {
    return std::holds_alternative<RollAppend>(r->op);
  });
  const LogFrame* frame =
      IsReplica(group.front()) ? std::get<ReplicaAppend>(group.front()->op).frame : nullptr;
  LogShipper* shipper = frame == nullptr ? st_.db_options.log_shipper.get() : nullptr;
  // A follower's frame is not pipelined (it goes where the primary put it, one at a time).
  const bool pipelined = pipelined_ && frame == nullptr;
  if (pipelined_ && frame != nullptr) {
    if (Status d = Drain(); !d.ok()) {
      FailGroup(group, d);
      return true;
    }
  }
  // A roll seals the active segment: every group in flight on it is published first.
  if (pipelined && roller_.WouldRoll(group_bytes, force_roll)) {
    if (Status d = Drain(); !d.ok()) {
      FailGroup(group, d);
      return true;
    }
  }
  const uint64_t id_before = st_.active->id(), end_before = st_.active->end();
  // Room first, without NamespaceState::mu: a roll's I/O never holds up readers.
  bool intact = false;  // a failure before anything of the group was assigned or written
  Status s = frame == nullptr                  ? roller_.MakeRoom(group_bytes, force_roll, &intact)
             : frame->kind == FrameKind::kRoll ? roller_.ApplyRoll(*frame, &intact)
                                               : roller_.Allocate(group_bytes, &intact);
  if (s.ok() && shipper != nullptr && st_.active->id() != id_before) {
    // The primary rolled: followers roll at the same point, to a segment with the same header.
    const auto header = st_.active->Range(0, format::kSegmentHeaderBytes);
    s = shipper->Ship(st_.entry.name, LogFrame{FrameKind::kRoll, st_.active->id(), end_before,
                                               std::string(header.data(), header.size()), true});
  }
  std::vector<GroupAssigner::Assigned> assigned;
  uint64_t start = 0, end = 0;
  if (s.ok()) {
    std::unique_lock l(st_.mu);
    start = st_.active->end();
    st_.active->Reserve(group_bytes);
    assigner_.AssignGroup(group, &assigned);
    end = st_.active->end();
  }
  if (frame != nullptr && end > start && !group.front()->status.ok()) {
    s = group.front()->status;  // a shipped frame's records written but not indexed: sticky
  }
  ActiveSegment* active = st_.active.get();  // only this leader replaces it
  bool need_sync = false;
  for (auto* r : group) need_sync |= r->sync && r->status.ok();
  last_synced_group_size_ = need_sync ? group.size() : 0;
  if (pipelined && s.ok() && end > start) {
    WriteInFlight(group, assigned, start, end, need_sync);
    return true;
  }
  if (pipelined && s.ok()) {
    // Nothing to write (a retry answered from the dedupe window, Db::Sync): its answer may
    // rest on groups still in flight, so they are published first; then it runs alone.
    if (Status d = Drain(); !d.ok()) {
      FailGroup(group, d);
      return true;
    }
  }
  if (s.ok() && end > start) {
    TLDB_KILL_POINT("commit.before_write");
    const auto bytes = active->Range(start, end);
    s = need_sync ? active->file()->WriteAndSync(start, bytes)
                  : active->file()->Write(start, bytes);
    st_.counters.groups++;
    st_.counters.bytes_written += end - start;
    if (need_sync) {
      st_.counters.syncs++;
      active->NoteSync();
    }
    if (s.ok()) TLDB_KILL_POINT(need_sync ? "commit.after_sync" : "commit.after_write");
    if (s.ok() && shipper != nullptr) {
      // Committed on a majority before anything of it is visible or acknowledged.
      s = shipper->Ship(st_.entry.name,
                        LogFrame{FrameKind::kRecords, active->id(), start,
                                 std::string(bytes.data(), bytes.size()), need_sync});
    }
  } else if (s.ok() && need_sync && (active->durable_end() < start || shipper != nullptr)) {
    // A retry (or Db::Sync) asked for kSync of buffered appends: synced here, and on a majority
    // of the replicas (an empty frame that asks them to sync what they have).
    if (active->durable_end() < start) {
      s = active->file()->Sync();
      st_.counters.syncs++;
      active->NoteSync();
    }
    if (s.ok() && shipper != nullptr) {
      s = shipper->Ship(st_.entry.name,
                        LogFrame{FrameKind::kRecords, active->id(), start, {}, true});
    }
    end = start;
  }
  if (!s.ok() && intact) {
    // No space could be reserved (or a shipped roll does not fit the log): nothing was
    // assigned, written or acknowledged, so the group fails (NoSpace is retriable) and the next
    // group tries again.
    if (!no_space_ && s.code() == Status::Code::kNoSpace) {
      st_.Event("namespace '" + st_.entry.name +
                "': no space, appends fail until space is freed: " + s.ToString());
    }
    no_space_ = s.code() == Status::Code::kNoSpace;
    FailGroup(group, s);
    return true;
  }
  if (!s.ok()) {
    MakeSticky(s);
    FailGroup(group, s);
    return true;
  }
  {
    std::unique_lock l(st_.mu);
    assigner_.Publish(assigned);
    st_.published_end = std::max(st_.published_end, end);
    if (need_sync) active->set_durable_end(std::max(active->durable_end(), end));
  }
  if (no_space_) {
    st_.Event("namespace '" + st_.entry.name + "': space reserved again, appends resume");
  }
  no_space_ = false;
  preparer_.MaybeZeroAhead(end);
  preparer_.MaybeWriteBack(end, active->durable_end());  // set by this leader alone here
  preparer_.MaybePrepareNext(end);
  for (AppendRequest* r : group) Finish(r);
  TLDB_KILL_POINT("commit.after_ack");
  return true;
}

void GroupCommit::MakeSticky(const Status& s) {
  {
    std::lock_guard l(mu_);
    if (!sticky_.ok()) return;
    sticky_ = s;
  }
  st_.Event("namespace '" + st_.entry.name +
            "': write or replication failed, log is now read-only: " + s.ToString());
}

void GroupCommit::WriteInFlight(std::vector<AppendRequest*>& group,
                                std::vector<GroupAssigner::Assigned>& assigned, uint64_t start,
                                uint64_t end, bool need_sync) {
  ActiveSegment* active = st_.active.get();
  TLDB_KILL_POINT("commit.before_write");
  // A plain write: its fdatasync runs on a sync thread while this leader goes on.
  Status s = active->file()->Write(start, active->Range(start, end));
  st_.counters.groups++;
  st_.counters.bytes_written += end - start;
  if (need_sync) {
    st_.counters.syncs++;
    active->NoteSync();  // the leader's count (SegmentPreparer reads it on this thread)
  }
  if (s.ok() && !need_sync) TLDB_KILL_POINT("commit.after_write");
  // Nothing more is written after a failed write; the groups in flight fail too.
  if (!s.ok()) MakeSticky(s);
  if (no_space_) {
    st_.Event("namespace '" + st_.entry.name + "': space reserved again, appends resume");
  }
  no_space_ = false;
  auto g = std::make_unique<InFlight>();
  g->group = std::move(group);
  g->assigned = std::move(assigned);
  g->active = active;
  g->end = end;
  g->need_sync = need_sync && s.ok();
  g->done = !g->need_sync;
  g->status = s;
  {
    std::lock_guard l(mu_);
    ++unpublished_;
    if (g->need_sync) {
      to_sync_.push_back(g.get());
      sync_cv_.notify_one();
    }
    in_flight_.push_back(std::move(g));
  }
  if (s.ok()) {
    preparer_.MaybeZeroAhead(end);
    uint64_t durable = 0;  // a sync thread's PublishInOrder moves it, under NamespaceState::mu
    {
      std::shared_lock sl(st_.mu);
      durable = active->durable_end();
    }
    preparer_.MaybeWriteBack(end, durable);
    preparer_.MaybePrepareNext(end);
  }
  PublishInOrder();  // a group without fdatasync may be publishable now
}

void GroupCommit::SyncLoop() {
  std::unique_lock l(mu_);
  for (;;) {
    sync_cv_.wait(l, [&] { return !to_sync_.empty() || syncers_stop_; });
    if (to_sync_.empty()) return;
    InFlight* g = to_sync_.front();
    to_sync_.pop_front();
    l.unlock();
    // Once, never retried: a failed fdatasync fails this group and every later one.
    Status s = g->active->file()->Sync();
    if (s.ok()) TLDB_KILL_POINT("commit.after_sync");
    l.lock();
    g->status = s;
    g->done = true;
    l.unlock();
    PublishInOrder();
    l.lock();
  }
}

void GroupCommit::PublishInOrder() {
  std::unique_lock l(mu_);
  if (publishing_) return;  // that thread will find this group done too
  publishing_ = true;
  while (!in_flight_.empty() && in_flight_.front()->done) {
    std::unique_ptr<InFlight> g = std::move(in_flight_.front());
    in_flight_.pop_front();
    const Status failed = g->status;  // this group's own write or fdatasync
    const Status earlier = sticky_;   // a failure of a group before it (or of a roll)
    l.unlock();
    if (!failed.ok()) MakeSticky(failed);
    if (failed.ok() && earlier.ok()) {
      {
        std::unique_lock sl(st_.mu);
        assigner_.Publish(g->assigned);
        st_.published_end = std::max(st_.published_end, g->end);
        if (g->need_sync) g->active->set_durable_end(std::max(g->active->durable_end(), g->end));
      }
      for (AppendRequest* r : g->group) Finish(r);
      TLDB_KILL_POINT("commit.after_ack");
    } else {
      FailGroup(g->group, failed.ok() ? earlier : failed);
    }
    l.lock();
    --unpublished_;
    published_cv_.notify_all();
  }
  publishing_ = false;
}

Status GroupCommit::Drain() {
  std::unique_lock l(mu_);
  published_cv_.wait(l, [&] { return unpublished_ == 0; });
  return sticky_;
}

void GroupCommit::FailGroup(const std::vector<AppendRequest*>& group, const Status& s) {
  for (AppendRequest* r : group) {
    if (r->status.ok()) {
      r->status = s;
      r->results.clear();
    }
    Finish(r);
  }
}

}  // namespace tldb
