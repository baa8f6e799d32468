// Status and Result: errors are values (after LevelDB's include/leveldb/status.h).
//
// Contract: every fallible engine call returns a [[nodiscard]] Status or Result<T>. A Status is
// either OK or carries a Code plus a human-readable message that names what went wrong (file,
// offset, argument). Engine code never throws; errno is mapped to a Status in exactly one place
// (engine/src/io/errno_status.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tldb {

class [[nodiscard]] Status {
 public:
  // Numeric values are part of the wire protocol (docs/protocol.md): never renumber.
  enum class Code : uint8_t {
    kOk = 0,
    kNotFound = 1,         // no such message / timeline / namespace
    kInvalidArgument = 2,  // caller error: bad key, oversize payload, seq 0, ...
    kCorruption = 3,       // checksum mismatch or malformed data before the durable point
    kIOError = 4,          // the OS reported an error (EIO, ...)
    kNoSpace = 5,          // ENOSPC / EDQUOT: retriable once space is freed
    kConflict = 6,         // expected_last_seq did not match
    kBusy = 7,             // a limit was hit (queue full, too many requests); retriable
    kDeleted = 8,          // the message existed and was deleted/recalled
    kNotSupported = 9,     // e.g. io_uring refused by the kernel
    kClosed = 10,          // the Db is closing or closed
    kAlreadyExists = 11,   // namespace already exists with other options
    kPermissionDenied = 12,
    kTimedOut = 13,
    kNotPrimary = 14,  // a replica that is not its partition's primary refused a write
    // An append reused a client_msg_id that its timeline already holds for another message
    // (other payload, other fan-out targets, or the other kind of append): a client bug.
    kClientMsgIdReused = 15,
    // Sharded cluster: this server does not serve the slot of the request's timeline at the
    // current slot map version; the message names the slot, the version and where to go
    // ("slot=S version=V partition=P address=HOST:PORT", docs/cluster.md "Redirects").
    kMoved = 16,
  };

  Status() = default;  // OK
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}

  static Status Ok() { return {}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
  static Status Busy(std::string m) { return {Code::kBusy, std::move(m)}; }
  static Status Deleted(std::string m) { return {Code::kDeleted, std::move(m)}; }
  static Status NotSupported(std::string m) { return {Code::kNotSupported, std::move(m)}; }
  static Status Closed(std::string m) { return {Code::kClosed, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status TimedOut(std::string m) { return {Code::kTimedOut, std::move(m)}; }
  static Status NotPrimary(std::string m) { return {Code::kNotPrimary, std::move(m)}; }
  static Status ClientMsgIdReused(std::string m) {
    return {Code::kClientMsgIdReused, std::move(m)};
  }
  static Status Moved(std::string m) { return {Code::kMoved, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }

  // "Corruption: segment 7 offset 4096: checksum mismatch"
  std::string ToString() const;
  static std::string_view CodeName(Code code);

 private:
  Code code_ = Code::kOk;
  std::string msg_;
};

// Result<T>: a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status s) : v_(std::move(s)) {}     // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

// Header-only, so a program that links only the client library can print statuses.
inline std::string_view Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      return "NotFound";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kCorruption:
      return "Corruption";
    case Code::kIOError:
      return "IOError";
    case Code::kNoSpace:
      return "NoSpace";
    case Code::kConflict:
      return "Conflict";
    case Code::kBusy:
      return "Busy";
    case Code::kDeleted:
      return "Deleted";
    case Code::kNotSupported:
      return "NotSupported";
    case Code::kClosed:
      return "Closed";
    case Code::kAlreadyExists:
      return "AlreadyExists";
    case Code::kPermissionDenied:
      return "PermissionDenied";
    case Code::kTimedOut:
      return "TimedOut";
    case Code::kNotPrimary:
      return "NotPrimary";
    case Code::kClientMsgIdReused:
      return "ClientMsgIdReused";
    case Code::kMoved:
      return "Moved";
  }
  return "Unknown";
}

inline std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(CodeName(code_));
  if (!msg_.empty()) {
    s += ": ";
    s += msg_;
  }
  return s;
}

}  // namespace tldb

// Propagate a non-OK Status to the caller.
#define TLDB_RETURN_IF_ERROR(expr) \
  do {                             \
    ::tldb::Status _st = (expr);   \
    if (!_st.ok()) return _st;     \
  } while (0)

#define TLDB_CONCAT_INNER(a, b) a##b
#define TLDB_CONCAT(a, b) TLDB_CONCAT_INNER(a, b)
// TLDB_ASSIGN_OR_RETURN(auto x, SomeResult());
#define TLDB_ASSIGN_OR_RETURN(lhs, expr) \
  TLDB_ASSIGN_OR_RETURN_IMPL(TLDB_CONCAT(_res_, __LINE__), lhs, expr)
#define TLDB_ASSIGN_OR_RETURN_IMPL(res, lhs, expr) \
  auto res = (expr);                               \
  if (!res.ok()) return res.status();              \
  lhs = std::move(res).value()
