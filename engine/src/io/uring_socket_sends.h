// UringSocketSends: SocketSends (tldb/socket_sends.h) through io_uring: the sends of one call
// as IORING_OP_SEND entries (MSG_DONTWAIT | MSG_NOSIGNAL), submitted kSendsPerSubmitMax at a
// time with one io_uring_enter each, then reaped before Send returns.
//
// Contract (in addition to socket_sends.h):
// - Open() sets the ring up for cooperative task running and "submit all" (an entry that
//   fails does not stop the ones after it), and fails with NotSupported where the kernel
//   refuses either or lacks IORING_OP_SEND.
// - A submission the kernel refuses (io_uring_enter fails, or takes fewer entries than
//   queued) turns the instance into a POSIX one for good: the entries the kernel did not take
//   stay in a ring that is never entered again, and their items are sent with send(); the
//   entries it took are reaped first. So no item is sent twice or lost.
// This header does not include liburing.h; only the .cc does.
#pragma once

#include <memory>

#include "tldb/socket_sends.h"

namespace tldb {

class UringSocketSends final : public SocketSends {
 public:
  [[nodiscard]] static Result<std::unique_ptr<SocketSends>> Open();
  ~UringSocketSends() override;
  UringSocketSends(const UringSocketSends&) = delete;
  UringSocketSends& operator=(const UringSocketSends&) = delete;

  std::string_view Name() const override { return broken_ ? "posix" : "uring"; }
  void Send(std::span<Item> items) override;

 private:
  struct RingState;  // the io_uring, kept out of this header
  UringSocketSends();
  // Sends items (at most kSendsPerSubmitMax) through the ring; false when the ring refused
  // the submission (then every item not taken by the kernel is still to be sent).
  bool SendChunk(std::span<Item> items);

  std::unique_ptr<RingState> ring_;
  bool broken_ = false;
};

}  // namespace tldb
