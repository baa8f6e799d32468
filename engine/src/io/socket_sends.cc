// SocketSends::Open: picks the backend (tldb/socket_sends.h).
#include "tldb/socket_sends.h"

#include "io/posix_socket_sends.h"
#include "io/uring_socket_sends.h"

namespace tldb {

Result<std::unique_ptr<SocketSends>> SocketSends::Open(std::string_view backend) {
  if (backend == "posix") return std::unique_ptr<SocketSends>(new PosixSocketSends());
  if (backend == "uring") return UringSocketSends::Open();
  if (backend != "auto") {
    return Status::InvalidArgument("socket sends backend '" + std::string(backend) +
                                   "': expected auto, uring or posix");
  }
  auto uring = UringSocketSends::Open();
  if (uring.ok()) return uring;
  if (uring.status().code() == Status::Code::kNotSupported) {
    return std::unique_ptr<SocketSends>(new PosixSocketSends());
  }
  return uring.status();
}

}  // namespace tldb
