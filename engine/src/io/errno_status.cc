// The one place errno becomes a Status (see errno_status.h).
//
// Special case: io_uring_setup refusing to create a ring (EINVAL from an old or restricted
// kernel, EPERM when kernel.io_uring_disabled is set, ENOMEM from a tiny RLIMIT_MEMLOCK) means
// "this machine has no usable io_uring", so a context starting with "io_uring_setup" maps those
// to NotSupported rather than IOError/PermissionDenied.
#include "tldb/errno_status.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace tldb {
namespace {

bool IsUringSetup(std::string_view context) {
  return context.starts_with("io_uring_setup");
}

Status::Code CodeFromErrno(int err, std::string_view context) {
  if (IsUringSetup(context) && (err == EINVAL || err == EPERM || err == ENOMEM)) {
    return Status::Code::kNotSupported;
  }
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return Status::Code::kNoSpace;
    case ENOENT:
      return Status::Code::kNotFound;
    case EACCES:
    case EPERM:
      return Status::Code::kPermissionDenied;
    case ENOSYS:
    case EOPNOTSUPP:
    case EXDEV:  // link() or rename() across file systems: the caller copies instead
      return Status::Code::kNotSupported;
    default:
      return Status::Code::kIOError;
  }
}

// strerror() is not thread-safe; use the GNU strerror_r, which returns the message pointer.
std::string ErrnoText(int err) {
  char buf[128];
  return std::string(strerror_r(err, buf, sizeof(buf)));
}

}  // namespace

Status StatusFromErrno(int err, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += ErrnoText(err);
  return Status(CodeFromErrno(err, context), std::move(msg));
}

}  // namespace tldb
