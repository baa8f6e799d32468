// Wire constants of the tldb protocol: magic, version, opcodes, flags, error codes and limits.
//
// Contract: every number here is part of docs/protocol.md and never changes meaning once
// released. New opcodes take unused numbers; ranges are reserved per family so that related
// operations stay together (0x60-0x6F: maintenance, 0x70-0x7F: administration).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tldb::proto {

// "TL" in ASCII, stored little-endian: the first two bytes of every frame are 0x54 0x4C.
inline constexpr uint16_t kMagic = 0x4C54;
// The only protocol version so far. A frame with another version is refused.
inline constexpr uint8_t kVersion = 1;
// Fixed frame header: magic u16, version u8, opcode u8, flags u16, reserved u16,
// request_id u64, body_length u32.
inline constexpr size_t kHeaderBytes = 20;
// Default largest frame body. 4 MiB: four times the default message size ceiling (1 MiB) so a
// full-size append plus its keys fits, small enough that one frame cannot hog a loop thread.
inline constexpr uint32_t kFrameBodyBytesMaxDefault = 4u << 20;
// Absolute ceiling for a configured frame limit: a record cannot exceed 16 MiB in the engine.
inline constexpr uint32_t kFrameBodyBytesCeiling = 64u << 20;
// Longest WAIT the server accepts: long-polls above a minute are cut by proxies anyway.
inline constexpr uint32_t kWaitTimeoutMsMax = 60'000;
// Reads (SCAN, READ_MULTI, WAIT with messages): messages per timeline when a request asks for 0,
// a page a device shows at once.
inline constexpr uint32_t kReadMessagesDefault = 100;
// The most messages one read answer carries; a larger request is capped. With at most 86
// bytes besides the payload per message (seq, timestamp, lengths, a 64-byte client_msg_id)
// 10,000 messages add under 1 MiB to the payload bytes, which are capped at half the frame
// limit, so an answer fits in one frame.
inline constexpr uint32_t kReadMessagesMax = 10'000;
// Longest string field (u16 length prefix).
inline constexpr uint32_t kStr16BytesMax = 0xFFFF;

enum class Op : uint8_t {
  kHello = 0x01,
  kPing = 0x02,
  kStats = 0x03,
  kAppend = 0x10,
  kAppendFanout = 0x11,
  kGet = 0x20,
  kScan = 0x21,
  kLastSeq = 0x22,
  kReadMulti = 0x23,  // the messages after a seq of many timelines, in one answer
  kWait = 0x30,
  kSubscribe = 0x31,
  kUnsubscribe = 0x32,
  kPushMessage = 0x33,  // server -> client only, flag kPush
  kNsCreate = 0x40,
  kNsList = 0x41,
  kNsDescribe = 0x42,
  kCursorSet = 0x50,
  kCursorGet = 0x51,
  // 0x60-0x6F: maintenance (recall/edit/trim/delete, namespace options, compaction).
  kMutate = 0x60,
  kNsSetOptions = 0x61,
  kCompact = 0x62,
  kCompactStatus = 0x63,
  // 0x70-0x7F: administration. Online backup (backup_messages.h, docs/protocol.md "Online
  // backup").
  kBackupOpen = 0x70,
  kBackupRead = 0x71,
  kBackupClose = 0x72,
  // The sharded cluster's slot map (slot_map.h, docs/protocol.md "CLUSTER_MAP").
  kClusterMap = 0x73,
};

// Returns true for opcodes this version knows (push included).
bool IsKnownOp(uint8_t op);
std::string_view OpName(uint8_t op);

enum Flag : uint16_t {
  kFlagResponse = 1 << 0,  // set on every server -> client frame answering a request
  kFlagError = 1 << 1,     // the body is an error body (code u16, message str16)
  kFlagPush = 1 << 2,      // server-initiated frame (subscription delivery)
  kFlagFatal = 1 << 3,     // the server closes the connection after this frame
};
inline constexpr uint16_t kFlagsKnown = kFlagResponse | kFlagError | kFlagPush | kFlagFatal;

// Error codes: 0-63 are tldb::Status::Code values (engine errors, same numbers); 64 and up are
// protocol-level errors raised by the server itself.
enum class ErrorCode : uint16_t {
  // Engine codes 0..15: see tldb/status.h.
  kMalformedFrame = 64,      // fatal: bad magic, reserved bits, truncated or trailing body
  kUnknownOpcode = 65,       // fatal
  kUnsupportedVersion = 66,  // fatal
  kHandshakeRequired = 67,   // fatal: first frame was not HELLO
  kAuthFailed = 68,          // fatal: unknown token, or token required
  kFrameTooLarge = 69,       // fatal: body_length above the announced limit
  kTooManyConnections = 70,  // fatal: sent on accept, then closed
  kShuttingDown = 71,        // the server is stopping; retry elsewhere or later
  kTimedOutConnection = 72,  // fatal: idle timeout or frame-completion deadline passed
  kSlowConsumer = 73,        // fatal: output buffer limit or send stall
};
inline constexpr uint16_t kFirstProtocolError = 64;
std::string_view ErrorName(uint16_t code);

}  // namespace tldb::proto
