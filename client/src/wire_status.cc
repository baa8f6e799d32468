#include "wire_status.h"

#include <string>

#include "protocol/codes.h"
#include "tldb/client.h"

namespace tldb {

std::string StatusText(const Status& s) {
  return s.ToString();
}

Status StatusFromWire(uint16_t code, std::string_view message) {
  std::string msg(message);
  if (code < proto::kFirstProtocolError) {
    if (code == 0 || code > static_cast<uint16_t>(Status::Code::kMoved)) {
      return Status::Corruption("server sent error code " + std::to_string(code) + ": " + msg);
    }
    return Status(static_cast<Status::Code>(code), msg);
  }
  std::string text = std::string(proto::ErrorName(code)) + ": " + msg;
  switch (static_cast<proto::ErrorCode>(code)) {
    case proto::ErrorCode::kHandshakeRequired:
    case proto::ErrorCode::kAuthFailed:
      return Status::PermissionDenied(text);
    case proto::ErrorCode::kTooManyConnections:
    case proto::ErrorCode::kSlowConsumer:
      return Status::Busy(text);
    case proto::ErrorCode::kShuttingDown:
      return Status::Closed(text);
    case proto::ErrorCode::kTimedOutConnection:
      return Status::TimedOut(text);
    case proto::ErrorCode::kUnknownOpcode:
    case proto::ErrorCode::kUnsupportedVersion:
      return Status::NotSupported(text);
    default:
      return Status::InvalidArgument(text);
  }
}

}  // namespace tldb
