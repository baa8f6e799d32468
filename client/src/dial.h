// Blocking socket helpers of the client's connection set-up: dial with a deadline, send all,
// read one frame. The socket is non-blocking; each helper waits with poll() up to its deadline.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/frame.h"
#include "tldb/status.h"

namespace tldb {

// Milliseconds on the steady clock (CLOCK_MONOTONIC, the clock of the client's timerfd).
int64_t NowMs();
// An IOError naming `what` and errno.
Status Errno(const std::string& what);
// Connects to HOST:PORT (numeric, or localhost) with TCP_NODELAY, non-blocking.
Result<int> Dial(const std::string& server, int64_t deadline_ms);
// Sends all of `data`; false on error or at the deadline.
bool SendAll(int fd, std::string_view data, int64_t deadline_ms);
// Reads exactly one frame (the HELLO answer) within the deadline.
Result<std::pair<proto::FrameHeader, std::string>> ReadOneFrame(int fd, int64_t deadline_ms);

}  // namespace tldb
