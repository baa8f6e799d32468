// Messages: the body of every request and response of the tldb protocol, with encoders and
// strict decoders.
//
// Contract: Decode*() accept a body only if it is exactly one well-formed message (no trailing
// bytes, enum fields in range, counts that fit in the body); on false the output is
// unspecified. Request structs hold views into the decoded body (valid while the frame is);
// response structs own their data. Encoders do not validate semantic limits (key lengths,
// payload size): the server and client check those before encoding or after decoding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/codes.h"
#include "protocol/wire.h"
#include "tldb/db.h"
#include "tldb/types.h"

namespace tldb::proto {

// Namespace rights bits, as announced in HELLO and checked per request. Admin (namespace
// options, compaction) is granted only together with read and write.
enum Right : uint8_t { kRightRead = 1, kRightWrite = 2, kRightAdmin = 4 };

struct HelloRequest {
  uint8_t version = kVersion;
  std::string_view client_name;
  std::string_view token;  // empty: anonymous
};
struct NsGrant {
  std::string ns;  // "*" = every namespace
  uint8_t rights = 0;
};
struct HelloResponse {
  uint8_t version = kVersion;
  std::string server_name;
  uint32_t frame_body_bytes_max = 0;
  uint32_t payload_bytes_max = 0;
  uint32_t inflight_requests_max = 0;
  uint32_t fanout_timelines_max = 0;
  uint32_t wait_timeout_ms_max = 0;
  std::vector<NsGrant> grants;
};

struct AppendRequest {
  std::string_view ns, timeline, client_msg_id;
  bool has_expected_last_seq = false;
  Seq expected_last_seq = 0;
  Durability durability = Durability::kDefault;
  std::string_view payload;
};
struct AppendFanoutRequest {
  std::string_view ns;
  std::vector<std::string_view> timelines;
  std::string_view client_msg_id;
  Durability durability = Durability::kDefault;
  std::string_view payload;
};
struct GetRequest {
  std::string_view ns, timeline;
  Seq seq = 0;
};
struct ScanRequest {
  std::string_view ns, timeline;
  Seq from_seq = 0, to_seq = 0;
  Direction direction = Direction::kForward;
  uint32_t limit = 100;
  uint32_t bytes_max = 1u << 20;
};
struct LastSeqRequest {
  std::string_view ns;
  std::vector<std::string_view> timelines;
};
// READ_MULTI (0x23): one (timeline, after_seq) pair of the request.
struct ReadMultiEntry {
  std::string_view timeline;
  Seq after_seq = 0;  // read the messages with seq > after_seq
};
struct ReadMultiRequest {
  std::string_view ns;
  uint32_t timeline_limit = 0;  // messages per timeline (0: kReadMessagesDefault)
  uint32_t limit = 0;           // messages in the whole answer (0: kReadMessagesMax)
  uint32_t bytes_max = 0;       // payload bytes in the whole answer (0: the server's cap)
  std::vector<ReadMultiEntry> timelines;
};
// What a read returned for one timeline (READ_MULTI entry; WAIT with messages).
struct TimelineRead {
  Seq last_seq = 0;               // the timeline's last seq when it was read (0: no such timeline)
  bool more = false;              // a limit cut the messages short: read again after the last one
  std::vector<Message> messages;  // seq > after_seq, oldest first
};
struct ReadMultiResponse {
  std::vector<TimelineRead> timelines;  // in request order
};
// WAIT (0x30). The trailing limit and bytes_max are optional on the wire: a request that has
// them (with_messages) is answered with a WaitMessagesResponse, one without with a WaitResponse.
struct WaitRequest {
  std::string_view ns, timeline;
  Seq after_seq = 0;
  uint32_t timeout_ms = 0;
  bool with_messages = false;
  uint32_t limit = 0;      // with_messages: messages (0: kReadMessagesDefault)
  uint32_t bytes_max = 0;  // with_messages: payload bytes (0: the server's cap)
};
struct WaitResponse {
  bool ready = false;  // true: last_seq > after_seq; false: the timeout passed
  Seq last_seq = 0;
};
struct WaitMessagesResponse {
  bool ready = false;  // as WaitResponse::ready
  TimelineRead read;   // read.last_seq as WaitResponse::last_seq; messages only when ready
};
enum SubscribeFlag : uint8_t { kSubscribeFromLatest = 1 };
struct SubscribeRequest {
  std::string_view ns, timeline;
  Seq after_seq = 0;  // push every message with seq > after_seq (ignored with kFromLatest)
  uint8_t flags = 0;
};
struct SubscribeResponse {
  Seq start_after = 0;  // pushes start with start_after + 1
  Seq last_seq = 0;     // the timeline's last SeqId when the subscription began
};
struct UnsubscribeRequest {
  uint64_t subscription_id = 0;  // the request id of the SUBSCRIBE
};
struct PushMessage {
  std::string ns, timeline;
  Message message;
};
struct NsCreateRequest {
  std::string_view name;
  NamespaceOptions options;
};
struct NsDescribeRequest {
  std::string_view name;
};
struct StatsResponse {
  std::vector<std::pair<std::string, uint64_t>> counters;
  std::string io_backend;
};
struct PingRequest {
  std::string_view data;
};
struct CursorSetRequest {
  std::string_view device, ns, timeline;
  Seq seq = 0;
  bool reset = false;  // allow moving backward
};
struct CursorSetResponse {
  Seq cursor = 0;      // the stored cursor after the call
  bool moved = false;  // false: the request was behind the stored cursor, nothing written
};
struct CursorGetRequest {
  std::string_view device, ns;
  std::vector<std::string_view> timelines;
};
struct CursorInfo {
  Seq cursor = 0;
  Seq last_seq = 0;
  uint64_t unread = 0;  // last_seq - cursor, 0 when the cursor is ahead
};
struct ErrorBody {
  uint16_t code = 0;
  std::string message;
};
// MUTATE (0x60): recall, edit, trim or delete-timeline; the response is a MutationResult.
struct MutateRequest {
  MutationKind kind = MutationKind::kRecall;
  std::string_view ns, timeline;
  Seq seq = 0;
  Durability durability = Durability::kDefault;
  std::string_view payload;  // kEdit only (empty otherwise)
};
// NS_SET_OPTIONS (0x61): which NamespaceOptions fields the request changes.
enum NsOptionBit : uint16_t {
  kOptTtlMs = 1 << 0,
  kOptMessagesPerTimelineMax = 1 << 1,
  kOptCompactLivePct = 1 << 2,
  kOptCompressBlockBytes = 1 << 3,
  kOptCompressLevel = 1 << 4,
  kOptDurability = 1 << 5,
  kOptSegmentBytesMax = 1 << 6,
};
inline constexpr uint16_t kNsOptionBitsKnown = 0x7F;
struct NsSetOptionsRequest {
  std::string_view name;
  uint16_t mask = 0;         // NsOptionBit set; fields outside it are ignored
  NamespaceOptions options;  // the new values of the masked fields
};
// Wire zeros mean "the engine's default" for every option (NS_CREATE, NS_SET_OPTIONS):
// segment_bytes_max, compact_live_pct, compress_block_bytes and compress_level 0, durability 0
// (sync). For ttl_ms and messages_per_timeline_max the default is 0 itself (none).
void FillNamespaceDefaults(NamespaceOptions* o);
// Copies the fields of `from` selected by `mask` into `to`.
void ApplyNsOptions(uint16_t mask, const NamespaceOptions& from, NamespaceOptions* to);
// COMPACT (0x62): queue a compaction; the response is its job id (COMPACT_STATUS polls it).
struct CompactRequest {
  std::string_view ns;  // empty: every namespace
  bool full = false;    // seal the active segment and rewrite every segment (docs/protocol.md)
};
struct CompactResponse {
  uint64_t job_id = 0;
};
struct CompactStatusRequest {
  uint64_t job_id = 0;  // 0: the most recent job
};
enum class CompactState : uint8_t { kQueued = 0, kRunning = 1, kDone = 2, kFailed = 3 };
struct CompactStatusResponse {
  uint64_t job_id = 0;
  std::string ns;
  bool full = false;
  CompactState state = CompactState::kQueued;
  uint16_t error_code = 0;  // kFailed: the engine's Status code
  std::string error_message;
  CompactionProgress progress;
};

// --- encoders (append to w) ---
void Encode(const HelloRequest& m, WireWriter& w);
void Encode(const HelloResponse& m, WireWriter& w);
void Encode(const AppendRequest& m, WireWriter& w);
void Encode(const AppendFanoutRequest& m, WireWriter& w);
void Encode(const GetRequest& m, WireWriter& w);
void Encode(const ScanRequest& m, WireWriter& w);
void Encode(const LastSeqRequest& m, WireWriter& w);
void Encode(const WaitRequest& m, WireWriter& w);
void Encode(const WaitResponse& m, WireWriter& w);
void Encode(const WaitMessagesResponse& m, WireWriter& w);
void Encode(const ReadMultiRequest& m, WireWriter& w);
void Encode(const ReadMultiResponse& m, WireWriter& w);
void EncodeTimelineRead(const TimelineRead& m, WireWriter& w);
void Encode(const SubscribeRequest& m, WireWriter& w);
void Encode(const SubscribeResponse& m, WireWriter& w);
void Encode(const UnsubscribeRequest& m, WireWriter& w);
void Encode(const NsCreateRequest& m, WireWriter& w);
void Encode(const NsDescribeRequest& m, WireWriter& w);
void Encode(const StatsResponse& m, WireWriter& w);
void Encode(const PingRequest& m, WireWriter& w);
void Encode(const CursorSetRequest& m, WireWriter& w);
void Encode(const CursorSetResponse& m, WireWriter& w);
void Encode(const CursorGetRequest& m, WireWriter& w);
void Encode(const ErrorBody& m, WireWriter& w);
void Encode(const MutateRequest& m, WireWriter& w);
void Encode(const NsSetOptionsRequest& m, WireWriter& w);
void Encode(const CompactRequest& m, WireWriter& w);
void Encode(const CompactResponse& m, WireWriter& w);
void Encode(const CompactStatusRequest& m, WireWriter& w);
void Encode(const CompactStatusResponse& m, WireWriter& w);
void EncodeMutationResult(const MutationResult& m, WireWriter& w);
void EncodeAppendResult(const AppendResult& m, WireWriter& w);
void EncodeAppendResults(const std::vector<AppendResult>& m, WireWriter& w);
void EncodeMessage(const Message& m, WireWriter& w);
void EncodeMessage(const MessageView& m, WireWriter& w);  // the same bytes as a Message's
void EncodeMessages(const std::vector<Message>& m, WireWriter& w);
void EncodeSeqs(const std::vector<Seq>& m, WireWriter& w);
void EncodeNamespaceInfo(const NamespaceInfo& m, WireWriter& w);
void EncodeNamespaceInfos(const std::vector<NamespaceInfo>& m, WireWriter& w);
void EncodeCursorInfos(const std::vector<CursorInfo>& m, WireWriter& w);
void EncodePush(std::string_view ns, std::string_view timeline, const Message& m, WireWriter& w);

// --- decoders (whole body) ---
bool Decode(std::string_view body, HelloRequest* m);
bool Decode(std::string_view body, HelloResponse* m);
bool Decode(std::string_view body, AppendRequest* m);
bool Decode(std::string_view body, AppendFanoutRequest* m);
bool Decode(std::string_view body, GetRequest* m);
bool Decode(std::string_view body, ScanRequest* m);
bool Decode(std::string_view body, LastSeqRequest* m);
bool Decode(std::string_view body, WaitRequest* m);
bool Decode(std::string_view body, WaitResponse* m);
bool Decode(std::string_view body, WaitMessagesResponse* m);
bool Decode(std::string_view body, ReadMultiRequest* m);
bool Decode(std::string_view body, ReadMultiResponse* m);
bool Decode(std::string_view body, SubscribeRequest* m);
bool Decode(std::string_view body, SubscribeResponse* m);
bool Decode(std::string_view body, UnsubscribeRequest* m);
bool Decode(std::string_view body, PushMessage* m);
bool Decode(std::string_view body, NsCreateRequest* m);
bool Decode(std::string_view body, NsDescribeRequest* m);
bool Decode(std::string_view body, StatsResponse* m);
bool Decode(std::string_view body, PingRequest* m);
bool Decode(std::string_view body, CursorSetRequest* m);
bool Decode(std::string_view body, CursorSetResponse* m);
bool Decode(std::string_view body, CursorGetRequest* m);
bool Decode(std::string_view body, ErrorBody* m);
bool Decode(std::string_view body, MutateRequest* m);
bool Decode(std::string_view body, NsSetOptionsRequest* m);
bool Decode(std::string_view body, CompactRequest* m);
bool Decode(std::string_view body, CompactResponse* m);
bool Decode(std::string_view body, CompactStatusRequest* m);
bool Decode(std::string_view body, CompactStatusResponse* m);
bool DecodeMutationResult(std::string_view body, MutationResult* m);
bool DecodeAppendResult(std::string_view body, AppendResult* m);
bool DecodeAppendResults(std::string_view body, std::vector<AppendResult>* m);
bool DecodeMessage(std::string_view body, Message* m);
bool DecodeMessages(std::string_view body, std::vector<Message>* m);
bool DecodeSeqs(std::string_view body, std::vector<Seq>* m);
bool DecodeNamespaceInfo(std::string_view body, NamespaceInfo* m);
bool DecodeNamespaceInfos(std::string_view body, std::vector<NamespaceInfo>* m);
bool DecodeCursorInfos(std::string_view body, std::vector<CursorInfo>* m);
// Empty bodies (PING without data is not empty; NS_LIST, STATS requests, UNSUBSCRIBE response).
inline bool DecodeEmpty(std::string_view body) {
  return body.empty();
}

// Decodes the body of any request opcode and discards it: the fuzzer's and tests' entry point.
bool DecodeAnyRequest(uint8_t op, std::string_view body);

}  // namespace tldb::proto
