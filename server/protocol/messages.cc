#include "protocol/messages.h"

#include "protocol/backup_messages.h"

namespace tldb::proto {
namespace {

bool ReadBool(WireReader& r, bool* v) {
  uint8_t b = 0;
  if (!r.U8(&b) || b > 1) return false;
  *v = b == 1;
  return true;
}
bool ReadDurability(WireReader& r, Durability* d) {
  uint8_t b = 0;
  if (!r.U8(&b) || b > static_cast<uint8_t>(Durability::kBuffered)) return false;
  *d = static_cast<Durability>(b);
  return true;
}
bool ReadDirection(WireReader& r, Direction* d) {
  uint8_t b = 0;
  if (!r.U8(&b) || b > static_cast<uint8_t>(Direction::kBackward)) return false;
  *d = static_cast<Direction>(b);
  return true;
}
bool ReadString(WireReader& r, std::string* s) {
  std::string_view v;
  if (!r.Str16(&v)) return false;
  s->assign(v);
  return true;
}
void WriteKeys(const std::vector<std::string_view>& keys, WireWriter& w) {
  w.U32(static_cast<uint32_t>(keys.size()));
  for (auto k : keys) w.Str16(k);
}
bool ReadKeys(WireReader& r, std::vector<std::string_view>* keys) {
  uint32_t n = 0;
  if (!r.Count(&n, 2)) return false;
  keys->resize(n);
  for (auto& k : *keys) {
    if (!r.Str16(&k)) return false;
  }
  return true;
}
bool ReadAppendResult(WireReader& r, AppendResult* m) {
  return r.U64(&m->seq) && r.I64(&m->timestamp_ms) && ReadBool(r, &m->deduplicated);
}
bool ReadMessage(WireReader& r, Message* m) {
  std::string_view id, payload;
  if (!(r.U64(&m->seq) && r.I64(&m->timestamp_ms) && r.Str16(&id) && r.Bytes32(&payload))) {
    return false;
  }
  m->client_msg_id.assign(id);
  m->payload.assign(payload);
  return true;
}
// A TimelineRead record: last_seq u64, more bool, list<Message>; at least 13 bytes.
constexpr size_t kTimelineReadBytesMin = 13;
// A Message: seq u64, timestamp_ms i64, client_msg_id str16, payload bytes32; at least 22.
constexpr size_t kMessageBytesMin = 22;
bool ReadTimelineRead(WireReader& r, TimelineRead* m) {
  uint32_t n = 0;
  if (!(r.U64(&m->last_seq) && ReadBool(r, &m->more) && r.Count(&n, kMessageBytesMin))) {
    return false;
  }
  m->messages.resize(n);
  for (auto& msg : m->messages) {
    if (!ReadMessage(r, &msg)) return false;
  }
  return true;
}
// The NamespaceOptions record (37 bytes): ttl_ms, segment_bytes_max, durability,
// messages_per_timeline_max, compact_live_pct, compress_block_bytes, compress_level.
void WriteNsOptions(const NamespaceOptions& o, WireWriter& w) {
  w.U64(o.ttl_ms);
  w.U64(o.segment_bytes_max);
  w.U8(static_cast<uint8_t>(o.durability));
  w.U64(o.messages_per_timeline_max);
  w.U32(o.compact_live_pct);
  w.U32(o.compress_block_bytes);
  w.I32(o.compress_level);
}
bool ReadNsOptions(WireReader& r, NamespaceOptions* o) {
  return r.U64(&o->ttl_ms) && r.U64(&o->segment_bytes_max) && ReadDurability(r, &o->durability) &&
         r.U64(&o->messages_per_timeline_max) && r.U32(&o->compact_live_pct) &&
         r.U32(&o->compress_block_bytes) && r.I32(&o->compress_level);
}
bool ReadNamespaceInfo(WireReader& r, NamespaceInfo* m) {
  return ReadString(r, &m->name) && r.U32(&m->id) && ReadNsOptions(r, &m->options) &&
         r.U64(&m->timelines) && r.U64(&m->segments) && r.U64(&m->bytes_on_disk);
}
bool ReadMutationKind(WireReader& r, MutationKind* k) {
  uint8_t b = 0;
  if (!r.U8(&b) || b < static_cast<uint8_t>(MutationKind::kRecall) ||
      b > static_cast<uint8_t>(MutationKind::kDeleteTimeline)) {
    return false;
  }
  *k = static_cast<MutationKind>(b);
  return true;
}
bool ReadCompactState(WireReader& r, CompactState* s) {
  uint8_t b = 0;
  if (!r.U8(&b) || b > static_cast<uint8_t>(CompactState::kFailed)) return false;
  *s = static_cast<CompactState>(b);
  return true;
}
void WriteProgress(const CompactionProgress& p, WireWriter& w) {
  for (uint64_t v : {p.segments_total, p.segments_done, p.bytes_read, p.bytes_written,
                     p.records_kept, p.records_dropped, p.segments_expired}) {
    w.U64(v);
  }
}
bool ReadProgress(WireReader& r, CompactionProgress* p) {
  return r.U64(&p->segments_total) && r.U64(&p->segments_done) && r.U64(&p->bytes_read) &&
         r.U64(&p->bytes_written) && r.U64(&p->records_kept) && r.U64(&p->records_dropped) &&
         r.U64(&p->segments_expired);
}

}  // namespace

// ---------------------------------------------------------------- encoders

void Encode(const HelloRequest& m, WireWriter& w) {
  w.U8(m.version);
  w.Str16(m.client_name);
  w.Str16(m.token);
}
void Encode(const HelloResponse& m, WireWriter& w) {
  w.U8(m.version);
  w.Str16(m.server_name);
  w.U32(m.frame_body_bytes_max);
  w.U32(m.payload_bytes_max);
  w.U32(m.inflight_requests_max);
  w.U32(m.fanout_timelines_max);
  w.U32(m.wait_timeout_ms_max);
  w.U32(static_cast<uint32_t>(m.grants.size()));
  for (const auto& g : m.grants) {
    w.Str16(g.ns);
    w.U8(g.rights);
  }
}
void Encode(const AppendRequest& m, WireWriter& w) {
  w.Str16(m.ns);
  w.Str16(m.timeline);
  w.Str16(m.client_msg_id);
  w.U8(m.has_expected_last_seq ? 1 : 0);
  w.U64(m.expected_last_seq);
  w.U8(static_cast<uint8_t>(m.durability));
  w.Bytes32(m.payload);
}
void Encode(const AppendFanoutRequest& m, WireWriter& w) {
  w.Str16(m.ns);
  WriteKeys(m.timelines, w);
  w.Str16(m.client_msg_id);
  w.U8(static_cast<uint8_t>(m.durability));
  w.Bytes32(m.payload);
}
void Encode(const GetRequest& m, WireWriter& w) {
  w.Str16(m.ns);
  w.Str16(m.timeline);
  w.U64(m.seq);
}
void Encode(const ScanRequest& m, WireWriter& w) {
  w.Str16(m.ns);
  w.Str16(m.timeline);
  w.U64(m.from_seq);
  w.U64(m.to_seq);
  w.U8(static_cast<uint8_t>(m.direction));
  w.U32(m.limit);
  w.U32(m.bytes_max);
}
void Encode(const LastSeqRequest& m, WireWriter& w) {
  w.Str16(m.ns);
  WriteKeys(m.timelines, w);
}
void Encode(const WaitRequest& m, WireWriter& w) {
  w.Str16(m.ns);
  w.Str16(m.timeline);
  w.U64(m.after_seq);
  w.U32(m.timeout_ms);
  if (m.with_messages) {
    w.U32(m.limit);
    w.U32(m.bytes_max);
  }
}
void Encode(const WaitResponse& m, WireWriter& w) {
  w.U8(m.ready ? 1 : 0);
  w.U64(m.last_seq);
}
void Encode(const WaitMessagesResponse& m, WireWriter& w) {
  w.U8(m.ready ? 1 : 0);
  EncodeTimelineRead(m.read, w);
}
void Encode(const ReadMultiRequest& m, WireWriter& w) {
  w.Str16(m.ns);
  w.U32(m.timeline_limit);
  w.U32(m.limit);
  w.U32(m.bytes_max);
  w.U32(static_cast<uint32_t>(m.timelines.size()));
  for (const auto& e : m.timelines) {
    w.Str16(e.timeline);
    w.U64(e.after_seq);
  }
}
void Encode(const ReadMultiResponse& m, WireWriter& w) {
  w.U32(static_cast<uint32_t>(m.timelines.size()));
  for (const auto& t : m.timelines) EncodeTimelineRead(t, w);
}
void EncodeTimelineRead(const TimelineRead& m, WireWriter& w) {
  w.U64(m.last_seq);
  w.U8(m.more ? 1 : 0);
  EncodeMessages(m.messages, w);
}
void Encode(const SubscribeRequest& m, WireWriter& w) {
  w.Str16(m.ns);
  w.Str16(m.timeline);
  w.U64(m.after_seq);
  w.U8(m.flags);
}
void Encode(const SubscribeResponse& m, WireWriter& w) {
  w.U64(m.start_after);
  w.U64(m.last_seq);
}
void Encode(const UnsubscribeRequest& m, WireWriter& w) {
  w.U64(m.subscription_id);
}
void Encode(const NsCreateRequest& m, WireWriter& w) {
  w.Str16(m.name);
  WriteNsOptions(m.options, w);
}
void Encode(const NsDescribeRequest& m, WireWriter& w) {
  w.Str16(m.name);
}
void Encode(const StatsResponse& m, WireWriter& w) {
  w.U32(static_cast<uint32_t>(m.counters.size()));
  for (const auto& [name, value] : m.counters) {
    w.Str16(name);
    w.U64(value);
  }
  w.Str16(m.io_backend);
}
void Encode(const PingRequest& m, WireWriter& w) {
  w.Bytes32(m.data);
}
void Encode(const CursorSetRequest& m, WireWriter& w) {
  w.Str16(m.device);
  w.Str16(m.ns);
  w.Str16(m.timeline);
  w.U64(m.seq);
  w.U8(m.reset ? 1 : 0);
}
void Encode(const CursorSetResponse& m, WireWriter& w) {
  w.U64(m.cursor);
  w.U8(m.moved ? 1 : 0);
}
void Encode(const CursorGetRequest& m, WireWriter& w) {
  w.Str16(m.device);
  w.Str16(m.ns);
  WriteKeys(m.timelines, w);
}
void Encode(const ErrorBody& m, WireWriter& w) {
  w.U16(m.code);
  w.Str16(std::string_view(m.message).substr(0, kStr16BytesMax));
}
void Encode(const MutateRequest& m, WireWriter& w) {
  w.U8(static_cast<uint8_t>(m.kind));
  w.Str16(m.ns);
  w.Str16(m.timeline);
  w.U64(m.seq);
  w.U8(static_cast<uint8_t>(m.durability));
  w.Bytes32(m.payload);
}
void Encode(const NsSetOptionsRequest& m, WireWriter& w) {
  w.Str16(m.name);
  w.U16(m.mask);
  WriteNsOptions(m.options, w);
}
void Encode(const CompactRequest& m, WireWriter& w) {
  w.Str16(m.ns);
  w.U8(m.full ? 1 : 0);
}
void Encode(const CompactResponse& m, WireWriter& w) {
  w.U64(m.job_id);
}
void Encode(const CompactStatusRequest& m, WireWriter& w) {
  w.U64(m.job_id);
}
void Encode(const CompactStatusResponse& m, WireWriter& w) {
  w.U64(m.job_id);
  w.Str16(m.ns);
  w.U8(m.full ? 1 : 0);
  w.U8(static_cast<uint8_t>(m.state));
  w.U16(m.error_code);
  w.Str16(std::string_view(m.error_message).substr(0, kStr16BytesMax));
  WriteProgress(m.progress, w);
}
void EncodeMutationResult(const MutationResult& m, WireWriter& w) {
  w.U64(m.seq);
  w.U8(m.noop ? 1 : 0);
}
void EncodeAppendResult(const AppendResult& m, WireWriter& w) {
  w.U64(m.seq);
  w.I64(m.timestamp_ms);
  w.U8(m.deduplicated ? 1 : 0);
}
void EncodeAppendResults(const std::vector<AppendResult>& m, WireWriter& w) {
  w.U32(static_cast<uint32_t>(m.size()));
  for (const auto& r : m) EncodeAppendResult(r, w);
}
void EncodeMessage(const MessageView& m, WireWriter& w) {
  w.U64(m.seq);
  w.I64(m.timestamp_ms);
  w.Str16(m.client_msg_id);
  w.Bytes32(m.payload);
}
void EncodeMessage(const Message& m, WireWriter& w) {
  EncodeMessage(MessageView{m.seq, m.timestamp_ms, m.client_msg_id, m.payload}, w);
}
void EncodeMessages(const std::vector<Message>& m, WireWriter& w) {
  w.U32(static_cast<uint32_t>(m.size()));
  for (const auto& msg : m) EncodeMessage(msg, w);
}
void EncodeSeqs(const std::vector<Seq>& m, WireWriter& w) {
  w.U32(static_cast<uint32_t>(m.size()));
  for (Seq s : m) w.U64(s);
}
void EncodeNamespaceInfo(const NamespaceInfo& m, WireWriter& w) {
  w.Str16(m.name);
  w.U32(m.id);
  WriteNsOptions(m.options, w);
  w.U64(m.timelines);
  w.U64(m.segments);
  w.U64(m.bytes_on_disk);
}
void EncodeNamespaceInfos(const std::vector<NamespaceInfo>& m, WireWriter& w) {
  w.U32(static_cast<uint32_t>(m.size()));
  for (const auto& i : m) EncodeNamespaceInfo(i, w);
}
void EncodeCursorInfos(const std::vector<CursorInfo>& m, WireWriter& w) {
  w.U32(static_cast<uint32_t>(m.size()));
  for (const auto& c : m) {
    w.U64(c.cursor);
    w.U64(c.last_seq);
    w.U64(c.unread);
  }
}
void EncodePush(std::string_view ns, std::string_view timeline, const Message& m, WireWriter& w) {
  w.Str16(ns);
  w.Str16(timeline);
  EncodeMessage(m, w);
}

// ---------------------------------------------------------------- decoders

bool Decode(std::string_view body, HelloRequest* m) {
  WireReader r(body);
  r.U8(&m->version);
  r.Str16(&m->client_name);
  r.Str16(&m->token);
  return r.Done();
}
bool Decode(std::string_view body, HelloResponse* m) {
  WireReader r(body);
  uint32_t n = 0;
  if (!(r.U8(&m->version) && ReadString(r, &m->server_name) && r.U32(&m->frame_body_bytes_max) &&
        r.U32(&m->payload_bytes_max) && r.U32(&m->inflight_requests_max) &&
        r.U32(&m->fanout_timelines_max) && r.U32(&m->wait_timeout_ms_max) && r.Count(&n, 3))) {
    return false;
  }
  m->grants.resize(n);
  for (auto& g : m->grants) {
    if (!(ReadString(r, &g.ns) && r.U8(&g.rights))) return false;
  }
  return r.Done();
}
bool Decode(std::string_view body, AppendRequest* m) {
  WireReader r(body);
  return r.Str16(&m->ns) && r.Str16(&m->timeline) && r.Str16(&m->client_msg_id) &&
         ReadBool(r, &m->has_expected_last_seq) && r.U64(&m->expected_last_seq) &&
         ReadDurability(r, &m->durability) && r.Bytes32(&m->payload) && r.Done();
}
bool Decode(std::string_view body, AppendFanoutRequest* m) {
  WireReader r(body);
  return r.Str16(&m->ns) && ReadKeys(r, &m->timelines) && r.Str16(&m->client_msg_id) &&
         ReadDurability(r, &m->durability) && r.Bytes32(&m->payload) && r.Done();
}
bool Decode(std::string_view body, GetRequest* m) {
  WireReader r(body);
  return r.Str16(&m->ns) && r.Str16(&m->timeline) && r.U64(&m->seq) && r.Done();
}
bool Decode(std::string_view body, ScanRequest* m) {
  WireReader r(body);
  return r.Str16(&m->ns) && r.Str16(&m->timeline) && r.U64(&m->from_seq) && r.U64(&m->to_seq) &&
         ReadDirection(r, &m->direction) && r.U32(&m->limit) && r.U32(&m->bytes_max) && r.Done();
}
bool Decode(std::string_view body, LastSeqRequest* m) {
  WireReader r(body);
  return r.Str16(&m->ns) && ReadKeys(r, &m->timelines) && r.Done();
}
bool Decode(std::string_view body, WaitRequest* m) {
  WireReader r(body);
  if (!(r.Str16(&m->ns) && r.Str16(&m->timeline) && r.U64(&m->after_seq) &&
        r.U32(&m->timeout_ms))) {
    return false;
  }
  // The optional tail (limit, bytes_max): present or absent as a whole.
  m->with_messages = r.remaining() > 0;
  if (!m->with_messages) return r.Done();
  return r.U32(&m->limit) && r.U32(&m->bytes_max) && r.Done();
}
bool Decode(std::string_view body, WaitResponse* m) {
  WireReader r(body);
  return ReadBool(r, &m->ready) && r.U64(&m->last_seq) && r.Done();
}
bool Decode(std::string_view body, WaitMessagesResponse* m) {
  WireReader r(body);
  return ReadBool(r, &m->ready) && ReadTimelineRead(r, &m->read) && r.Done();
}
bool Decode(std::string_view body, ReadMultiRequest* m) {
  WireReader r(body);
  uint32_t n = 0;
  if (!(r.Str16(&m->ns) && r.U32(&m->timeline_limit) && r.U32(&m->limit) && r.U32(&m->bytes_max) &&
        r.Count(&n, 10))) {  // an entry: str16 + u64, at least 10 bytes
    return false;
  }
  m->timelines.resize(n);
  for (auto& e : m->timelines) {
    if (!(r.Str16(&e.timeline) && r.U64(&e.after_seq))) return false;
  }
  return r.Done();
}
bool Decode(std::string_view body, ReadMultiResponse* m) {
  WireReader r(body);
  uint32_t n = 0;
  if (!r.Count(&n, kTimelineReadBytesMin)) return false;
  m->timelines.resize(n);
  for (auto& t : m->timelines) {
    if (!ReadTimelineRead(r, &t)) return false;
  }
  return r.Done();
}
bool Decode(std::string_view body, SubscribeRequest* m) {
  WireReader r(body);
  return r.Str16(&m->ns) && r.Str16(&m->timeline) && r.U64(&m->after_seq) && r.U8(&m->flags) &&
         (m->flags & ~kSubscribeFromLatest) == 0 && r.Done();
}
bool Decode(std::string_view body, SubscribeResponse* m) {
  WireReader r(body);
  return r.U64(&m->start_after) && r.U64(&m->last_seq) && r.Done();
}
bool Decode(std::string_view body, UnsubscribeRequest* m) {
  WireReader r(body);
  return r.U64(&m->subscription_id) && r.Done();
}
bool Decode(std::string_view body, PushMessage* m) {
  WireReader r(body);
  return ReadString(r, &m->ns) && ReadString(r, &m->timeline) && ReadMessage(r, &m->message) &&
         r.Done();
}
bool Decode(std::string_view body, NsCreateRequest* m) {
  WireReader r(body);
  return r.Str16(&m->name) && ReadNsOptions(r, &m->options) && r.Done();
}
bool Decode(std::string_view body, NsDescribeRequest* m) {
  WireReader r(body);
  return r.Str16(&m->name) && r.Done();
}
bool Decode(std::string_view body, StatsResponse* m) {
  WireReader r(body);
  uint32_t n = 0;
  if (!r.Count(&n, 10)) return false;
  m->counters.resize(n);
  for (auto& [name, value] : m->counters) {
    if (!(ReadString(r, &name) && r.U64(&value))) return false;
  }
  return ReadString(r, &m->io_backend) && r.Done();
}
bool Decode(std::string_view body, PingRequest* m) {
  WireReader r(body);
  return r.Bytes32(&m->data) && r.Done();
}
bool Decode(std::string_view body, CursorSetRequest* m) {
  WireReader r(body);
  return r.Str16(&m->device) && r.Str16(&m->ns) && r.Str16(&m->timeline) && r.U64(&m->seq) &&
         ReadBool(r, &m->reset) && r.Done();
}
bool Decode(std::string_view body, CursorSetResponse* m) {
  WireReader r(body);
  return r.U64(&m->cursor) && ReadBool(r, &m->moved) && r.Done();
}
bool Decode(std::string_view body, CursorGetRequest* m) {
  WireReader r(body);
  return r.Str16(&m->device) && r.Str16(&m->ns) && ReadKeys(r, &m->timelines) && r.Done();
}
bool Decode(std::string_view body, ErrorBody* m) {
  WireReader r(body);
  return r.U16(&m->code) && ReadString(r, &m->message) && r.Done();
}
bool Decode(std::string_view body, MutateRequest* m) {
  WireReader r(body);
  return ReadMutationKind(r, &m->kind) && r.Str16(&m->ns) && r.Str16(&m->timeline) &&
         r.U64(&m->seq) && ReadDurability(r, &m->durability) && r.Bytes32(&m->payload) && r.Done();
}
bool Decode(std::string_view body, NsSetOptionsRequest* m) {
  WireReader r(body);
  return r.Str16(&m->name) && r.U16(&m->mask) && (m->mask & ~kNsOptionBitsKnown) == 0 &&
         ReadNsOptions(r, &m->options) && r.Done();
}
bool Decode(std::string_view body, CompactRequest* m) {
  WireReader r(body);
  return r.Str16(&m->ns) && ReadBool(r, &m->full) && r.Done();
}
bool Decode(std::string_view body, CompactResponse* m) {
  WireReader r(body);
  return r.U64(&m->job_id) && r.Done();
}
bool Decode(std::string_view body, CompactStatusRequest* m) {
  WireReader r(body);
  return r.U64(&m->job_id) && r.Done();
}
bool Decode(std::string_view body, CompactStatusResponse* m) {
  WireReader r(body);
  return r.U64(&m->job_id) && ReadString(r, &m->ns) && ReadBool(r, &m->full) &&
         ReadCompactState(r, &m->state) && r.U16(&m->error_code) &&
         ReadString(r, &m->error_message) && ReadProgress(r, &m->progress) && r.Done();
}
bool DecodeMutationResult(std::string_view body, MutationResult* m) {
  WireReader r(body);
  return r.U64(&m->seq) && ReadBool(r, &m->noop) && r.Done();
}
bool DecodeAppendResult(std::string_view body, AppendResult* m) {
  WireReader r(body);
  return ReadAppendResult(r, m) && r.Done();
}
bool DecodeAppendResults(std::string_view body, std::vector<AppendResult>* m) {
  WireReader r(body);
  uint32_t n = 0;
  if (!r.Count(&n, 17)) return false;
  m->resize(n);
  for (auto& a : *m) {
    if (!ReadAppendResult(r, &a)) return false;
  }
  return r.Done();
}
bool DecodeMessage(std::string_view body, Message* m) {
  WireReader r(body);
  return ReadMessage(r, m) && r.Done();
}
bool DecodeMessages(std::string_view body, std::vector<Message>* m) {
  WireReader r(body);
  uint32_t n = 0;
  if (!r.Count(&n, 22)) return false;
  m->resize(n);
  for (auto& msg : *m) {
    if (!ReadMessage(r, &msg)) return false;
  }
  return r.Done();
}
bool DecodeSeqs(std::string_view body, std::vector<Seq>* m) {
  WireReader r(body);
  uint32_t n = 0;
  if (!r.Count(&n, 8)) return false;
  m->resize(n);
  for (auto& s : *m) {
    if (!r.U64(&s)) return false;
  }
  return r.Done();
}
bool DecodeNamespaceInfo(std::string_view body, NamespaceInfo* m) {
  WireReader r(body);
  return ReadNamespaceInfo(r, m) && r.Done();
}
bool DecodeNamespaceInfos(std::string_view body, std::vector<NamespaceInfo>* m) {
  WireReader r(body);
  uint32_t n = 0;
  if (!r.Count(&n, 67)) return false;
  m->resize(n);
  for (auto& i : *m) {
    if (!ReadNamespaceInfo(r, &i)) return false;
  }
  return r.Done();
}
bool DecodeCursorInfos(std::string_view body, std::vector<CursorInfo>* m) {
  WireReader r(body);
  uint32_t n = 0;
  if (!r.Count(&n, 24)) return false;
  m->resize(n);
  for (auto& c : *m) {
    if (!(r.U64(&c.cursor) && r.U64(&c.last_seq) && r.U64(&c.unread))) return false;
  }
  return r.Done();
}

bool DecodeAnyRequest(uint8_t op, std::string_view body) {
  switch (static_cast<Op>(op)) {
    case Op::kHello: {
      HelloRequest m;
      return Decode(body, &m);
    }
    case Op::kPing: {
      PingRequest m;
      return Decode(body, &m);
    }
    case Op::kStats:
    case Op::kNsList:
    case Op::kClusterMap:
      return DecodeEmpty(body);
    case Op::kAppend: {
      AppendRequest m;
      return Decode(body, &m);
    }
    case Op::kAppendFanout: {
      AppendFanoutRequest m;
      return Decode(body, &m);
    }
    case Op::kGet: {
      GetRequest m;
      return Decode(body, &m);
    }
    case Op::kScan: {
      ScanRequest m;
      return Decode(body, &m);
    }
    case Op::kLastSeq: {
      LastSeqRequest m;
      return Decode(body, &m);
    }
    case Op::kReadMulti: {
      ReadMultiRequest m;
      return Decode(body, &m);
    }
    case Op::kWait: {
      WaitRequest m;
      return Decode(body, &m);
    }
    case Op::kSubscribe: {
      SubscribeRequest m;
      return Decode(body, &m);
    }
    case Op::kUnsubscribe: {
      UnsubscribeRequest m;
      return Decode(body, &m);
    }
    case Op::kNsCreate: {
      NsCreateRequest m;
      return Decode(body, &m);
    }
    case Op::kNsDescribe: {
      NsDescribeRequest m;
      return Decode(body, &m);
    }
    case Op::kCursorSet: {
      CursorSetRequest m;
      return Decode(body, &m);
    }
    case Op::kCursorGet: {
      CursorGetRequest m;
      return Decode(body, &m);
    }
    case Op::kMutate: {
      MutateRequest m;
      return Decode(body, &m);
    }
    case Op::kNsSetOptions: {
      NsSetOptionsRequest m;
      return Decode(body, &m);
    }
    case Op::kCompact: {
      CompactRequest m;
      return Decode(body, &m);
    }
    case Op::kCompactStatus: {
      CompactStatusRequest m;
      return Decode(body, &m);
    }
    case Op::kBackupOpen:
    case Op::kBackupRead:
    case Op::kBackupClose:
      return DecodeBackupRequest(op, body);
    case Op::kPushMessage:
      return false;
  }
  return false;
}

void FillNamespaceDefaults(NamespaceOptions* o) {
  const NamespaceOptions d;
  if (o->segment_bytes_max == 0) o->segment_bytes_max = d.segment_bytes_max;
  if (o->compact_live_pct == 0) o->compact_live_pct = d.compact_live_pct;
  if (o->compress_block_bytes == 0) o->compress_block_bytes = d.compress_block_bytes;
  if (o->compress_level == 0) o->compress_level = d.compress_level;
  if (o->durability == Durability::kDefault) o->durability = d.durability;
}

void ApplyNsOptions(uint16_t mask, const NamespaceOptions& from, NamespaceOptions* to) {
  if (mask & kOptTtlMs) to->ttl_ms = from.ttl_ms;
  if (mask & kOptMessagesPerTimelineMax) {
    to->messages_per_timeline_max = from.messages_per_timeline_max;
  }
  if (mask & kOptCompactLivePct) to->compact_live_pct = from.compact_live_pct;
  if (mask & kOptCompressBlockBytes) to->compress_block_bytes = from.compress_block_bytes;
  if (mask & kOptCompressLevel) to->compress_level = from.compress_level;
  if (mask & kOptDurability) to->durability = from.durability;
  if (mask & kOptSegmentBytesMax) to->segment_bytes_max = from.segment_bytes_max;
}

}  // namespace tldb::proto
