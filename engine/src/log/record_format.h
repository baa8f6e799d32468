// On-disk constants for segment files. THE SPEC IS docs/format.md: change both together.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tldb/options.h"

namespace tldb::format {

// ---- segment file header (docs/format.md "Segment header") ----
inline constexpr char kSegmentMagic[8] = {'T', 'L', 'D', 'B', 'S', 'E', 'G', '1'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderBytes = 64;
inline constexpr size_t kSegmentHeaderChecksumOffset = 60;

// ---- record framing (docs/format.md "Record") ----
inline constexpr size_t kRecordHeaderBytes = 32;
enum class RecordType : uint8_t {
  kMessage = 1,  // one message of one timeline
  kFanout = 2,   // one payload delivered to many timelines, each with its own SeqId
  // Maintenance records (docs/format.md "Maintenance records"): laid out like kMessage; `seq`
  // names the message they act on.
  kRecall = 3,  // message `seq` of the timeline is deleted; no payload
  kEdit = 4,    // message `seq` now has this record's payload
  kTrim = 5,    // every message of the timeline below `seq` is deleted; no payload
};
inline constexpr uint8_t kMaxRecordType = 5;
// Records laid out as key + client_msg_id + payload (all but kFanout).
inline constexpr bool IsKeyed(RecordType t) {
  return t != RecordType::kFanout;
}

// Header field offsets.
inline constexpr size_t kOffChecksum = 0;        // u32: low 32 bits of XXH3-64, see below
inline constexpr size_t kOffLength = 4;          // u32: whole record, header included
inline constexpr size_t kOffType = 8;            // u8
inline constexpr size_t kOffFlags = 9;           // u8, 0
inline constexpr size_t kOffKeyLen = 10;         // u8: timeline key length (message), 0 (fanout)
inline constexpr size_t kOffCmidLen = 11;        // u8: client_msg_id length
inline constexpr size_t kOffSyncedThrough = 12;  // u32: segment offset durable when encoded
inline constexpr size_t kOffSeq = 16;            // u64: SeqId (message), target count (fanout)
inline constexpr size_t kOffTimestamp = 24;      // i64: timestamp_ms
// The checksum covers bytes [4, length) and is seeded with the record's own position, so a
// record copied to another offset or segment (a misdirected write) fails its check.
inline constexpr size_t kChecksummedFrom = 4;

// Fan-out target entry in the body: u8 key_len, key, u64 seq.
inline constexpr size_t kFanoutTargetFixedBytes = 9;

// The largest record: a 16 MiB payload plus the biggest fan-out target list.
inline constexpr uint64_t kRecordBytesMax =
    kRecordHeaderBytes + kClientMsgIdBytesMax + uint64_t{kPayloadBytesCeiling} +
    uint64_t{kFanoutTimelinesCeiling} * (kFanoutTargetFixedBytes + kTimelineKeyBytesMax);

static_assert(kRecordHeaderBytes == kOffTimestamp + 8, "header fields fill the header exactly");
static_assert(kClientMsgIdBytesMax <= 255, "cmid length is one byte on disk");
static_assert(kTimelineKeyBytesMax <= 255, "key length is one byte on disk");
static_assert(kRecordBytesMax < (uint64_t{1} << 32), "record length is a u32 on disk");
static_assert(kSegmentBytesCeiling + kRecordBytesMax < (uint64_t{1} << 32),
              "segment offsets (synced_through, index offsets) are u32 on disk");
static_assert(kSegmentHeaderBytes >= kSegmentHeaderChecksumOffset + 4);

inline uint64_t RecordSeed(uint64_t segment_id, uint64_t offset) {
  return segment_id * 0x9E3779B97F4A7C15ull ^ offset;
}

}  // namespace tldb::format
