// TimelineRules: the one statement of which messages a namespace still serves and what a read
// returns for each (docs/design.md "Recall, edit, trim" and "TTL"). Pure: no locks, no I/O.
//
// It owns the MutationOverlay (what recall, edit and trim records did, applied in log order at
// run time and replayed in the same order at recovery) and judges a (timeline, SeqId, timestamp)
// against it and the namespace's limits (trim point, messages_per_timeline_max, TTL), and
// states which timelines compaction keeps at all (Owned). The
// engine's read path, write path (dedupe, edit checks), compactor, compaction planner and
// recovery, and the admin tools' live model all ask it; nothing else restates these rules.
//
// Not thread-safe: the owner guards it (NamespaceLog: NamespaceState::mu, shared for the const
// members, exclusive for Apply and the compactor's moves).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "log/record_format.h"
#include "store/mutation_overlay.h"
#include "tldb/db.h"
#include "tldb/types.h"

namespace tldb {

class TimelineRules {
 public:
  // What the rules depend on besides the records: the namespace's limits and the TTL clock.
  struct Limits {
    uint64_t ttl_ms = 0;                     // 0: messages never expire
    uint64_t messages_per_timeline_max = 0;  // 0: no limit
    TimestampMs now_ms = 0;                  // the TTL clock (read only when ttl_ms != 0)
  };
  enum class Read : uint8_t {
    kStored,   // the message's own record
    kEdited,   // the edit record at (segment, offset) holds its current payload
    kDeleted,  // recalled, trimmed, beyond the per-timeline limit, or expired
  };
  struct Verdict {
    Read read = Read::kStored;
    const char* why = "";  // kDeleted: the reason, for error messages
    uint32_t segment = 0;  // kEdited: the edit record
    uint32_t offset = 0;
  };

  // Applies a recall, edit or trim record of `timeline` found at (segment, offset). Any other
  // record type is a caller bug (checked).
  void Apply(uint32_t timeline, format::RecordType type, Seq seq, uint32_t segment,
             uint32_t offset);

  // Route for a SeqId already known to be at or above FirstKept (a scan's range): only the
  // recall and edit entries decide. Inline: it runs once per SeqId of every scan.
  Verdict RouteKept(uint32_t timeline, Seq seq) const {
    const MutationOverlay::Entry* e = overlay_.empty() ? nullptr : overlay_.Find(timeline, seq);
    if (e == nullptr) return {};
    if (e->kind == MutationOverlay::Kind::kRecalled)
      return {Read::kDeleted, "message was recalled"};
    return {Read::kEdited, "", e->segment, e->offset};
  }
  // The first SeqId of `timeline` that reads may return, given its highest visible SeqId: the
  // trim point, raised by messages_per_timeline_max.
  Seq FirstKept(uint32_t timeline, Seq visible_seq, const Limits& l) const {
    Seq first = overlay_.TrimmedBelow(timeline);
    const uint64_t max = l.messages_per_timeline_max;
    if (max != 0 && visible_seq > max) first = std::max<Seq>(first, visible_seq - max + 1);
    return first;
  }
  // Where a read of (timeline, seq) takes the message from, before its timestamp is known.
  Verdict Route(uint32_t timeline, Seq seq, Seq visible_seq, const Limits& l) const {
    if (seq < FirstKept(timeline, visible_seq, l)) {
      return {Read::kDeleted, "message was trimmed or deleted"};
    }
    return RouteKept(timeline, seq);
  }
  // A record stamped `ts` has expired.
  static bool Expired(TimestampMs ts, const Limits& l) {
    return l.ttl_ms != 0 && ts < l.now_ms - static_cast<int64_t>(l.ttl_ms);
  }
  // Route and Expired together, for callers that know the timestamp up front.
  Verdict Judge(uint32_t timeline, Seq seq, TimestampMs ts, Seq visible_seq, const Limits& l) const;

  // ---- compaction: which records a rewrite of some sealed segments keeps ----
  // Whether the store keeps timeline `key` of namespace `ns` at all (Db::SetTimelineOwnership,
  // docs/design.md "Ownership"; null or empty `owned`: every timeline). A timeline it does not
  // keep is dead whole to a rewrite: none of its records (messages, fan-out targets, edits,
  // recalls, trims) is copied, and the planner counts them all as garbage. Callers ask it with
  // no lock held (the callback is the embedder's code) and pass the answer on.
  static bool Owned(const TimelineOwnership* owned, std::string_view ns, std::string_view key) {
    return owned == nullptr || !*owned || (*owned)(ns, key);
  }
  // Message (timeline, seq, ts) of a timeline the store owns survives a rewrite of the segments
  // for which in_rewrite(id) is true unless it is deleted, or its edit record lies among them
  // (that record then becomes the message). An edit elsewhere keeps it: reads find its SeqId
  // through the rewritten segment and its payload through the edit; without it a scan would
  // skip the SeqId while Get answered it. A message of a timeline not owned never survives.
  template <typename InRewrite>
  bool SurvivesRewrite(bool owned, uint32_t timeline, Seq seq, TimestampMs ts, Seq visible_seq,
                       const Limits& l, InRewrite&& in_rewrite) const {
    if (!owned) return false;
    if (seq < FirstKept(timeline, visible_seq, l) || Expired(ts, l)) return false;
    const MutationOverlay::Entry* e = overlay_.Find(timeline, seq);
    return e == nullptr || (e->kind == MutationOverlay::Kind::kEdited && !in_rewrite(e->segment));
  }
  // The edit record at (segment, offset) is still the current edit of a kept message.
  bool EditCurrent(uint32_t timeline, Seq seq, TimestampMs ts, uint32_t segment, uint32_t offset,
                   Seq visible_seq, const Limits& l) const;
  // The recall of (timeline, seq) is in force.
  bool Recalled(uint32_t timeline, Seq seq) const;
  // A trim record of `timeline` at `seq` is the one in force.
  bool TrimCurrent(uint32_t timeline, Seq seq) const {
    return seq == overlay_.TrimmedBelow(timeline);
  }

  const MutationOverlay& overlay() const { return overlay_; }
  // For the compactor (moves an edit to its new place, forgets what it dropped), TTL drops and
  // recovery (forget entries whose message is gone).
  MutationOverlay& overlay() { return overlay_; }
  // Bumped by every Apply: a cached judgement older than this is stale.
  uint64_t epoch() const { return epoch_; }

 private:
  MutationOverlay overlay_;
  uint64_t epoch_ = 0;
};

}  // namespace tldb
