#include "io/posix_socket_sends.h"

#include <sys/socket.h>

#include <cerrno>

namespace tldb {

void PosixSocketSends::SendOne(Item& item) {
  for (;;) {
    const ssize_t n = ::send(item.fd, item.data, item.size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      item.result = n;
      return;
    }
    if (errno == EINTR) continue;
    item.result = -errno;
    return;
  }
}

void PosixSocketSends::Send(std::span<Item> items) {
  for (Item& item : items) SendOne(item);
}

}  // namespace tldb
