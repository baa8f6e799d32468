#include "store/group_assigner.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>

#include "util/check.h"

namespace tldb {

using format::RecordType;

namespace {
std::string Quote(std::string_view key) {
  return "timeline '" + std::string(key) + "'";
}

// The largest SeqId: a timeline that holds it (imported) takes no more appends.
constexpr Seq kSeqMax = ~Seq{0};

Status SeqSpaceSpent(std::string_view key) {
  return Status::InvalidArgument(Quote(key) + " holds the largest SeqId (" +
                                 std::to_string(kSeqMax) + "): it takes no more appends");
}
}  // namespace

void GroupAssigner::AssignGroup(const std::vector<AppendRequest*>& group,
                                std::vector<Assigned>* assigned) {
  for (AppendRequest* r : group) {
    r->status = std::visit([&](auto& op) { return Assign(r, op, assigned); }, r->op);
  }
}

void GroupAssigner::Publish(const std::vector<Assigned>& assigned) {
  for (const Assigned& a : assigned) {
    if (const auto* m = std::get_if<PublishMutation>(&a)) {
      st_.rules.Apply(m->timeline, m->type, m->seq, static_cast<uint32_t>(st_.active->id()),
                      m->offset);
    } else {
      const auto& p = std::get<PublishSeq>(a);
      st_.table.state(p.timeline).Publish(p.seq);
    }
  }
}

Seq GroupAssigner::LastSeqOf(std::string_view key, uint64_t key_hash) const {
  const uint32_t id = st_.table.Find(key, key_hash);
  return id == TimelineTable::kNone ? 0 : st_.table.state(id).last_seq;
}

Status GroupAssigner::Assign(AppendRequest* r, RollAppend&, std::vector<Assigned>*) {
  r->results = {{0, 0, false}};
  return Status::Ok();
}

Status GroupAssigner::Assign(AppendRequest* r, FlushAppend&, std::vector<Assigned>*) {
  r->results = {{0, 0, false}};
  return Status::Ok();
}

// A follower's copy of a shipped frame: the bytes go where the primary wrote them, after every
// record was checked (checksum and position), then each record is indexed as recovery would.
// A roll frame was carried out before the group was assigned (SegmentRoller::ApplyRoll).
Status GroupAssigner::Assign(AppendRequest* r, ReplicaAppend& a, std::vector<Assigned>* out) {
  const LogFrame& f = *a.frame;
  r->results = {{0, 0, false}};
  if (f.kind == FrameKind::kRoll) return Status::Ok();
  ActiveSegment& act = *st_.active;
  if (f.segment != act.id() || f.offset != act.end()) {
    return Status::InvalidArgument("frame at " + LogPosition{f.segment, f.offset}.ToString() +
                                   " does not continue the log, which ends at " +
                                   LogPosition{act.id(), act.end()}.ToString());
  }
  for (uint64_t at = 0; at < f.bytes.size();) {
    RecordView rec;
    const std::span<const char> rest(f.bytes.data() + at, f.bytes.size() - at);
    if (DecodeRecord(rest, f.segment, f.offset + at, &rec) != DecodeOutcome::kOk) {
      return Status::Corruption("shipped frame at " + LogPosition{f.segment, f.offset}.ToString() +
                                ": no valid record at offset " + std::to_string(f.offset + at));
    }
    at += rec.length;
  }
  std::memcpy(act.Reserve(f.bytes.size()), f.bytes.data(), f.bytes.size());
  act.Commit(f.bytes.size());
  for (uint64_t off = f.offset; off < act.end();) {
    RecordView rec;
    TLDB_CHECK(DecodeRecord(act.At(off), act.id(), off, &rec) == DecodeOutcome::kOk);
    TLDB_RETURN_IF_ERROR(IndexDecoded(rec, off, out));
    off += rec.length;
  }
  return Status::Ok();
}

Status GroupAssigner::IndexDecoded(const RecordView& r, uint64_t offset,
                                   std::vector<Assigned>* out) {
  ActiveSegment& act = *st_.active;
  auto one = [&](std::string_view key, Seq seq, std::string_view cmid) -> Status {
    const uint64_t key_hash = KeyHash(key);
    const uint32_t id = st_.table.FindOrInsert(key, key_hash);
    const TimelineState& ts = st_.table.state(id);
    // Within the segment a timeline's SeqIds are consecutive; its first one here only has to
    // be above every earlier one (older records may have expired).
    if (ts.active_slot == kNoSlot ? seq <= ts.last_seq : seq != ts.last_seq + 1) {
      return Status::Corruption(st_.SegmentName(act.id()) + " offset " + std::to_string(offset) +
                                ": timeline '" + std::string(key) + "' has seq " +
                                std::to_string(seq) + " after " + std::to_string(ts.last_seq));
    }
    IndexRecord(id, key_hash, seq, offset, r.timestamp_ms, cmid);
    out->push_back(PublishSeq{id, seq});
    return Status::Ok();
  };
  if (r.type == RecordType::kMessage) return one(r.key, r.seq, r.client_msg_id);
  if (r.type != RecordType::kFanout) {  // recall, edit, trim
    const uint32_t id = st_.table.FindOrInsert(r.key, KeyHash(r.key));
    const auto off32 = static_cast<uint32_t>(offset);
    act.NoteTimestamp(r.timestamp_ms);
    act.mutation_records().push_back({id, static_cast<uint8_t>(r.type), r.seq, off32});
    out->push_back(PublishMutation{id, r.type, r.seq, off32});
    return Status::Ok();
  }
  Status s;
  ForEachTarget(r, [&](const FanoutTarget& t) {
    if (s.ok()) s = one(t.key, t.seq, r.client_msg_id);
  });
  return s;
}

Status GroupAssigner::Assign(AppendRequest* r, MessageAppend& a, std::vector<Assigned>* out) {
  const uint64_t key_hash = KeyHash(a.key);
  if (!a.cmid.empty()) {
    const std::string_view keys[] = {a.key};
    const uint64_t hashes[] = {key_hash};
    bool retry = false;
    TLDB_RETURN_IF_ERROR(TryDedupe(r, a.cmid, keys, hashes, a.payload, /*fanout=*/false, &retry));
    if (retry) return Status::Ok();
  }
  if (a.expected_last_seq) {
    const Seq last = LastSeqOf(a.key, key_hash);
    if (last != *a.expected_last_seq) {
      return Status::Conflict(Quote(a.key) + ": expected last seq " +
                              std::to_string(*a.expected_last_seq) + ", found " +
                              std::to_string(last));
    }
  }
  const uint32_t id = st_.table.FindOrInsert(a.key, key_hash);
  const TimelineState& ts = st_.table.state(id);
  if (ts.last_seq == kSeqMax) return SeqSpaceSpent(a.key);  // an existing timeline: nothing added
  const Seq seq = ts.last_seq + 1;
  const TimestampMs now = std::max(st_.clock->NowMs(), ts.last_ts);
  ActiveSegment& act = *st_.active;
  const uint64_t offset = act.end();
  const size_t n = EncodedMessageBytes(a.key, a.cmid, a.payload);
  EncodeMessage(act.Reserve(n), act.id(), offset, synced(), seq, now, a.key, a.cmid, a.payload);
  act.Commit(n);
  IndexRecord(id, key_hash, seq, offset, now, a.cmid);
  out->push_back(PublishSeq{id, seq});
  r->results = {{seq, now, false}};
  st_.counters.appends++;
  return Status::Ok();
}

Status GroupAssigner::Assign(AppendRequest* r, ImportAppend& a, std::vector<Assigned>* out) {
  const uint64_t key_hash = KeyHash(a.key);
  const uint32_t found = st_.table.Find(a.key, key_hash);
  const Seq last = found == TimelineTable::kNone ? 0 : st_.table.state(found).last_seq;
  if (a.seq <= last) {
    RecordView rec;
    Status s = reader_.LocateStored(found, a.seq, &rec);
    if (s.IsNotFound() || s.code() == Status::Code::kDeleted) {
      // The timeline held this SeqId and it is gone (deleted or expired): importing it again
      // must not bring it back. Reported as already present.
      r->results = {{a.seq, a.ts, true}};
      return Status::Ok();
    }
    TLDB_RETURN_IF_ERROR(s);
    if (rec.payload != a.payload || rec.client_msg_id != a.cmid) {
      return Status::Conflict(Quote(a.key) + " already holds another seq " + std::to_string(a.seq));
    }
    r->results = {{a.seq, rec.timestamp_ms, true}};
    return Status::Ok();
  }
  if (last != 0 && a.seq != last + 1) {
    return Status::InvalidArgument("import of seq " + std::to_string(a.seq) + " into " +
                                   Quote(a.key) + " would leave a gap after seq " +
                                   std::to_string(last));
  }
  const uint32_t id = st_.table.FindOrInsert(a.key, key_hash);
  ActiveSegment& act = *st_.active;
  const uint64_t offset = act.end();
  const size_t n = EncodedMessageBytes(a.key, a.cmid, a.payload);
  EncodeMessage(act.Reserve(n), act.id(), offset, synced(), a.seq, a.ts, a.key, a.cmid, a.payload);
  act.Commit(n);
  IndexRecord(id, key_hash, a.seq, offset, a.ts, a.cmid);
  out->push_back(PublishSeq{id, a.seq});
  r->results = {{a.seq, a.ts, false}};
  st_.counters.appends++;
  return Status::Ok();
}

Status GroupAssigner::Assign(AppendRequest* r, FanoutAppend& a, std::vector<Assigned>* out) {
  if (!a.cmid.empty()) {
    bool retry = false;
    TLDB_RETURN_IF_ERROR(
        TryDedupe(r, a.cmid, a.targets, a.key_hashes, a.payload, /*fanout=*/true, &retry));
    if (retry) return Status::Ok();
  }
  TLDB_CHECK(a.key_hashes.size() == a.targets.size());
  std::vector<uint32_t> ids;
  std::vector<FanoutTarget> targets;
  ids.reserve(a.targets.size());
  targets.reserve(a.targets.size());
  TimestampMs ts = st_.clock->NowMs();
  // Each target's table slot, state and key are fetched some targets ahead of its turn (three
  // cache misses each otherwise, the most of a fan-out's time in the leader).
  const size_t n_targets = a.targets.size();
  const std::vector<uint64_t>& h = a.key_hashes;
  for (size_t i = 0; i < std::min<size_t>(12, n_targets); ++i) st_.table.PrefetchSlot(h[i]);
  for (size_t i = 0; i < n_targets; ++i) {
    if (i + 12 < n_targets) st_.table.PrefetchSlot(h[i + 12]);
    if (i + 6 < n_targets) st_.table.PrefetchState(h[i + 6]);
    if (i + 3 < n_targets) st_.table.PrefetchKey(h[i + 3]);
    const std::string_view k = a.targets[i];
    ids.push_back(st_.table.FindOrInsert(k, a.key_hashes[i]));
    const TimelineState& s = st_.table.state(ids.back());
    if (s.last_seq == kSeqMax) {
      // Refused before anything is written. Targets earlier in the list that this call added to
      // the table (no message, no segment, no slot) leave it again: no reader saw them, since
      // the group is assigned under NamespaceState::mu held exclusively.
      for (size_t j = 0; j + 1 < ids.size(); ++j) {
        const TimelineState& t = st_.table.state(ids[j]);
        if (st_.table.Find(a.targets[j], a.key_hashes[j]) == ids[j] && t.last_seq == 0 &&
            t.holds_no_records()) {
          st_.table.Erase(ids[j]);
        }
      }
      return SeqSpaceSpent(k);
    }
    targets.push_back({k, s.last_seq + 1});
    ts = std::max(ts, s.last_ts);
  }
  ActiveSegment& act = *st_.active;
  const uint64_t offset = act.end();
  const size_t n = EncodedFanoutBytes(targets, a.cmid, a.payload);
  EncodeFanout(act.Reserve(n), act.id(), offset, synced(), targets, ts, a.cmid, a.payload);
  act.Commit(n);
  r->results.clear();
  r->results.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    // Each target's slot in the active segment, then the end of its offsets, fetched ahead.
    if (i + 8 < ids.size()) act.PrefetchSlot(st_.table.state(ids[i + 8]).active_slot);
    if (i + 4 < ids.size()) act.PrefetchSlotEnd(st_.table.state(ids[i + 4]).active_slot);
    IndexRecord(ids[i], a.key_hashes[i], targets[i].seq, offset, ts, a.cmid);
    out->push_back(PublishSeq{ids[i], targets[i].seq});
    r->results.push_back({targets[i].seq, ts, false});
  }
  st_.counters.appends += ids.size();
  return Status::Ok();
}

// Maintenance records travel through the group commit like appends (same durability, same
// order), as records of their own type; their effect is applied by TimelineRules when the group
// is published (and replayed in log order at recovery).
Status GroupAssigner::Assign(AppendRequest* r, MutationAppend& a, std::vector<Assigned>* out) {
  const uint32_t id = st_.table.Find(a.key, KeyHash(a.key));
  if (id == TimelineTable::kNone) return Status::NotFound(Quote(a.key) + " does not exist");
  const TimelineState& ts = st_.table.state(id);
  const Seq last = ts.last_seq;
  const MutationOverlay& ov = st_.rules.overlay();
  Seq seq = a.target_seq, result = a.target_seq;
  RecordType type = RecordType::kTrim;
  bool noop = false;
  RecordView base;
  switch (a.kind) {
    case MutationKind::kRecall:
    case MutationKind::kEdit: {
      if (seq > last) return Status::NotFound(Quote(a.key) + " has no seq " + std::to_string(seq));
      Status s = reader_.LocateLive(id, seq, st_.Limits(), &base);
      if (a.kind == MutationKind::kRecall) {
        if (!s.ok() && s.code() != Status::Code::kDeleted) return s;
        noop = !s.ok();  // already deleted: a retried recall
        type = RecordType::kRecall;
      } else {
        TLDB_RETURN_IF_ERROR(s);  // an edit of a deleted message is refused (Deleted)
        noop = base.payload == a.payload;
        type = RecordType::kEdit;
      }
      break;
    }
    case MutationKind::kTrim:
      if (seq > last && seq - 1 > last) {  // seq > last + 1, without wrapping at kSeqMax
        return Status::InvalidArgument("cannot trim " + Quote(a.key) + " below seq " +
                                       std::to_string(seq) + ": its last seq is " +
                                       std::to_string(last));
      }
      noop = seq <= ov.TrimmedBelow(id);
      if (noop) result = ov.TrimmedBelow(id);  // the first seq kept, as for a trim written now
      break;
    case MutationKind::kDeleteTimeline: {
      const Seq through = seq == 0 ? last : seq;
      if (through > last) {
        return Status::InvalidArgument("cannot delete " + Quote(a.key) + " through seq " +
                                       std::to_string(through) + ": its last seq is " +
                                       std::to_string(last));
      }
      if (through == kSeqMax) {
        // A delete is written as a trim record naming the first SeqId kept (through + 1), and
        // no SeqId follows the largest: refused rather than wrapped to 0 and taken for a no-op.
        return Status::InvalidArgument(
            "cannot delete " + Quote(a.key) + " through seq " + std::to_string(kSeqMax) +
            ", the largest SeqId: a delete keeps SeqIds above the one it names, so delete "
            "through " +
            std::to_string(kSeqMax - 1) + " at most (its last message stays)");
      }
      seq = through + 1;
      result = through;
      noop = seq <= ov.TrimmedBelow(id);
      if (noop) result = ov.TrimmedBelow(id) - 1;  // the last seq deleted
      break;
    }
  }
  if (noop) {
    r->results = {{result, 0, true}};
    return Status::Ok();
  }
  // An edit keeps the message's timestamp and client_msg_id (it replaces the payload only).
  // Recall and trim records are stamped no earlier than the timeline's newest message, so a TTL
  // drop can never remove one of them while a message it hides is still kept.
  const bool edit = type == RecordType::kEdit;
  const TimestampMs now = edit ? base.timestamp_ms : std::max(st_.clock->NowMs(), ts.last_ts);
  const std::string cmid(edit ? base.client_msg_id : std::string_view{});  // base may point
                                                                           // into a block
  const std::string_view payload = edit ? a.payload : std::string_view{};
  ActiveSegment& act = *st_.active;
  const uint64_t offset = act.end();
  const size_t n = EncodedMessageBytes(a.key, cmid, payload);
  EncodeMaintenance(act.Reserve(n), type, act.id(), offset, synced(), seq, now, a.key, cmid,
                    payload);
  act.Commit(n);
  act.NoteTimestamp(now);
  const auto off32 = static_cast<uint32_t>(offset);
  act.mutation_records().push_back({id, static_cast<uint8_t>(type), seq, off32});
  out->push_back(PublishMutation{id, type, seq, off32});
  r->results = {{result, now, false}};
  st_.counters.mutations++;
  return Status::Ok();
}

// The dedupe key is (namespace, timeline, client_msg_id): every timeline a message with an id
// was appended to remembers it (IndexRecord). The first remembered hit among the request's
// timelines, confirmed against its stored record, decides: the request is a retry when it makes
// the same message (same kind, payload and, for a fan-out, the same set of targets in any
// order); anything else reusing the id is refused, so a timeline never holds an id twice while
// the window remembers it.
Status GroupAssigner::TryDedupe(AppendRequest* r, std::string_view cmid,
                                std::span<const std::string_view> keys,
                                std::span<const uint64_t> key_hashes, std::string_view payload,
                                bool fanout, bool* retry) {
  TLDB_CHECK(key_hashes.size() == keys.size());
  *retry = false;
  RecordView rec;
  std::string_view hit_key;
  Seq hit_seq = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string_view k = keys[i];
    const DedupeWindow::Entry* e = st_.dedupe.Find(DedupeHash(key_hashes[i], cmid));
    if (e == nullptr || st_.table.key(e->timeline) != k) continue;
    const TimelineState& ts = st_.table.state(e->timeline);
    if (ts.last_seq - e->seq >= st_.db_options.dedupe_per_timeline_max) continue;
    if (st_.clock->NowMs() - e->ts > static_cast<int64_t>(st_.db_options.dedupe_age_ms)) continue;
    if (!reader_.LocateStored(e->timeline, e->seq, &rec).ok() || rec.client_msg_id != cmid) {
      continue;  // a hash collision, or a record gone (expired)
    }
    hit_key = k;
    hit_seq = e->seq;
    break;
  }
  if (hit_key.empty()) return Status::Ok();
  auto reused = [&](std::string_view why) {
    return Status::ClientMsgIdReused("client_msg_id '" + std::string(cmid) +
                                     "' is already stored in " + Quote(hit_key) + " at seq " +
                                     std::to_string(hit_seq) + " " + std::string(why));
  };
  if ((rec.type == RecordType::kFanout) != fanout) {
    return reused(fanout ? "by an APPEND, not a fan-out" : "by a fan-out, not an APPEND");
  }
  if (rec.payload != payload) return reused("with another payload");
  std::vector<AppendResult> results(keys.size());
  if (!fanout) {
    results[0] = {rec.seq, rec.timestamp_ms, true};
  } else {
    std::unordered_map<std::string_view, size_t> slot;  // request order of each target
    for (size_t i = 0; i < keys.size(); ++i) slot.emplace(keys[i], i);
    size_t matched = 0;
    bool other = false;
    ForEachTarget(rec, [&](const FanoutTarget& t) {
      auto it = slot.find(t.key);
      if (it == slot.end()) {
        other = true;
        return;
      }
      results[it->second] = {t.seq, rec.timestamp_ms, true};
      ++matched;
    });
    if (other || matched != keys.size()) return reused("by a fan-out to other timelines");
  }
  r->results = std::move(results);
  st_.counters.deduplicated++;
  *retry = true;
  return Status::Ok();
}

void GroupAssigner::IndexRecord(uint32_t timeline, uint64_t key_hash, Seq seq, uint64_t offset,
                                TimestampMs ts, std::string_view cmid) {
  TimelineState& s = st_.table.state(timeline);
  ActiveSegment& act = *st_.active;
  TLDB_CHECK(s.active_slot == kNoSlot ? seq > s.last_seq : seq == s.last_seq + 1);
  if (s.active_slot == kNoSlot) {
    s.active_slot = act.AddSlot(timeline, seq, st_.table.key(timeline).size());
  }
  const ActiveSegment::Slot& slot = act.slot(s.active_slot);
  TLDB_CHECK(slot.first_seq() + slot.size() == seq);
  act.AddOffset(s.active_slot, static_cast<uint32_t>(offset));
  s.unpublished += static_cast<uint32_t>(seq - s.last_seq);  // visible_seq() stays put
  s.last_seq = seq;
  s.last_ts = ts;
  act.NoteTimestamp(ts);
  if (!cmid.empty()) {
    const uint64_t h = DedupeHash(key_hash, cmid);
    st_.dedupe.Insert(h, {timeline, seq, ts});
    act.dedupe_records().push_back({timeline, h, seq, ts});
  }
}

}  // namespace tldb
