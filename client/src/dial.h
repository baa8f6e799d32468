// Blocking socket helpers of the client's connection set-up: dial with a deadline, the TLS
// handshake, send all, read one frame. The socket is non-blocking; each helper waits with
// poll() up to its deadline. With a TlsSession (`tls` not null) bytes go through it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/frame.h"
#include "tldb/status.h"
#include "tls/tls_context.h"
#include "tls/tls_session.h"

namespace tldb {

// Milliseconds on the steady clock (CLOCK_MONOTONIC, the clock of the client's timerfd).
int64_t NowMs();
// An IOError naming `what` and errno.
Status Errno(const std::string& what);
// Connects to HOST:PORT (numeric, or localhost) with TCP_NODELAY, non-blocking.
Result<int> Dial(const std::string& server, int64_t deadline_ms);
// The host part of HOST:PORT ("[::1]:7070" -> "::1"): the default TLS server name.
std::string HostOf(const std::string& server);
// Runs the client side of a TLS handshake on connected `fd` with `server` (named
// `server_name` in its certificate). Errors say what failed: the certificate check (unknown
// CA, expired, wrong name), a refused client certificate, or a peer that does not speak TLS.
Result<std::unique_ptr<tls::TlsSession>> TlsHandshake(int fd,
                                                      std::shared_ptr<const tls::TlsContext> ctx,
                                                      const std::string& server,
                                                      const std::string& server_name,
                                                      int64_t deadline_ms);
// Sends all of `data`; false on error or at the deadline.
bool SendAll(int fd, tls::TlsSession* tls, std::string_view data, int64_t deadline_ms);
// Reads exactly one frame (the HELLO answer) within the deadline.
Result<std::pair<proto::FrameHeader, std::string>> ReadOneFrame(int fd, tls::TlsSession* tls,
                                                                int64_t deadline_ms);
// What a failed TLS session says, as a Status naming `server` (with a hint when the peer
// answered in plain text).
Status TlsFailure(const std::string& server, const tls::TlsSession& tls);

}  // namespace tldb
