#include "store/scrub_file.h"

#include <cstring>

#include "util/checksum.h"
#include "util/coding.h"

namespace tldb {
namespace {
constexpr char kMagic[8] = {'T', 'L', 'D', 'B', 'S', 'C', 'R', '1'};
constexpr size_t kFixedBytes = 8 + 4 + 4 + 8 + 8 + 8 + 4;  // up to the quarantine count
constexpr uint32_t kInPass = 1;                            // flags bit 0
// A finding's text is cut to this many bytes (u16 length on disk).
constexpr size_t kWhatBytesMax = 4096;
}  // namespace

std::string EncodeScrubState(const ScrubState& s) {
  std::string out(kMagic, 8);
  PutFixed32(&out, ScrubState::kVersion);
  PutFixed32(&out, s.in_pass ? kInPass : 0);
  PutFixed64(&out, static_cast<uint64_t>(s.pass_started_ms));
  PutFixed64(&out, s.next_segment_id);
  PutFixed64(&out, s.passes_completed);
  PutFixed32(&out, static_cast<uint32_t>(s.quarantined.size()));
  for (const auto& q : s.quarantined) {
    PutFixed64(&out, q.segment_id);
    PutFixed32(&out, q.gen);
    PutFixed64(&out, q.finding.offset);
    const std::string_view name = std::string_view(q.finding.file_name).substr(0, 255);
    out.push_back(static_cast<char>(name.size()));
    out += name;
    const std::string_view what = std::string_view(q.finding.what).substr(0, kWhatBytesMax);
    out.push_back(static_cast<char>(what.size() & 0xff));
    out.push_back(static_cast<char>(what.size() >> 8));
    out += what;
  }
  PutFixed64(&out, Hash64(out.data(), out.size()));
  return out;
}

Result<ScrubState> DecodeScrubState(std::string_view b, std::string_view what) {
  const std::string where(what);
  if (b.size() < kFixedBytes + 8 || std::memcmp(b.data(), kMagic, 8) != 0 ||
      DecodeFixed64(b.data() + b.size() - 8) != Hash64(b.data(), b.size() - 8)) {
    return Status::Corruption(where + ": damaged scrub file");
  }
  if (DecodeFixed32(b.data() + 8) != ScrubState::kVersion) {
    return Status::Corruption(where + ": unknown scrub file version " +
                              std::to_string(DecodeFixed32(b.data() + 8)));
  }
  ScrubState s;
  s.in_pass = (DecodeFixed32(b.data() + 12) & kInPass) != 0;
  s.pass_started_ms = static_cast<TimestampMs>(DecodeFixed64(b.data() + 16));
  s.next_segment_id = DecodeFixed64(b.data() + 24);
  s.passes_completed = DecodeFixed64(b.data() + 32);
  const uint32_t n = DecodeFixed32(b.data() + 40);
  const size_t body = b.size() - 8;
  size_t pos = kFixedBytes;
  for (uint32_t i = 0; i < n; ++i) {
    if (pos + 21 > body) return Status::Corruption(where + ": scrub file truncated");
    ScrubState::Quarantined q;
    q.segment_id = DecodeFixed64(b.data() + pos);
    q.gen = DecodeFixed32(b.data() + pos + 8);
    q.finding.offset = DecodeFixed64(b.data() + pos + 12);
    const auto name_len = static_cast<uint8_t>(b[pos + 20]);
    pos += 21;
    if (pos + name_len + 2 > body) return Status::Corruption(where + ": scrub file truncated");
    q.finding.file_name.assign(b.data() + pos, name_len);
    pos += name_len;
    const size_t what_len =
        static_cast<uint8_t>(b[pos]) | (size_t{static_cast<uint8_t>(b[pos + 1])} << 8);
    pos += 2;
    if (pos + what_len > body) return Status::Corruption(where + ": scrub file truncated");
    q.finding.what.assign(b.data() + pos, what_len);
    pos += what_len;
    s.quarantined.push_back(std::move(q));
  }
  if (pos != body) return Status::Corruption(where + ": trailing bytes in scrub file");
  return s;
}

}  // namespace tldb
