// Record codec: encodes and decodes one framed record (docs/format.md "Record").
//
// Contract: Encode* writes exactly Encoded*Bytes() bytes, checksum included, and checks its own
// output (always on). DecodeRecord never reads outside `avail`, verifies structure and checksum,
// and classifies what it finds so recovery can tell a clean end, a torn tail and damage apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "log/record_format.h"
#include "tldb/types.h"

namespace tldb {

struct RecordView {
  format::RecordType type = format::RecordType::kMessage;
  uint32_t length = 0;          // whole record
  uint32_t synced_through = 0;  // durable segment offset when this record was encoded
  Seq seq = 0;                  // message: its SeqId
  TimestampMs timestamp_ms = 0;
  std::string_view key;       // message: the timeline key
  uint32_t target_count = 0;  // fanout
  std::string_view targets;   // fanout: raw target list
  std::string_view client_msg_id;
  std::string_view payload;
};

struct FanoutTarget {
  std::string_view key;
  Seq seq = 0;
};

enum class DecodeOutcome : uint8_t {
  kOk,
  kEnd,        // a zero length field: unwritten space after the last record
  kTruncated,  // the header or the record extends past the available bytes
  kBad,        // malformed header or checksum mismatch
};

size_t EncodedMessageBytes(std::string_view key, std::string_view cmid, std::string_view payload);
size_t EncodedFanoutBytes(std::span<const FanoutTarget> targets, std::string_view cmid,
                          std::string_view payload);

// `dst` must hold the Encoded*Bytes(). `segment_id` and `offset` seed the checksum.
void EncodeMessage(char* dst, uint64_t segment_id, uint64_t offset, uint32_t synced_through,
                   Seq seq, TimestampMs ts, std::string_view key, std::string_view cmid,
                   std::string_view payload);
// A maintenance record (kRecall, kEdit, kTrim) of timeline `key` acting on SeqId `seq`.
// An edit carries the message's client_msg_id; recall and trim records have neither it nor a
// payload.
void EncodeMaintenance(char* dst, format::RecordType type, uint64_t segment_id, uint64_t offset,
                       uint32_t synced_through, Seq seq, TimestampMs ts, std::string_view key,
                       std::string_view cmid, std::string_view payload);
void EncodeFanout(char* dst, uint64_t segment_id, uint64_t offset, uint32_t synced_through,
                  std::span<const FanoutTarget> targets, TimestampMs ts, std::string_view cmid,
                  std::string_view payload);

// Decodes the record starting at avail[0], which sits at `offset` in segment `segment_id`.
DecodeOutcome DecodeRecord(std::span<const char> avail, uint64_t segment_id, uint64_t offset,
                           RecordView* out);

// Calls fn(FanoutTarget) for each target of a decoded fan-out record.
template <typename Fn>
void ForEachTarget(const RecordView& r, Fn&& fn);

// The SeqId whose payload this record holds for `key` (message or edit: its seq if the key
// matches; fan-out: the key's target seq). False if none (and for recall and trim records).
// A recall, edit or trim record (they hold no message).
inline bool IsMaintenance(format::RecordType t) {
  return t == format::RecordType::kRecall || t == format::RecordType::kEdit ||
         t == format::RecordType::kTrim;
}
// Every message a record holds: fn(key, seq) once per message (fan-outs: once per target).
template <typename Fn>
void ForEachMessage(const RecordView& r, Fn&& fn);
bool RecordSeqFor(const RecordView& r, std::string_view key, Seq* seq);
// True if the record holds the payload of (key, seq): RecordSeqFor(r, key) == seq. Compares a
// fan-out target's seq before its key, so checking a member of a large fan-out does not
// compare every other member's key (the read path's identity check).
bool RecordHolds(const RecordView& r, std::string_view key, Seq seq);

// ---- implementation of the template ----
template <typename Fn>
void ForEachTarget(const RecordView& r, Fn&& fn) {
  const char* p = r.targets.data();
  for (uint32_t i = 0; i < r.target_count; ++i) {
    const uint8_t len = static_cast<uint8_t>(*p);
    FanoutTarget t;
    t.key = std::string_view(p + 1, len);
    uint64_t seq;
    __builtin_memcpy(&seq, p + 1 + len, 8);
    t.seq = seq;
    fn(t);
    p += format::kFanoutTargetFixedBytes + len;
  }
}

template <typename Fn>
void ForEachMessage(const RecordView& r, Fn&& fn) {
  if (r.type == format::RecordType::kMessage) {
    fn(r.key, r.seq);
  } else if (r.type == format::RecordType::kFanout) {
    ForEachTarget(r, [&](const FanoutTarget& t) { fn(t.key, t.seq); });
  }
}

}  // namespace tldb
