#include "protocol/codes.h"

namespace tldb::proto {

bool IsKnownOp(uint8_t op) {
  return OpName(op) != "UNKNOWN";
}

std::string_view OpName(uint8_t op) {
  switch (static_cast<Op>(op)) {
    case Op::kHello:
      return "HELLO";
    case Op::kPing:
      return "PING";
    case Op::kStats:
      return "STATS";
    case Op::kAppend:
      return "APPEND";
    case Op::kAppendFanout:
      return "APPEND_FANOUT";
    case Op::kGet:
      return "GET";
    case Op::kScan:
      return "SCAN";
    case Op::kLastSeq:
      return "LAST_SEQ";
    case Op::kReadMulti:
      return "READ_MULTI";
    case Op::kWait:
      return "WAIT";
    case Op::kSubscribe:
      return "SUBSCRIBE";
    case Op::kUnsubscribe:
      return "UNSUBSCRIBE";
    case Op::kPushMessage:
      return "PUSH_MESSAGE";
    case Op::kNsCreate:
      return "NS_CREATE";
    case Op::kNsList:
      return "NS_LIST";
    case Op::kNsDescribe:
      return "NS_DESCRIBE";
    case Op::kCursorSet:
      return "CURSOR_SET";
    case Op::kCursorGet:
      return "CURSOR_GET";
    case Op::kMutate:
      return "MUTATE";
    case Op::kNsSetOptions:
      return "NS_SET_OPTIONS";
    case Op::kCompact:
      return "COMPACT";
    case Op::kCompactStatus:
      return "COMPACT_STATUS";
    case Op::kBackupOpen:
      return "BACKUP_OPEN";
    case Op::kBackupRead:
      return "BACKUP_READ";
    case Op::kBackupClose:
      return "BACKUP_CLOSE";
    case Op::kClusterMap:
      return "CLUSTER_MAP";
  }
  return "UNKNOWN";
}

std::string_view ErrorName(uint16_t code) {
  static constexpr std::string_view kEngine[] = {"OK",
                                                 "NOT_FOUND",
                                                 "INVALID_ARGUMENT",
                                                 "CORRUPTION",
                                                 "IO_ERROR",
                                                 "NO_SPACE",
                                                 "CONFLICT",
                                                 "BUSY",
                                                 "DELETED",
                                                 "NOT_SUPPORTED",
                                                 "CLOSED",
                                                 "ALREADY_EXISTS",
                                                 "PERMISSION_DENIED",
                                                 "TIMED_OUT",
                                                 "NOT_PRIMARY",
                                                 "CLIENT_MSG_ID_REUSED",
                                                 "MOVED"};
  if (code < sizeof(kEngine) / sizeof(kEngine[0])) return kEngine[code];
  switch (static_cast<ErrorCode>(code)) {
    case ErrorCode::kMalformedFrame:
      return "MALFORMED_FRAME";
    case ErrorCode::kUnknownOpcode:
      return "UNKNOWN_OPCODE";
    case ErrorCode::kUnsupportedVersion:
      return "UNSUPPORTED_VERSION";
    case ErrorCode::kHandshakeRequired:
      return "HANDSHAKE_REQUIRED";
    case ErrorCode::kAuthFailed:
      return "AUTH_FAILED";
    case ErrorCode::kFrameTooLarge:
      return "FRAME_TOO_LARGE";
    case ErrorCode::kTooManyConnections:
      return "TOO_MANY_CONNECTIONS";
    case ErrorCode::kShuttingDown:
      return "SHUTTING_DOWN";
    case ErrorCode::kTimedOutConnection:
      return "CONNECTION_TIMED_OUT";
    case ErrorCode::kSlowConsumer:
      return "SLOW_CONSUMER";
  }
  return "UNKNOWN_ERROR";
}

}  // namespace tldb::proto
