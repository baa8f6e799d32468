// NamespaceLog write path: queueing, leader election, group assembly, group commit, sealing.
#include <algorithm>

#include "log/file_names.h"
#include "log/segment_header.h"
#include "store/namespace_log.h"
#include "util/check.h"
#include "util/kill_point.h"

namespace tldb {
namespace {

void Finish(AppendRequest* r) {
  r->completed = true;
  if (r->on_done) {
    r->on_done(r);  // may free r
  } else {
    r->done_sem.release();  // the waiter may free r from here on
  }
}

}  // namespace

void NamespaceLog::Submit(AppendRequest* r) {
  const bool blocking = !r->on_done;
  {
    std::unique_lock l(q_mu_);
    Status reject;
    if (stopping_) {
      reject = Status::Closed("namespace '" + entry_.name + "' is closed");
    } else if (!sticky_.ok()) {
      reject = sticky_;
    } else if (!queue_.empty() &&
               pending_bytes_ + r->bytes_estimate > db_options_.pending_bytes_max) {
      reject = Status::Busy("namespace '" + entry_.name + "': too many pending appends");
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
      l.unlock();
      if (blocking) r->done_sem.acquire();
      return;
    }
    leader_busy_ = true;
    if (!blocking) {
      handoff_ = true;
      committer_cv_.notify_one();
      return;
    }
  }
  LeadUntil(r);
  r->done_sem.acquire();
}

void NamespaceLog::LeadUntil(AppendRequest* mine) {
  while (!mine->completed) {
    TLDB_CHECK(RunOneGroup());
  }
  std::lock_guard l(q_mu_);
  if (queue_.empty()) {
    leader_busy_ = false;
  } else {
    handoff_ = true;  // let the committer thread lead the rest: this caller returns now
    committer_cv_.notify_one();
  }
}

void NamespaceLog::CommitterLoop() {
  for (;;) {
    {
      std::unique_lock l(q_mu_);
      committer_cv_.wait(l, [&] { return handoff_ || stopping_; });
      if (!handoff_) return;  // stopping, and nobody handed us work
      handoff_ = false;
    }
    while (RunOneGroup()) {
    }
  }
}

// After a synced group of n appends, the writers it released need some microseconds to send
// their next append. Without waiting, the next group is cut before they arrive and groups
// settle at about half the writers (measured: docs/benchmarks.md), doubling the fdatasyncs per
// append. So the leader waits up to group_commit_wait_us for the queue to reach n again.
void NamespaceLog::WaitForStragglers(std::unique_lock<std::mutex>& l) {
  const size_t want = last_synced_group_size_;
  if (want < 2 || queue_.size() >= want || db_options_.group_commit_wait_us == 0) return;
  leader_waiting_ = true;
  queue_cv_.wait_for(l, std::chrono::microseconds(db_options_.group_commit_wait_us),
                     [&] { return queue_.size() >= want || stopping_; });
  leader_waiting_ = false;
}

bool NamespaceLog::RunOneGroup() {
  std::vector<AppendRequest*> group;
  uint64_t group_bytes = 0;
  Status sticky;
  {
    std::unique_lock l(q_mu_);
    if (queue_.empty()) {
      leader_busy_ = false;
      return false;
    }
    WaitForStragglers(l);
    while (!queue_.empty() && (group.empty() || group_bytes + queue_.front()->bytes_estimate <=
                                                    db_options_.group_bytes_max)) {
      group_bytes += queue_.front()->bytes_estimate;
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
  std::vector<Assigned> assigned;
  uint64_t start = 0, end = 0;
  Status s;
  bool intact = false;  // a failure before anything of the group was assigned or written
  {
    std::unique_lock l(mu_);
    const bool force_roll =
        std::any_of(group.begin(), group.end(), [](const AppendRequest* r) { return r->roll; });
    s = MakeRoom(group_bytes, force_roll, &intact);
    if (s.ok()) {
      start = active_->end();
      active_->Reserve(group_bytes);
      AssignGroup(group, &assigned);
      end = active_->end();
    }
  }
  bool need_sync = false;
  for (auto* r : group) need_sync |= r->sync && r->status.ok();
  last_synced_group_size_ = need_sync ? group.size() : 0;
  if (s.ok() && end > start) {
    TLDB_KILL_POINT("commit.before_write");
    const auto bytes = active_->Range(start, end);
    s = need_sync ? active_->file()->WriteAndSync(start, bytes)
                  : active_->file()->Write(start, bytes);
    counters_.groups++;
    counters_.bytes_written += end - start;
    if (need_sync) {
      counters_.syncs++;
      active_->NoteSync();
    }
    if (s.ok()) TLDB_KILL_POINT(need_sync ? "commit.after_sync" : "commit.after_write");
  } else if (s.ok() && need_sync && active_->durable_end() < start) {
    s = active_->file()->Sync();  // a retry asked for kSync of an earlier buffered append
    counters_.syncs++;
    active_->NoteSync();
    end = start;
  }
  if (!s.ok() && intact) {
    // No space could be reserved: nothing was assigned, written or acknowledged, so the group
    // fails with NoSpace (retriable) and the next group tries again.
    if (!no_space_ && db_options_.on_event) {
      db_options_.on_event("namespace '" + entry_.name +
                           "': no space, appends fail until space is freed: " + s.ToString());
    }
    no_space_ = true;
    FailGroup(group, s);
    return true;
  }
  if (!s.ok()) {
    {
      std::lock_guard l(q_mu_);
      if (sticky_.ok()) sticky_ = s;
    }
    if (db_options_.on_event) {
      db_options_.on_event("namespace '" + entry_.name +
                           "': write failed, log is now read-only: " + s.ToString());
    }
    FailGroup(group, s);
    return true;
  }
  {
    std::unique_lock l(mu_);
    for (const Assigned& a : assigned) {
      if (a.type != 0) {
        ApplyMutation(a.timeline, static_cast<format::RecordType>(a.type), a.seq,
                      static_cast<uint32_t>(active_->id()), a.offset);
      } else {
        table_.state(a.timeline).Publish(a.seq);
      }
    }
    published_end_ = std::max(published_end_, end);
    if (need_sync) active_->set_durable_end(std::max(active_->durable_end(), end));
  }
  if (no_space_ && db_options_.on_event) {
    db_options_.on_event("namespace '" + entry_.name + "': space reserved again, appends resume");
  }
  no_space_ = false;
  MaybePrepareNext(end);
  Complete(group);
  TLDB_KILL_POINT("commit.after_ack");
  return true;
}

void NamespaceLog::AssignGroup(std::vector<AppendRequest*>& group,
                               std::vector<Assigned>* assigned) {
  for (AppendRequest* r : group) r->status = Assign(r, assigned);
}

Status NamespaceLog::Assign(AppendRequest* r, std::vector<Assigned>* assigned) {
  if (r->roll) {
    r->results = {{0, 0, false}};
    return Status::Ok();
  }
  if (r->is_mutation) return AssignMutation(r, assigned);
  if (r->import_seq != 0) {
    bool done = false;
    TLDB_RETURN_IF_ERROR(CheckImport(r, &done));
    if (done) return Status::Ok();
  } else if (TryDedupe(r)) {
    return Status::Ok();
  }
  TLDB_RETURN_IF_ERROR(CheckExpected(r));
  const TimestampMs now = clock_->NowMs();
  EncodeInto(r, assigned, now);
  return Status::Ok();
}

Status NamespaceLog::CheckExpected(const AppendRequest* r) {
  if (!r->expected_last_seq || r->fanout) return Status::Ok();
  const uint32_t id = table_.Find(r->key, KeyHash(r->key));
  const Seq last = id == TimelineTable::kNone ? 0 : table_.state(id).last_seq;
  if (last != *r->expected_last_seq) {
    return Status::Conflict("timeline '" + std::string(r->key) + "': expected last seq " +
                            std::to_string(*r->expected_last_seq) + ", found " +
                            std::to_string(last));
  }
  return Status::Ok();
}

Status NamespaceLog::CheckImport(AppendRequest* r, bool* done) {
  const uint32_t id = table_.Find(r->key, KeyHash(r->key));
  const Seq last = id == TimelineTable::kNone ? 0 : table_.state(id).last_seq;
  if (r->import_seq > last) {
    if (last != 0 && r->import_seq != last + 1) {
      return Status::InvalidArgument("import of seq " + std::to_string(r->import_seq) +
                                     " into timeline '" + std::string(r->key) +
                                     "' would leave a gap after seq " + std::to_string(last));
    }
    return Status::Ok();
  }
  RecordView rec;
  Status s = LocateLocked(id, r->import_seq, &rec);
  if (s.IsNotFound() || s.code() == Status::Code::kDeleted) {
    // The timeline held this SeqId and it is gone (deleted or expired): importing it again
    // must not bring it back. Reported as already present.
    r->results = {{r->import_seq, r->import_ts, true}};
    *done = true;
    return Status::Ok();
  }
  TLDB_RETURN_IF_ERROR(s);
  if (rec.payload != r->payload || rec.client_msg_id != r->cmid) {
    return Status::Conflict("timeline '" + std::string(r->key) + "' already holds another seq " +
                            std::to_string(r->import_seq));
  }
  r->results = {{r->import_seq, rec.timestamp_ms, true}};
  *done = true;
  return Status::Ok();
}

bool NamespaceLog::TryDedupe(AppendRequest* r) {
  if (r->cmid.empty()) return false;
  const std::string_view key0 = r->fanout ? r->targets[0] : r->key;
  const uint64_t key_hash = KeyHash(key0);
  const DedupeWindow::Entry* e = dedupe_.Find(DedupeHash(key_hash, r->cmid));
  if (e == nullptr || table_.key(e->timeline) != key0) return false;
  const TimelineState& st = table_.state(e->timeline);
  if (st.last_seq - e->seq >= db_options_.dedupe_per_timeline_max) return false;
  if (clock_->NowMs() - e->ts > static_cast<int64_t>(db_options_.dedupe_age_ms)) return false;
  RecordView rec;
  if (!LocateLocked(e->timeline, e->seq, &rec).ok() || rec.client_msg_id != r->cmid) return false;
  const bool rec_fanout = rec.type == format::RecordType::kFanout;
  if (rec_fanout != r->fanout) return false;
  std::vector<AppendResult> results;
  for (std::string_view k : r->fanout ? r->targets : std::vector<std::string_view>{r->key}) {
    Seq seq = 0;
    if (!RecordSeqFor(rec, k, &seq)) return false;  // same id, other targets: not a retry
    results.push_back({seq, rec.timestamp_ms, true});
  }
  r->results = std::move(results);
  counters_.deduplicated++;
  return true;
}

void NamespaceLog::EncodeInto(AppendRequest* r, std::vector<Assigned>* assigned, TimestampMs now) {
  const uint64_t offset = active_->end();
  const auto synced = static_cast<uint32_t>(active_->durable_end());
  if (!r->fanout) {
    const uint32_t id = table_.FindOrInsert(r->key, KeyHash(r->key));
    TimelineState& st = table_.state(id);
    const Seq seq = r->import_seq != 0 ? r->import_seq : st.last_seq + 1;
    const TimestampMs ts = r->import_seq != 0 ? r->import_ts : std::max(now, st.last_ts);
    const size_t n = EncodedMessageBytes(r->key, r->cmid, r->payload);
    EncodeMessage(active_->Reserve(n), active_->id(), offset, synced, seq, ts, r->key, r->cmid,
                  r->payload);
    active_->Commit(n);
    IndexRecord(id, seq, offset, ts, r->cmid);
    assigned->push_back({id, seq});
    r->results = {{seq, ts, false}};
    counters_.appends++;
    return;
  }
  std::vector<uint32_t> ids;
  std::vector<FanoutTarget> targets;
  TimestampMs ts = now;
  for (std::string_view k : r->targets) {
    ids.push_back(table_.FindOrInsert(k, KeyHash(k)));
    const TimelineState& st = table_.state(ids.back());
    targets.push_back({k, st.last_seq + 1});
    ts = std::max(ts, st.last_ts);
  }
  const size_t n = EncodedFanoutBytes(targets, r->cmid, r->payload);
  EncodeFanout(active_->Reserve(n), active_->id(), offset, synced, targets, ts, r->cmid,
               r->payload);
  active_->Commit(n);
  r->results.clear();
  for (size_t i = 0; i < ids.size(); ++i) {
    IndexRecord(ids[i], targets[i].seq, offset, ts, i == 0 ? r->cmid : std::string_view{});
    assigned->push_back({ids[i], targets[i].seq});
    r->results.push_back({targets[i].seq, ts, false});
  }
  counters_.appends += ids.size();
}

void NamespaceLog::IndexRecord(uint32_t timeline, Seq seq, uint64_t offset, TimestampMs ts,
                               std::string_view cmid) {
  TimelineState& st = table_.state(timeline);
  TLDB_CHECK(st.active_slot == kNoSlot ? seq > st.last_seq : seq == st.last_seq + 1);
  if (st.active_slot == kNoSlot) st.active_slot = active_->AddSlot(timeline, seq);
  ActiveSegment::Slot& slot = active_->slot(st.active_slot);
  TLDB_CHECK(slot.first_seq() + slot.size() == seq);
  slot.push_back(static_cast<uint32_t>(offset));
  st.unpublished += static_cast<uint32_t>(seq - st.last_seq);  // visible_seq() stays put
  st.last_seq = seq;
  st.last_ts = ts;
  active_->NoteTimestamp(ts);
  if (!cmid.empty()) {
    const uint64_t h = DedupeHash(KeyHash(table_.key(timeline)), cmid);
    dedupe_.Insert(h, {timeline, seq, ts});
    active_->dedupe_records().push_back({timeline, h, seq, ts});
  }
}

void NamespaceLog::Complete(std::vector<AppendRequest*>& group) {
  for (AppendRequest* r : group) Finish(r);
}

void NamespaceLog::FailGroup(std::vector<AppendRequest*>& group, const Status& s) {
  for (AppendRequest* r : group) {
    if (r->status.ok()) {
      r->status = s;
      r->results.clear();
    }
    Finish(r);
  }
}

Status NamespaceLog::MakeRoom(size_t group_bytes, bool force, bool* intact) {
  *intact = false;
  const uint64_t end = active_->end();
  if (end > format::kSegmentHeaderBytes &&
      (force || end + group_bytes > segment_bytes_max_.load())) {
    // The next segment first: if there is no room for it, the active segment stays as it is.
    Status s = ReserveNext(active_->id() + 1);
    if (!s.ok()) {
      *intact = s.code() == Status::Code::kNoSpace;
      return s;
    }
    TLDB_RETURN_IF_ERROR(Seal(intact));
    TLDB_RETURN_IF_ERROR(PromoteNext());
  }
  // A segment from ReserveNext has all its blocks; a recovered one may not (it was created
  // before, or prepared for a smaller segment_bytes_max): they are allocated here, once.
  const uint64_t want = active_->end() + group_bytes;
  if (want > active_->allocated_end()) {
    const uint64_t from = active_->allocated_end();
    const uint64_t to = std::max<uint64_t>(want, segment_bytes_max_.load());
    Status s = active_->file()->Allocate(from, to - from);
    if (!s.ok()) {
      *intact = s.code() == Status::Code::kNoSpace;  // blocks past the data: nothing changed
      return s;
    }
    active_->set_allocated_end(to);
  }
  return Status::Ok();
}

Status NamespaceLog::Seal(bool* intact) {
  *intact = false;
  ActiveSegment& a = *active_;
  const uint64_t id = a.id();
  if (a.durable_end() < a.end()) {
    TLDB_RETURN_IF_ERROR(a.file()->Sync());  // a failed fsync of records: sticky
    counters_.syncs++;
    a.set_durable_end(a.end());
    TLDB_KILL_POINT("roll.after_seal_sync");
  }
  SegmentIndexBuilder b(entry_.id, id);
  for (const auto& slot : a.slots()) {
    // The active segment holds each of its timelines' newest records, so the timeline's last
    // timestamp is this segment's last timestamp for it.
    const std::string_view key = table_.key(slot.timeline());
    b.AddTimeline(key, KeyHash(key), slot.first_seq(), table_.state(slot.timeline()).last_ts,
                  slot.offsets());
  }
  for (const auto& m : a.mutation_records()) {
    const std::string_view key = table_.key(m.timeline);
    b.AddMutation(key, KeyHash(key), m.type, m.seq, m.offset);
  }
  for (const auto& d : a.dedupe_records()) {
    b.AddDedupe(table_.key(d.timeline), d.cmid_hash, d.seq, d.ts);
  }
  const std::string idx = b.Finish(static_cast<uint32_t>(a.end()), a.min_ts(), a.max_ts());
  const std::string idx_path = IndexFileName(dir_, id);
  if (Status s = fs_->WriteFileAtomic(idx_path, idx); !s.ok()) {
    // Until the index is renamed into place it is only "<id>.idx.tmp", which recovery deletes:
    // the segment is still the active one, on disk as in memory, and may take more records.
    // Once the index exists under its name the segment is sealed for recovery: sticky.
    auto exists = fs_->Exists(idx_path);
    if (s.code() == Status::Code::kNoSpace && exists.ok() && !*exists) {
      (void)fs_->Remove(idx_path + ".tmp");  // WriteFileAtomic's temporary: free its blocks
      *intact = true;
    }
    return s;
  }
  TLDB_KILL_POINT("roll.after_index");
  // A prepared segment ends in zeros, and a reserved one in allocated blocks; cut them so a
  // sealed file is exactly its records. Not synced: zeros that come back after a crash are
  // ignored by recovery.
  TLDB_RETURN_IF_ERROR(a.file()->Truncate(a.end()));
  TLDB_RETURN_IF_ERROR(a.file()->Close());
  auto seg = std::make_unique<SealedSegment>();
  seg->id = id;
  TLDB_ASSIGN_OR_RETURN(seg->data, fs_->Map(SegmentFileName(dir_, id)));
  seg->data->AdviseRandom();
  TLDB_ASSIGN_OR_RETURN(seg->index_file, fs_->Map(idx_path));
  TLDB_RETURN_IF_ERROR(seg->index.Open(seg->index_file->data(), entry_.id, id, SegmentName(id)));
  seg->bytes = seg->data->data().size() + seg->index_file->data().size();
  for (const auto& slot : a.slots()) {
    TimelineState& st = table_.state(slot.timeline());
    st.segs.Append(static_cast<uint32_t>(id));
    st.active_slot = kNoSlot;
  }
  sealed_[id] = std::move(seg);
  active_.reset();
  if (on_seal_) on_seal_();
  return Status::Ok();
}

namespace {
std::string EncodeHeader(uint32_t namespace_id, uint64_t id, TimestampMs now) {
  SegmentHeader h;
  h.namespace_id = namespace_id;
  h.segment_id = id;
  h.created_ms = now;
  char header[format::kSegmentHeaderBytes];
  EncodeSegmentHeader(h, header);
  return std::string(header, sizeof header);
}
}  // namespace

Status NamespaceLog::CreateActive(uint64_t id) {
  TLDB_CHECK(id < (uint64_t{1} << 32));  // SegList keeps 32-bit ids
  const std::string path = SegmentFileName(dir_, id);
  TLDB_ASSIGN_OR_RETURN(auto file, fs_->OpenWritable(path, /*create=*/true, /*exclusive=*/false));
  TLDB_RETURN_IF_ERROR(file->Truncate(0));
  const std::string header = EncodeHeader(entry_.id, id, clock_->NowMs());
  TLDB_RETURN_IF_ERROR(file->WriteAndSync(0, header));
  TLDB_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  TLDB_KILL_POINT("roll.after_create");
  active_ = std::make_unique<ActiveSegment>(id, std::move(file), header);
  published_end_ = active_->end();
  return Status::Ok();
}

// Nothing of the log depends on the reserved file until PromoteNext renames it: any failure
// here discards it (a *.tmp, also deleted by recovery), and a retry starts a new file from
// scratch, so no fsync is ever retried on bytes that a failed one may have dropped.
Status NamespaceLog::ReserveNext(uint64_t id) {
  TLDB_CHECK(id < (uint64_t{1} << 32));     // SegList keeps 32-bit ids
  if (next_.id == id) return Status::Ok();  // reserved by an earlier roll whose seal failed
  DiscardNext();
  next_.id = id;
  next_.prepared = TakePrepared(id);  // blocks already written: fdatasyncs will overwrite them
  next_.tmp_path = next_.prepared ? PreparedName(id) : SegmentFileName(dir_, id) + ".new.tmp";
  next_.allocated = segment_bytes_max_.load();
  next_.header = EncodeHeader(entry_.id, id, clock_->NowMs());
  Status s = [&]() -> Status {
    TLDB_ASSIGN_OR_RETURN(next_.file,
                          fs_->OpenWritable(next_.tmp_path, !next_.prepared, /*exclusive=*/false));
    if (!next_.prepared) TLDB_RETURN_IF_ERROR(next_.file->Truncate(0));
    TLDB_RETURN_IF_ERROR(next_.file->Allocate(0, next_.allocated));
    return next_.file->WriteAndSync(0, next_.header);
  }();
  if (!s.ok()) DiscardNext();
  return s;
}

Status NamespaceLog::PromoteNext() {
  TLDB_CHECK(next_.id != 0 && next_.file);
  if (next_.prepared) TLDB_KILL_POINT("prepare.before_rename");
  TLDB_RETURN_IF_ERROR(fs_->Rename(next_.tmp_path, SegmentFileName(dir_, next_.id)));
  TLDB_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  TLDB_KILL_POINT("roll.after_create");
  active_ = std::make_unique<ActiveSegment>(next_.id, std::move(next_.file), next_.header);
  active_->set_allocated_end(next_.allocated);
  published_end_ = active_->end();
  next_ = NextSegment{};
  return Status::Ok();
}

void NamespaceLog::DiscardNext() {
  if (next_.id == 0) return;
  if (next_.file) (void)next_.file->Close();
  (void)fs_->Remove(next_.tmp_path);  // frees its blocks; recovery deletes a *.tmp left over
  next_ = NextSegment{};
}

}  // namespace tldb
