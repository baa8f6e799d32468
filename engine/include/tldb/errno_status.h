// The one place errno becomes a Status: the engine's I/O backends, the server and the tools
// that link the engine call it (the C++ client and tools/common link no engine code).
#pragma once

#include <string_view>

#include "tldb/status.h"

namespace tldb {

// ENOSPC/EDQUOT -> NoSpace, ENOENT -> NotFound, EACCES/EPERM -> PermissionDenied,
// ENOSYS/EOPNOTSUPP/EXDEV -> NotSupported, everything else -> IOError. The message is
// "<context>: <strerror>".
Status StatusFromErrno(int err, std::string_view context);

}  // namespace tldb
