// NamespaceLog maintenance records: recall, edit, trim and delete-timeline travel through the
// group commit like appends (same durability, same order), as records of their own type. Their
// effect lives in the MutationOverlay, applied when the group is published and replayed in log
// order at recovery (docs/design.md "Recall, edit, trim").
#include <algorithm>

#include "store/namespace_log.h"
#include "util/check.h"

namespace tldb {

using format::RecordType;

namespace {
std::string Quote(std::string_view key) {
  return "timeline '" + std::string(key) + "'";
}
}  // namespace

Status NamespaceLog::AssignMutation(AppendRequest* r, std::vector<Assigned>* assigned) {
  const uint32_t id = table_.Find(r->key, KeyHash(r->key));
  if (id == TimelineTable::kNone) return Status::NotFound(Quote(r->key) + " does not exist");
  const TimelineState& st = table_.state(id);
  const Seq last = st.last_seq;
  Seq seq = r->target_seq, result = r->target_seq;
  RecordType type = RecordType::kTrim;
  bool noop = false;
  RecordView base;
  switch (r->mutation) {
    case MutationKind::kRecall:
    case MutationKind::kEdit: {
      if (seq > last) return Status::NotFound(Quote(r->key) + " has no seq " + std::to_string(seq));
      Status s = LocateLive(id, seq, &base);
      if (r->mutation == MutationKind::kRecall) {
        if (!s.ok() && s.code() != Status::Code::kDeleted) return s;
        noop = !s.ok();  // already deleted: a retried recall
        type = RecordType::kRecall;
      } else {
        TLDB_RETURN_IF_ERROR(s);  // an edit of a deleted message is refused (Deleted)
        noop = base.payload == r->payload;
        type = RecordType::kEdit;
      }
      break;
    }
    case MutationKind::kTrim:
      if (seq > last + 1) {
        return Status::InvalidArgument("cannot trim " + Quote(r->key) + " below seq " +
                                       std::to_string(seq) + ": its last seq is " +
                                       std::to_string(last));
      }
      noop = seq <= overlay_.TrimmedBelow(id);
      break;
    case MutationKind::kDeleteTimeline: {
      const Seq through = seq == 0 ? last : seq;
      if (through > last) {
        return Status::InvalidArgument("cannot delete " + Quote(r->key) + " through seq " +
                                       std::to_string(through) + ": its last seq is " +
                                       std::to_string(last));
      }
      seq = through + 1;
      result = through;
      noop = seq <= overlay_.TrimmedBelow(id);
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
  const TimestampMs ts = edit ? base.timestamp_ms : std::max(clock_->NowMs(), st.last_ts);
  const std::string_view cmid = edit ? base.client_msg_id : std::string_view{};
  const std::string cmid_copy(cmid);  // base may point into a block buffer
  const uint64_t offset = active_->end();
  const size_t n = EncodedMessageBytes(r->key, cmid_copy, edit ? r->payload : std::string_view{});
  EncodeMaintenance(active_->Reserve(n), type, active_->id(), offset,
                    static_cast<uint32_t>(active_->durable_end()), seq, ts, r->key, cmid_copy,
                    edit ? r->payload : std::string_view{});
  active_->Commit(n);
  active_->NoteTimestamp(ts);
  active_->mutation_records().push_back(
      {id, static_cast<uint8_t>(type), seq, static_cast<uint32_t>(offset)});
  assigned->push_back({id, seq, static_cast<uint8_t>(type), static_cast<uint32_t>(offset)});
  r->results = {{result, ts, false}};
  counters_.mutations++;
  return Status::Ok();
}

void NamespaceLog::ApplyMutation(uint32_t timeline, RecordType type, Seq seq, uint32_t segment,
                                 uint32_t offset) {
  mutation_epoch_.fetch_add(1, std::memory_order_relaxed);
  switch (type) {
    case RecordType::kRecall:
      overlay_.ApplyRecall(timeline, seq);
      break;
    case RecordType::kEdit:
      overlay_.ApplyEdit(timeline, seq, segment, offset);
      break;
    case RecordType::kTrim:
      // The last SeqId of a timeline whose messages are all gone is kept by FLOORS (written by
      // TTL drops and compaction before they delete its last records), not inferred from here.
      overlay_.ApplyTrim(timeline, seq);
      break;
    default:
      TLDB_CHECK(false && "not a maintenance record");
  }
}

}  // namespace tldb
