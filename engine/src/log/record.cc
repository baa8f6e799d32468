#include "log/record.h"

#include <cstring>

#include "util/check.h"
#include "util/checksum.h"
#include "util/coding.h"

namespace tldb {

using namespace format;  // NOLINT(google-build-using-namespace): the constants of this format

namespace {

uint32_t ComputeChecksum(const char* rec, uint32_t length, uint64_t segment_id, uint64_t offset) {
  return static_cast<uint32_t>(
      Hash64(rec + kChecksummedFrom, length - kChecksummedFrom, RecordSeed(segment_id, offset)));
}

void EncodeHeader(char* dst, RecordType type, uint32_t length, uint8_t key_len, uint8_t cmid_len,
                  uint32_t synced_through, uint64_t seq, TimestampMs ts) {
  EncodeFixed32(dst + kOffLength, length);
  dst[kOffType] = static_cast<char>(type);
  dst[kOffFlags] = 0;
  dst[kOffKeyLen] = static_cast<char>(key_len);
  dst[kOffCmidLen] = static_cast<char>(cmid_len);
  EncodeFixed32(dst + kOffSyncedThrough, synced_through);
  EncodeFixed64(dst + kOffSeq, seq);
  EncodeFixed64(dst + kOffTimestamp, static_cast<uint64_t>(ts));
}

char* Put(char* p, std::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());  // data() may be null when empty
  return p + s.size();
}

void Seal(char* dst, uint32_t length, uint64_t segment_id, uint64_t offset) {
  EncodeFixed32(dst + kOffChecksum, ComputeChecksum(dst, length, segment_id, offset));
  // Checked where written: the record must decode back to itself.
  RecordView check;
  TLDB_CHECK(DecodeRecord({dst, length}, segment_id, offset, &check) == DecodeOutcome::kOk);
}

// Validates the fan-out target list; returns its byte length or 0 if malformed.
size_t TargetListBytes(const char* p, const char* end, uint32_t count) {
  const char* start = p;
  for (uint32_t i = 0; i < count; ++i) {
    if (p >= end) return 0;
    const uint8_t len = static_cast<uint8_t>(*p);
    if (len == 0 || static_cast<size_t>(end - p) < kFanoutTargetFixedBytes + len) return 0;
    p += kFanoutTargetFixedBytes + len;
  }
  return static_cast<size_t>(p - start);
}

bool DecodeBody(const char* rec, RecordView* r, uint8_t key_len, uint8_t cmid_len) {
  const char* p = rec + kRecordHeaderBytes;
  const char* end = rec + r->length;
  if (IsKeyed(r->type)) {
    if (key_len == 0 || static_cast<size_t>(end - p) < size_t{key_len} + cmid_len) return false;
    r->key = std::string_view(p, key_len);
    p += key_len;
  } else {
    if (key_len != 0 || r->seq == 0 || r->seq > kFanoutTimelinesCeiling) return false;
    r->target_count = static_cast<uint32_t>(r->seq);
    r->seq = 0;
    const size_t n = TargetListBytes(p, end, r->target_count);
    if (n == 0 || static_cast<size_t>(end - p) < n + cmid_len) return false;
    r->targets = std::string_view(p, n);
    p += n;
  }
  r->client_msg_id = std::string_view(p, cmid_len);
  p += cmid_len;
  r->payload = std::string_view(p, static_cast<size_t>(end - p));
  if ((r->type == RecordType::kRecall || r->type == RecordType::kTrim) && !r->payload.empty()) {
    return false;
  }
  return r->payload.size() <= kPayloadBytesCeiling;
}

}  // namespace

size_t EncodedMessageBytes(std::string_view key, std::string_view cmid, std::string_view payload) {
  return kRecordHeaderBytes + key.size() + cmid.size() + payload.size();
}

size_t EncodedFanoutBytes(std::span<const FanoutTarget> targets, std::string_view cmid,
                          std::string_view payload) {
  size_t n = kRecordHeaderBytes + cmid.size() + payload.size();
  for (const auto& t : targets) n += kFanoutTargetFixedBytes + t.key.size();
  return n;
}

namespace {
void EncodeKeyed(char* dst, RecordType type, uint64_t segment_id, uint64_t offset,
                 uint32_t synced_through, Seq seq, TimestampMs ts, std::string_view key,
                 std::string_view cmid, std::string_view payload) {
  TLDB_CHECK(!key.empty() && key.size() <= kTimelineKeyBytesMax && IsKeyed(type));
  TLDB_CHECK(cmid.size() <= kClientMsgIdBytesMax && seq != 0);
  const auto length = static_cast<uint32_t>(EncodedMessageBytes(key, cmid, payload));
  EncodeHeader(dst, type, length, static_cast<uint8_t>(key.size()),
               static_cast<uint8_t>(cmid.size()), synced_through, seq, ts);
  char* p = Put(dst + kRecordHeaderBytes, key);
  p = Put(p, cmid);
  Put(p, payload);
  Seal(dst, length, segment_id, offset);
}
}  // namespace

void EncodeMessage(char* dst, uint64_t segment_id, uint64_t offset, uint32_t synced_through,
                   Seq seq, TimestampMs ts, std::string_view key, std::string_view cmid,
                   std::string_view payload) {
  EncodeKeyed(dst, RecordType::kMessage, segment_id, offset, synced_through, seq, ts, key, cmid,
              payload);
}

void EncodeMaintenance(char* dst, RecordType type, uint64_t segment_id, uint64_t offset,
                       uint32_t synced_through, Seq seq, TimestampMs ts, std::string_view key,
                       std::string_view cmid, std::string_view payload) {
  TLDB_CHECK(type == RecordType::kRecall || type == RecordType::kEdit || type == RecordType::kTrim);
  TLDB_CHECK(type == RecordType::kEdit || (payload.empty() && cmid.empty()));
  EncodeKeyed(dst, type, segment_id, offset, synced_through, seq, ts, key, cmid, payload);
}

void EncodeFanout(char* dst, uint64_t segment_id, uint64_t offset, uint32_t synced_through,
                  std::span<const FanoutTarget> targets, TimestampMs ts, std::string_view cmid,
                  std::string_view payload) {
  TLDB_CHECK(!targets.empty() && targets.size() <= kFanoutTimelinesCeiling);
  TLDB_CHECK(cmid.size() <= kClientMsgIdBytesMax);
  const auto length = static_cast<uint32_t>(EncodedFanoutBytes(targets, cmid, payload));
  EncodeHeader(dst, RecordType::kFanout, length, 0, static_cast<uint8_t>(cmid.size()),
               synced_through, targets.size(), ts);
  char* p = dst + kRecordHeaderBytes;
  for (const auto& t : targets) {
    TLDB_CHECK(!t.key.empty() && t.key.size() <= kTimelineKeyBytesMax && t.seq != 0);
    *p++ = static_cast<char>(t.key.size());
    p = Put(p, t.key);
    EncodeFixed64(p, t.seq);
    p += 8;
  }
  p = Put(p, cmid);
  Put(p, payload);
  Seal(dst, length, segment_id, offset);
}

DecodeOutcome DecodeRecord(std::span<const char> avail, uint64_t segment_id, uint64_t offset,
                           RecordView* out) {
  if (avail.size() < 8) {
    // Not even the length field: unwritten space if it is all zero, else a torn header.
    for (char c : avail) {
      if (c != 0) return DecodeOutcome::kTruncated;
    }
    return DecodeOutcome::kEnd;
  }
  const char* rec = avail.data();
  const uint32_t length = DecodeFixed32(rec + kOffLength);
  if (length == 0) return DecodeOutcome::kEnd;
  if (length < kRecordHeaderBytes || length > kRecordBytesMax) return DecodeOutcome::kBad;
  if (length > avail.size()) return DecodeOutcome::kTruncated;
  if (DecodeFixed32(rec + kOffChecksum) != ComputeChecksum(rec, length, segment_id, offset)) {
    return DecodeOutcome::kBad;
  }
  const auto type = static_cast<uint8_t>(rec[kOffType]);
  if (type == 0 || type > kMaxRecordType || rec[kOffFlags] != 0) return DecodeOutcome::kBad;
  RecordView r;
  r.type = static_cast<RecordType>(type);
  r.length = length;
  r.synced_through = DecodeFixed32(rec + kOffSyncedThrough);
  r.seq = DecodeFixed64(rec + kOffSeq);
  r.timestamp_ms = static_cast<TimestampMs>(DecodeFixed64(rec + kOffTimestamp));
  const auto key_len = static_cast<uint8_t>(rec[kOffKeyLen]);
  const auto cmid_len = static_cast<uint8_t>(rec[kOffCmidLen]);
  if (cmid_len > kClientMsgIdBytesMax) return DecodeOutcome::kBad;
  if (IsKeyed(r.type) && r.seq == 0) return DecodeOutcome::kBad;
  if (!DecodeBody(rec, &r, key_len, cmid_len)) return DecodeOutcome::kBad;
  *out = r;
  return DecodeOutcome::kOk;
}

bool RecordSeqFor(const RecordView& r, std::string_view key, Seq* seq) {
  if (r.type == RecordType::kRecall || r.type == RecordType::kTrim) return false;
  if (r.type == RecordType::kMessage || r.type == RecordType::kEdit) {
    if (r.key != key) return false;
    *seq = r.seq;
    return true;
  }
  bool found = false;
  ForEachTarget(r, [&](const FanoutTarget& t) {
    if (!found && t.key == key) {
      *seq = t.seq;
      found = true;
    }
  });
  return found;
}

bool RecordHolds(const RecordView& r, std::string_view key, Seq seq) {
  if (r.type != RecordType::kFanout) {
    Seq got = 0;
    return RecordSeqFor(r, key, &got) && got == seq;
  }
  // A fan-out never lists a timeline twice (DbImpl refuses it before encoding), so the entry
  // with this seq and key is the key's only one.
  const char* p = r.targets.data();
  for (uint32_t i = 0; i < r.target_count; ++i) {
    const auto len = static_cast<uint8_t>(*p);
    uint64_t got;
    __builtin_memcpy(&got, p + 1 + len, 8);
    if (got == seq && len == key.size() && std::memcmp(p + 1, key.data(), len) == 0) return true;
    p += kFanoutTargetFixedBytes + len;
  }
  return false;
}

}  // namespace tldb
