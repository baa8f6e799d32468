#include "wire_status.h"

#include <array>
#include <string>

#include "protocol/codes.h"
#include "tldb/client.h"

namespace tldb {

namespace {

// Indexed by Status::Code (numbers fixed by the wire protocol, docs/protocol.md).
constexpr std::array<std::string_view, 14> kCodeNames = {"OK",
                                                         "NotFound",
                                                         "InvalidArgument",
                                                         "Corruption",
                                                         "IOError",
                                                         "NoSpace",
                                                         "Conflict",
                                                         "Busy",
                                                         "Deleted",
                                                         "NotSupported",
                                                         "Closed",
                                                         "AlreadyExists",
                                                         "PermissionDenied",
                                                         "TimedOut"};
static_assert(kCodeNames.size() == static_cast<size_t>(Status::Code::kTimedOut) + 1);

}  // namespace

std::string StatusText(const Status& s) {
  if (s.ok()) return "OK";
  const auto code = static_cast<size_t>(s.code());
  std::string out(code < kCodeNames.size() ? kCodeNames[code] : "Unknown");
  if (!s.message().empty()) {
    out += ": ";
    out += s.message();
  }
  return out;
}

Status StatusFromWire(uint16_t code, std::string_view message) {
  std::string msg(message);
  if (code < proto::kFirstProtocolError) {
    if (code == 0 || code > static_cast<uint16_t>(Status::Code::kTimedOut)) {
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
