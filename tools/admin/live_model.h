// LiveModel: which messages of one namespace the store still serves, worked out offline from
// the files: the maintenance records (recall, edit, trim; delete-timeline is a trim) of every
// segment replayed in the order the engine replays them at open (segments by id, each
// segment's records in index order) into the engine's own TimelineRules, which then judge each
// message with FLOORS, the namespace's TTL (against the wall clock) and
// messages_per_timeline_max. A SeqId that has no record at all (an index gap, or a segment that
// is gone) is simply not there.
//
// Contract: Judge() answers what Db::Get would (live, edited: served with the edit record's
// payload, or deleted), given the same files. Built from index files where they are valid
// (BuildLiveModel with from_data = false: no segment data is read), else from the records.
// With from_data = true every edit record's payload is kept so export can serve edits.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data_dir.h"
#include "log/record_format.h"
#include "store/timeline_rules.h"
#include "tldb/file_system.h"
#include "tldb/types.h"

namespace tldb::admin {

class LiveModel {
 public:
  enum class State : uint8_t { kLive, kEdited, kDeleted };

  LiveModel(const NamespaceOptions& options, TimestampMs now_ms)
      : limits_{options.ttl_ms, options.messages_per_timeline_max, now_ms} {}

  uint32_t Timeline(std::string_view key);
  // A message (key, seq) is stored (raises the timeline's last SeqId).
  void NoteMessage(uint32_t timeline, Seq seq) {
    last_seq_[timeline] = std::max(last_seq_[timeline], seq);
  }
  void NoteFloor(std::string_view key, Seq last_seq) { NoteMessage(Timeline(key), last_seq); }
  // A maintenance record of segment `segment` at record offset `offset`.
  void Apply(uint32_t timeline, format::RecordType type, Seq seq, uint32_t segment,
             uint32_t offset);
  void KeepEditPayload(uint32_t segment, uint32_t offset, std::string_view payload) {
    edit_payloads_[{segment, offset}] = std::string(payload);
  }

  // What reads see of message (key, seq) stored with timestamp ts. For kEdited, *payload is the
  // edit's payload (when kept; else left alone).
  State Judge(std::string_view key, Seq seq, TimestampMs ts, std::string_view* payload) const;
  // Counts: how many maintenance records of each type were replayed.
  uint64_t recalls = 0, edits = 0, trims = 0;

 private:
  TimelineRules::Limits limits_;
  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<Seq> last_seq_;
  TimelineRules rules_;
  std::map<std::pair<uint32_t, uint32_t>, std::string> edit_payloads_;
};

TimestampMs WallClockMs();

// Builds the model of namespace `ns` (every segment of it, in id order).
Result<LiveModel> BuildLiveModel(FileSystem& fs, const NamespaceRef& ns, TimestampMs now_ms,
                                 bool from_data);

}  // namespace tldb::admin
