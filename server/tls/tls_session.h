// TlsSession: TLS on one connected, non-blocking socket (OpenSSL's SSL object over the fd).
//
// Contract:
// - The socket stays the caller's: the session reads and writes it but never closes it, and
//   the caller waits for readiness itself (epoll, poll). Every call returns at once: kWantRead
//   means "call again once the socket is readable", kWantWrite "once it is writable", whatever
//   the call was (a Read may need to write during the handshake, and a Write to read).
// - The handshake runs by itself inside the first Read/Write calls; Handshake() runs it alone
//   (a client that wants handshake errors before it sends anything).
// - A Write that returned kWantWrite/kWantRead must be repeated with the same bytes first (more
//   may follow them; the buffer may have moved). Writes may be partial (kDone, bytes < size).
// - Read returns what one TLS record holds at most, and the session reads ahead: bytes received
//   from the socket may wait inside it, decrypted or not. Buffered() says so; readiness of the
//   socket does not report them, so a reader reads on while Buffered() (or until kWantRead).
// - Thread-safety: Handshake, Read, Write and Shutdown serialize on an internal mutex, so one
//   thread may read while another writes (OpenSSL's SSL object itself is not thread-safe).
// - After kError or kClosed the session is finished; error() says why in words (OpenSSL's
//   reason, and for a failed certificate check the verification result, e.g. "certificate
//   has expired").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "tls/tls_context.h"

struct ssl_st;  // OpenSSL's SSL

namespace tldb::tls {

class TlsSession {
 public:
  enum class Io : uint8_t {
    kDone,       // `bytes` were read or written (Read: at least 1)
    kWantRead,   // nothing done: wait until the socket is readable, then repeat
    kWantWrite,  // nothing done: wait until the socket is writable, then repeat
    kClosed,     // the peer closed the connection (close_notify or end of stream)
    kError,      // failed; error() says why
  };
  struct Outcome {
    Io io = Io::kDone;
    size_t bytes = 0;
  };

  // The server side of a connection accepted on `fd` (context built by ForServer).
  [[nodiscard]] static Result<std::unique_ptr<TlsSession>> Accept(
      std::shared_ptr<const TlsContext> ctx, int fd);
  // The client side of a connection to `server_name` on `fd` (context built by ForClient). The
  // server's certificate must match `server_name`: an IP address is checked against the
  // certificate's IP addresses, a host name against its DNS names (and sent as SNI).
  [[nodiscard]] static Result<std::unique_ptr<TlsSession>> Connect(
      std::shared_ptr<const TlsContext> ctx, int fd, const std::string& server_name);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  [[nodiscard]] Outcome Handshake();
  [[nodiscard]] Outcome Read(char* buf, size_t cap);
  [[nodiscard]] Outcome Write(const char* data, size_t size);
  // Sends close_notify once, without waiting for the peer's (best effort: a full socket
  // buffer drops it). Nothing is sent after an error or before the handshake completed.
  void Shutdown();

  bool handshake_done() const;
  // Bytes inside the session that a Read may return without the socket (or a partial record).
  bool Buffered() const;
  // Why the last call returned kError (empty otherwise).
  std::string error() const;
  // "TLSv1.3 TLS_AES_256_GCM_SHA384" once the handshake completed.
  std::string Describe() const;

 private:
  TlsSession(std::shared_ptr<const TlsContext> ctx, ssl_st* ssl)
      : ctx_(std::move(ctx)), ssl_(ssl) {}
  // Classifies the result `ret` of an SSL call (mu_ held).
  Outcome Finish(int ret, std::string_view what);

  std::shared_ptr<const TlsContext> ctx_;
  ssl_st* ssl_;
  mutable std::mutex mu_;
  bool failed_ = false;
  bool shut_down_ = false;
  std::string error_;
};

}  // namespace tldb::tls
