// Base64 (RFC 4648, standard alphabet, '=' padding, no line breaks): payloads in export files
// and in dumps of binary payloads. Debian has no header-only C++ base64 package without line
// wrapping (libb64 wraps at 72 columns), hence this small file.
#pragma once

#include <string>
#include <string_view>

#include "tldb/status.h"

namespace tldb::admin {

std::string Base64Encode(std::string_view bytes);
// InvalidArgument on characters outside the alphabet or a bad length/padding.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace tldb::admin
