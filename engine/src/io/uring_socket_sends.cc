// io_uring sends to sockets (see uring_socket_sends.h for the contract). One of the
// engine/src/io/uring_* units, the only ones that include liburing.h.
#include "io/uring_socket_sends.h"

#include <liburing.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <string>
#include <system_error>

#include "io/posix_socket_sends.h"
#include "io/uring_file_system.h"

namespace tldb {
namespace {

constexpr unsigned kSetupFlags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
// The result of an item no send was made for (a send's result is a byte count or -errno).
constexpr int64_t kNotSent = INT64_MIN;
// The completion ring holds twice the submission ring's entries (the kernel's default), so a
// whole submission's completions fit without overflow.
static_assert(SocketSends::kSendsPerSubmitMax >= 1 && SocketSends::kSendsPerSubmitMax <= 4096);

}  // namespace

struct UringSocketSends::RingState {
  io_uring ring{};
};

UringSocketSends::UringSocketSends() : ring_(std::make_unique<RingState>()) {}

UringSocketSends::~UringSocketSends() {
  if (!ring_) return;
  std::lock_guard lock(UringRingLifetimeMutex());
  io_uring_queue_exit(&ring_->ring);
}

Result<std::unique_ptr<SocketSends>> UringSocketSends::Open() {
  std::unique_ptr<UringSocketSends> s(new UringSocketSends());
  io_uring_params params{};
  params.flags = kSetupFlags;
  const int rc = io_uring_queue_init_params(kSendsPerSubmitMax, &s->ring_->ring, &params);
  if (rc < 0) {
    s->ring_.reset();  // nothing to tear down
    return Status::NotSupported("io_uring for socket sends: " +
                                std::system_category().message(-rc));
  }
  // The edge for ThreadSanitizer (uring_file_system.h).
  { std::lock_guard lock(UringRingLifetimeMutex()); }
  io_uring_probe* probe = io_uring_get_probe_ring(&s->ring_->ring);
  const bool send_ok = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_SEND);
  if (probe != nullptr) io_uring_free_probe(probe);
  if (!send_ok) return Status::NotSupported("io_uring for socket sends: no IORING_OP_SEND");
  return std::unique_ptr<SocketSends>(std::move(s));
}

bool UringSocketSends::SendChunk(std::span<Item> items) {
  io_uring* ring = &ring_->ring;
  for (size_t i = 0; i < items.size(); ++i) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    // The ring holds kSendsPerSubmitMax entries and every call reaps what it submitted.
    if (sqe == nullptr) std::abort();
    io_uring_prep_send(sqe, items[i].fd, items[i].data, items[i].size, MSG_DONTWAIT | MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, i);
  }
  int submitted;
  do {
    submitted = io_uring_submit(ring);
  } while (submitted == -EINTR);
  if (submitted < 0) submitted = 0;  // nothing taken (EAGAIN, EBUSY, ENOMEM, ...)
  // Reap what the kernel took, however long it runs (sends with MSG_DONTWAIT complete at once).
  for (int reaped = 0; reaped < submitted;) {
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe(ring, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) std::abort();  // a ring that took entries and cannot be waited on
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(ring, head, cqe) {
      const uint64_t i = io_uring_cqe_get_data64(cqe);
      if (i >= items.size()) std::abort();  // not an entry of this call
      items[i].result = cqe->res;
      ++seen;
    }
    io_uring_cq_advance(ring, seen);
    reaped += static_cast<int>(seen);
  }
  return static_cast<size_t>(submitted) == items.size();
}

void UringSocketSends::Send(std::span<Item> items) {
  for (Item& item : items) item.result = kNotSent;
  for (size_t done = 0; !broken_ && done < items.size();) {
    const size_t n = std::min<size_t>(items.size() - done, kSendsPerSubmitMax);
    if (!SendChunk(items.subspan(done, n))) broken_ = true;
    done += n;
  }
  // After a refused submission: the items the kernel did not take, and all after them.
  for (Item& item : items) {
    if (item.result == kNotSent) PosixSocketSends::SendOne(item);
  }
}

}  // namespace tldb
