// CursorHandler: device cursors (CURSOR_SET / CURSOR_GET).
//
// Storage: every cursor change is one record appended to timeline
//   "<device>|<ns>|<timeline>"  (or "<device>|<ns>|#<32 hex digits>" when that would exceed
//   the 255-byte key limit: two 64-bit FNV-1a hashes of the timeline key)
// of the system namespace __cursors, payload = the cursor SeqId as u64 little-endian. The
// current value is the latest record: a backward scan with limit 1. Writes use
// expected_last_seq = the record SeqId that was read, so two racing CURSOR_SETs cannot move a
// cursor backward; the loser re-reads and retries. The namespace keeps one message per
// timeline (messages_per_timeline_max = 1, CreateDefaultNamespaces), so a cursor costs one
// live record however often it moves; the engine hides older records at once and compaction
// reclaims their bytes. The newest record is never hidden, so the read above is unchanged.
#include "cursor_handler.h"

#include "async_call.h"
#include "loop.h"

namespace tldb::server {

using proto::Op;

namespace {

constexpr int kCursorRetriesMax = 8;  // conflicts only happen under contention on one cursor
constexpr size_t kDeviceBytesMax = 64;

uint64_t Fnv1a(std::string_view s, uint64_t basis) {
  uint64_t h = basis;
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string Hex64(uint64_t v) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[i] = kDigits[v & 15];
  return s;
}

Status ValidateDevice(std::string_view device) {
  if (device.empty() || device.size() > kDeviceBytesMax || device.find('|') != device.npos) {
    return Status::InvalidArgument("device id must be 1..64 bytes without '|'");
  }
  return Status::Ok();
}

std::string CursorKey(std::string_view device, std::string_view ns, std::string_view timeline) {
  std::string key = std::string(device) + "|" + std::string(ns) + "|";
  if (key.size() + timeline.size() <= kTimelineKeyBytesMax) return key + std::string(timeline);
  return key + "#" + Hex64(Fnv1a(timeline, 0xcbf29ce484222325ull)) +
         Hex64(Fnv1a(timeline, 0x84222325cbf29ce4ull));
}

struct StoredCursor {
  Seq record_seq = 0;  // SeqId of the latest record in the cursor timeline
  Seq value = 0;
};

Result<StoredCursor> ReadCursor(Db* db, const std::string& key) {
  ScanOptions opts;
  opts.direction = Direction::kBackward;
  opts.limit = 1;
  auto msgs = db->Scan(kCursorNamespace, key, opts);
  if (!msgs.ok()) {
    if (msgs.status().IsNotFound()) return StoredCursor{};
    return msgs.status();
  }
  if (msgs->empty()) return StoredCursor{};
  const Message& m = msgs->front();
  proto::WireReader r(m.payload);
  StoredCursor out;
  out.record_seq = m.seq;
  if (!r.U64(&out.value)) return Status::Corruption("cursor record " + key + " is malformed");
  return out;
}

// A device can only have read messages that exist: a cursor beyond the timeline's last SeqId
// would hide every message appended until the timeline caught up with it.
Status CheckCursorSeq(Db* db, std::string_view ns, std::string_view timeline, Seq seq) {
  auto last = db->LastSeq(ns, std::span<const std::string_view>(&timeline, 1));
  if (!last.ok()) return last.status();
  if (seq > (*last)[0]) {
    return Status::InvalidArgument("cursor seq " + std::to_string(seq) +
                                   " is beyond the timeline's last SeqId " +
                                   std::to_string((*last)[0]));
  }
  return Status::Ok();
}

}  // namespace

void CursorHandler::CursorSet(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kCursorSet);
  proto::CursorSetRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckRead(c, op, id, req.ns)) return;
  if (Status s = ValidateDevice(req.device); !s.ok()) return ctx_.Fail(c, op, id, s);
  if (Status s = CheckCursorSeq(ctx_.core().db, req.ns, req.timeline, req.seq); !s.ok()) {
    return ctx_.Fail(c, op, id, s);
  }
  c.AddInflight();
  CursorWrite(c.id(), id, std::string(req.device), std::string(req.ns), std::string(req.timeline),
              req.seq, req.reset, 0);
}

void CursorHandler::CursorWrite(uint64_t conn_id, uint64_t id, std::string device, std::string ns,
                                std::string timeline, Seq seq, bool reset, int attempt) {
  constexpr uint8_t op = static_cast<uint8_t>(Op::kCursorSet);
  int64_t start = NowUs();
  std::string key = CursorKey(device, ns, timeline);
  auto stored = ReadCursor(ctx_.core().db, key);
  auto respond = [this, conn_id, id, start](const Result<StoredCursor>& r, bool moved) {
    Connection* c = ctx_.Completed(conn_id, start, op);
    if (!c) return;
    if (!r.ok()) return ctx_.Fail(*c, op, id, r.status());
    size_t f = c->Begin(Op::kCursorSet, proto::kFlagResponse, id);
    auto w = c->Writer();
    proto::Encode(proto::CursorSetResponse{r->value, moved}, w);
    c->End(f);
  };
  if (!stored.ok() || (!reset && seq <= stored->value) || (reset && seq == stored->value)) {
    return respond(stored, false);
  }
  std::string payload;
  proto::WireWriter(&payload).U64(seq);
  AppendOptions opts;
  opts.expected_last_seq = stored->record_seq;
  // CursorSet counted the request in flight once; a retry does not count it again.
  AsyncCall call = ctx_.ContinueAsync(conn_id, op, id, start);
  ctx_.core().db->AppendAsync(
      kCursorNamespace, key, payload, opts, [=, this](Result<AppendResult> r) {
        call.Post([=, this] {
          if (!r.ok() && r.status().code() == Status::Code::kConflict &&
              attempt + 1 < kCursorRetriesMax) {
            return CursorWrite(conn_id, id, device, ns, timeline, seq, reset, attempt + 1);
          }
          Connection* c = ctx_.Completed(conn_id, start, op);
          if (!c) return;
          if (!r.ok()) return ctx_.Fail(*c, op, id, r.status());
          size_t f = c->Begin(Op::kCursorSet, proto::kFlagResponse, id);
          auto w = c->Writer();
          proto::Encode(proto::CursorSetResponse{seq, true}, w);
          c->End(f);
        });
      });
}

void CursorHandler::CursorGet(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kCursorGet);
  proto::CursorGetRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckRead(c, op, id, req.ns)) return;
  if (!ctx_.CheckTimelineCount(c, op, id, req.timelines.size())) return;
  if (Status s = ValidateDevice(req.device); !s.ok()) return ctx_.Fail(c, op, id, s);
  Db* db = ctx_.core().db;
  auto last = db->LastSeq(req.ns, req.timelines);
  if (!last.ok()) return ctx_.Fail(c, op, id, last.status());
  std::vector<proto::CursorInfo> out(req.timelines.size());
  for (size_t i = 0; i < req.timelines.size(); ++i) {
    auto stored = ReadCursor(db, CursorKey(req.device, req.ns, req.timelines[i]));
    if (!stored.ok()) return ctx_.Fail(c, op, id, stored.status());
    out[i].cursor = stored->value;
    out[i].last_seq = (*last)[i];
    out[i].unread = out[i].last_seq > out[i].cursor ? out[i].last_seq - out[i].cursor : 0;
  }
  size_t start = c.Begin(Op::kCursorGet, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::EncodeCursorInfos(out, w);
  c.End(start);
}

}  // namespace tldb::server
