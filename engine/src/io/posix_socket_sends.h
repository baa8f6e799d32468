// PosixSocketSends: SocketSends (tldb/socket_sends.h) with one send() per item. The fallback
// where io_uring is refused, and what UringSocketSends falls back to.
#pragma once

#include "tldb/socket_sends.h"

namespace tldb {

class PosixSocketSends final : public SocketSends {
 public:
  std::string_view Name() const override { return "posix"; }
  void Send(std::span<Item> items) override;
  // One non-blocking send of `item`, retried on EINTR; sets item.result.
  static void SendOne(Item& item);
};

}  // namespace tldb
