// GroupAssigner: turns one group of requests into records in the active segment's image.
// For each request, by its kind (append_request.h): a retry of a remembered client_msg_id is
// answered with the original SeqIds (another message under it is refused); otherwise SeqIds and a
// timestamp are assigned, the record is encoded at the end of the active segment, and the
// timeline's index and dedupe window note it — unpublished, so readers do not see it yet. Publish()
// makes a written group visible.
//
// Contract: called by the group-commit leader only, holding NamespaceState::mu exclusively;
// the active segment has room for the group (SegmentRoller::MakeRoom). Assign never does I/O.
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "store/append_request.h"
#include "store/namespace_state.h"
#include "store/timeline_reader.h"

namespace tldb {

class GroupAssigner {
 public:
  GroupAssigner(NamespaceState& st, const TimelineReader& reader) : st_(st), reader_(reader) {}

  // What a group changed, to publish once it is written: a message's SeqId becomes visible, or
  // a maintenance record takes effect.
  struct PublishSeq {
    uint32_t timeline;
    Seq seq;
  };
  struct PublishMutation {
    uint32_t timeline;
    format::RecordType type;
    Seq seq;          // the SeqId acted on
    uint32_t offset;  // the record's offset in the active segment
  };
  using Assigned = std::variant<PublishSeq, PublishMutation>;

  // Assigns every request of the group; each gets its own status (one refused request does not
  // fail the others).
  void AssignGroup(const std::vector<AppendRequest*>& group, std::vector<Assigned>* assigned);
  // Makes a written group visible to readers (and applies its maintenance records).
  void Publish(const std::vector<Assigned>& assigned);
  // Notes a record of `timeline` (whose key hashes to `key_hash`) at `offset` of the active
  // segment in the timeline's index and the dedupe window (assignment, and recovery of the
  // active segment).
  void IndexRecord(uint32_t timeline, uint64_t key_hash, Seq seq, uint64_t offset, TimestampMs ts,
                   std::string_view cmid);
  // Notes a decoded record already in the active segment at `offset` (recovery of the active
  // segment, and a follower's copy of a shipped frame): its messages in the index and the
  // dedupe window, or its maintenance record; what to publish goes to `out`. Corruption when a
  // timeline's SeqIds do not continue.
  Status IndexDecoded(const RecordView& r, uint64_t offset, std::vector<Assigned>* out);

 private:
  Status Assign(AppendRequest* r, MessageAppend& a, std::vector<Assigned>* out);
  Status Assign(AppendRequest* r, FanoutAppend& a, std::vector<Assigned>* out);
  Status Assign(AppendRequest* r, MutationAppend& a, std::vector<Assigned>* out);
  Status Assign(AppendRequest* r, ImportAppend& a, std::vector<Assigned>* out);
  Status Assign(AppendRequest* r, RollAppend& a, std::vector<Assigned>* out);
  Status Assign(AppendRequest* r, FlushAppend& a, std::vector<Assigned>* out);
  Status Assign(AppendRequest* r, ReplicaAppend& a, std::vector<Assigned>* out);
  // Looks `cmid` up under each of `keys` (the request's timelines, hashing to `key_hashes`). A
  // retry of the remembered message (same kind, payload and set of timelines): *retry and
  // r->results (the original SeqIds, in request order). Another message under a remembered id:
  // ClientMsgIdReused. Neither: Ok, *retry false (a new message).
  Status TryDedupe(AppendRequest* r, std::string_view cmid, std::span<const std::string_view> keys,
                   std::span<const uint64_t> key_hashes, std::string_view payload, bool fanout,
                   bool* retry);
  Seq LastSeqOf(std::string_view key, uint64_t key_hash) const;
  uint32_t synced() const { return static_cast<uint32_t>(st_.active->durable_end()); }

  NamespaceState& st_;
  const TimelineReader& reader_;
};

}  // namespace tldb
