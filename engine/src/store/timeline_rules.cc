#include "store/timeline_rules.h"

#include <algorithm>

#include "util/check.h"

namespace tldb {

using format::RecordType;

void TimelineRules::Apply(uint32_t timeline, RecordType type, Seq seq, uint32_t segment,
                          uint32_t offset) {
  ++epoch_;
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

TimelineRules::Verdict TimelineRules::Judge(uint32_t timeline, Seq seq, TimestampMs ts,
                                            Seq visible_seq, const Limits& l) const {
  const Verdict v = Route(timeline, seq, visible_seq, l);
  if (v.read != Read::kDeleted && Expired(ts, l)) return {Read::kDeleted, "message expired"};
  return v;
}

bool TimelineRules::EditCurrent(uint32_t timeline, Seq seq, TimestampMs ts, uint32_t segment,
                                uint32_t offset, Seq visible_seq, const Limits& l) const {
  const MutationOverlay::Entry* e = overlay_.Find(timeline, seq);
  return e != nullptr && e->kind == MutationOverlay::Kind::kEdited && e->segment == segment &&
         e->offset == offset && seq >= FirstKept(timeline, visible_seq, l) && !Expired(ts, l);
}

bool TimelineRules::Recalled(uint32_t timeline, Seq seq) const {
  const MutationOverlay::Entry* e = overlay_.Find(timeline, seq);
  return e != nullptr && e->kind == MutationOverlay::Kind::kRecalled;
}

}  // namespace tldb
