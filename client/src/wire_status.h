// Status values of the wire: an error frame's code to a tldb::Status. StatusText (declared in
// the public tldb/client.h) is Status::ToString(), kept for programs written against it.
#pragma once

#include <cstdint>
#include <string_view>

#include "tldb/status.h"

namespace tldb {

// Maps an error frame's code to a Status (engine codes 0-63 pass through; protocol codes map to
// the nearest engine code, with the protocol error's name in the message).
Status StatusFromWire(uint16_t code, std::string_view message);

}  // namespace tldb
