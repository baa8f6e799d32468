// The one place errno becomes a Status.
#pragma once

#include <string_view>

#include "tldb/status.h"

namespace tldb {

// ENOSPC/EDQUOT -> NoSpace, ENOENT -> NotFound, EACCES/EPERM -> PermissionDenied,
// ENOSYS/EOPNOTSUPP/EXDEV -> NotSupported, everything else -> IOError. The message is
// "<context>: <strerror>".
Status StatusFromErrno(int err, std::string_view context);

}  // namespace tldb
