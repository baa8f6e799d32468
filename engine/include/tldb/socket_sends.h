// SocketSends: the sends an event loop makes at the end of one iteration, to many
// non-blocking sockets, in one system call where the kernel allows it.
//
// Contract:
// - Send(items) makes one non-blocking send (MSG_DONTWAIT | MSG_NOSIGNAL) of each item and
//   stores in its `result` the bytes sent (possibly fewer than `size`) or -errno (-EAGAIN when
//   the socket's buffer is full; -EPIPE, -ECONNRESET, ... when the peer is gone). It returns once
//   every send has completed: the buffers must stay valid until then and may be reused after.
//   Items of one call go to distinct sockets (two sends to one socket in one call would have no
//   defined order). A send never blocks and never raises SIGPIPE.
// - The io_uring backend queues the sends of a call (up to kSendsPerSubmitMax at a time) and
//   submits them with one io_uring_enter; the kernel makes each send at once, as send() would.
//   Should the ring ever refuse a submission, the backend makes that call's unsent items, and
//   all later ones, with send(): a send is never lost or made twice.
// - The POSIX backend calls send() once per item.
// - Not thread-safe: one thread at a time (an event loop's own).
// Why: on this kind of machine a loopback request costs the server more in its per-socket
// system calls than in anything else; one submission for all of an iteration's answers
// halved an echo server's CPU per request (docs/design-server.md "Sends of one iteration").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "tldb/status.h"

namespace tldb {

class SocketSends {
 public:
  struct Item {
    int fd = -1;
    const char* data = nullptr;
    size_t size = 0;
    int64_t result = 0;  // bytes sent, or -errno
  };
  // The most sends one io_uring submission carries (the ring's size). 256: an iteration
  // rarely answers more connections; more are sent in further submissions of 256.
  static constexpr unsigned kSendsPerSubmitMax = 256;

  // `backend`: "uring", "posix", or "auto" (io_uring when the kernel allows it, else POSIX).
  // "uring" fails with NotSupported where the kernel refuses it.
  [[nodiscard]] static Result<std::unique_ptr<SocketSends>> Open(std::string_view backend);

  virtual ~SocketSends() = default;
  // "uring" or "posix" (a uring instance that fell back after a refused submission says
  // "posix" from then on).
  virtual std::string_view Name() const = 0;
  virtual void Send(std::span<Item> items) = 0;
};

}  // namespace tldb
