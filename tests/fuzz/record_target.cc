// Record codec fuzz target (see fuzz_targets.h).
#include <string>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_targets.h"
#include "log/record.h"

namespace tldb::fuzz {
namespace {

using format::RecordType;

// Re-encodes a decoded record at the same position; the bytes must be the original ones
// (the format has exactly one encoding per record).
std::string Reencode(const RecordView& r, uint64_t segment_id, uint64_t offset) {
  std::string out;
  if (r.type == RecordType::kMessage) {
    out.resize(EncodedMessageBytes(r.key, r.client_msg_id, r.payload));
    EncodeMessage(out.data(), segment_id, offset, r.synced_through, r.seq, r.timestamp_ms, r.key,
                  r.client_msg_id, r.payload);
  } else {
    std::vector<FanoutTarget> targets;
    ForEachTarget(r, [&](const FanoutTarget& t) { targets.push_back(t); });
    TLDB_FUZZ_CHECK(targets.size() == r.target_count);
    out.resize(EncodedFanoutBytes(targets, r.client_msg_id, r.payload));
    EncodeFanout(out.data(), segment_id, offset, r.synced_through, targets, r.timestamp_ms,
                 r.client_msg_id, r.payload);
  }
  return out;
}

bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// Arbitrary bytes: whatever DecodeRecord accepts must lie inside the record and re-encode
// byte for byte.
void DecodeArbitrary(std::string_view bytes, uint64_t segment_id, uint64_t offset) {
  RecordView r;
  const DecodeOutcome o = DecodeRecord({bytes.data(), bytes.size()}, segment_id, offset, &r);
  if (o != DecodeOutcome::kOk) return;
  TLDB_FUZZ_CHECK(r.length >= format::kRecordHeaderBytes && r.length <= bytes.size());
  const std::string_view rec = bytes.substr(0, r.length);
  TLDB_FUZZ_CHECK(Inside(r.key, rec) && Inside(r.targets, rec) && Inside(r.client_msg_id, rec) &&
                  Inside(r.payload, rec));
  TLDB_FUZZ_CHECK(Reencode(r, segment_id, offset) == rec);
}

struct Built {
  RecordType type;
  uint32_t synced_through;
  Seq seq;
  TimestampMs ts;
  std::string key, cmid, payload;
  std::vector<std::string> target_keys;
  std::vector<Seq> target_seqs;
};

std::string Key(FuzzInput& in) {
  std::string k = in.String(kTimelineKeyBytesMax);
  if (k.empty()) k = "k";
  return k;
}

// A structured record: encode, decode, compare every field; then damage it and check the
// decoder notices.
void RoundTrip(FuzzInput& in) {
  const uint64_t segment_id = in.U64(), offset = in.U64();
  Built b;
  b.type = in.Bool() ? RecordType::kFanout : RecordType::kMessage;
  b.synced_through = in.U32();
  b.ts = static_cast<TimestampMs>(in.U64());
  b.cmid = in.String(kClientMsgIdBytesMax);
  std::vector<FanoutTarget> targets;
  if (b.type == RecordType::kMessage) {
    b.seq = in.U64();
    if (b.seq == 0) b.seq = 1;
    b.key = Key(in);
  } else {
    const size_t n = in.Range(1, 40);
    for (size_t i = 0; i < n; ++i) {
      b.target_keys.push_back(Key(in));
      const Seq s = in.U64();
      b.target_seqs.push_back(s == 0 ? 1 : s);
    }
    for (size_t i = 0; i < n; ++i) targets.push_back({b.target_keys[i], b.target_seqs[i]});
  }
  b.payload = in.String(1 << 16);
  std::string rec;
  if (b.type == RecordType::kMessage) {
    rec.resize(EncodedMessageBytes(b.key, b.cmid, b.payload));
    EncodeMessage(rec.data(), segment_id, offset, b.synced_through, b.seq, b.ts, b.key, b.cmid,
                  b.payload);
  } else {
    rec.resize(EncodedFanoutBytes(targets, b.cmid, b.payload));
    EncodeFanout(rec.data(), segment_id, offset, b.synced_through, targets, b.ts, b.cmid,
                 b.payload);
  }
  // Trailing bytes after a record must not change how it decodes.
  std::string buf = rec + in.String(64);
  RecordView r;
  TLDB_FUZZ_CHECK(DecodeRecord({buf.data(), buf.size()}, segment_id, offset, &r) ==
                  DecodeOutcome::kOk);
  TLDB_FUZZ_CHECK(r.type == b.type && r.length == rec.size());
  TLDB_FUZZ_CHECK(r.synced_through == b.synced_through && r.timestamp_ms == b.ts);
  TLDB_FUZZ_CHECK(r.client_msg_id == b.cmid && r.payload == b.payload);
  if (b.type == RecordType::kMessage) {
    TLDB_FUZZ_CHECK(r.key == b.key && r.seq == b.seq);
    Seq s = 0;
    TLDB_FUZZ_CHECK(RecordSeqFor(r, b.key, &s) && s == b.seq);
  } else {
    TLDB_FUZZ_CHECK(r.target_count == targets.size());
    size_t i = 0;
    ForEachTarget(r, [&](const FanoutTarget& t) {
      TLDB_FUZZ_CHECK(i < targets.size() && t.key == b.target_keys[i] && t.seq == b.target_seqs[i]);
      ++i;
    });
    TLDB_FUZZ_CHECK(i == targets.size());
    Seq s = 0;
    TLDB_FUZZ_CHECK(RecordSeqFor(r, b.target_keys[0], &s));
  }
  // The same bytes at another position fail the check (a misdirected write).
  const uint64_t other = offset + 1 + in.Range(0, 1 << 20);
  TLDB_FUZZ_CHECK(DecodeRecord({rec.data(), rec.size()}, segment_id, other, &r) !=
                  DecodeOutcome::kOk);
  // A prefix is never a record: truncated, or a clean end if it is all zeros.
  const size_t cut = in.Range(0, rec.size() - 1);
  const DecodeOutcome t = DecodeRecord({rec.data(), cut}, segment_id, offset, &r);
  const bool zeros = rec.find_first_not_of('\0') >= cut;
  TLDB_FUZZ_CHECK(t == (cut < 8 && zeros ? DecodeOutcome::kEnd : DecodeOutcome::kTruncated));
  // One flipped bit is noticed (the 32-bit checksum or the header checks).
  std::string flipped = rec;
  const size_t bit = in.Range(0, rec.size() * 8 - 1);
  flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
  TLDB_FUZZ_CHECK(DecodeRecord({flipped.data(), flipped.size()}, segment_id, offset, &r) !=
                  DecodeOutcome::kOk);
}

}  // namespace

void RecordTarget(const uint8_t* data, size_t size) {
  if (size == 0) return;
  FuzzInput in(data + 1, size - 1);
  if (data[0] & 1) {
    RoundTrip(in);
    return;
  }
  // Raw: position from the first 16 bytes (often small, like real offsets), then the record.
  const uint64_t segment_id = in.U64() & ((data[0] & 2) ? ~0ull : 0xff);
  const uint64_t offset = in.U64() & ((data[0] & 4) ? ~0ull : 0xffff);
  const std::string bytes = in.Rest();
  DecodeArbitrary(bytes, segment_id, offset);
}

}  // namespace tldb::fuzz
