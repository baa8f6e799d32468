#include "connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "chunked_scan.h"
#include "loop.h"  // NowMs() (server_core.h needs Loop complete)
#include "protocol/messages.h"

namespace tldb::server {

Connection::Connection(uint64_t id, int fd, std::string peer, int64_t now_ms)
    : id_(id),
      fd_(fd),
      peer_(std::move(peer)),
      created_ms_(now_ms),
      last_active_ms_(now_ms),
      out_progress_ms_(now_ms) {}

Connection::~Connection() {
  if (tls_) tls_->Shutdown();
  tls_.reset();
  if (fd_ >= 0) ::close(fd_);
}

void Connection::set_scan(std::unique_ptr<ChunkedScan> scan) {
  scan_ = std::move(scan);
}

void Connection::clear_scan() {
  scan_.reset();
}

void Connection::Error(uint8_t op, uint64_t request_id, uint16_t code, std::string_view message,
                       bool fatal) {
  uint16_t flags = proto::kFlagResponse | proto::kFlagError | (fatal ? proto::kFlagFatal : 0);
  NoteOutputStart();
  size_t start = proto::BeginFrame(&out_, op, flags, request_id);
  proto::WireWriter w(&out_);
  proto::Encode(proto::ErrorBody{code, std::string(message)}, w);
  End(start);
  if (fatal) RequestClose(CloseMode::kAfterOutput);
}

void Connection::NoteOutputStart() {
  if (OutPending() == 0) out_progress_ms_ = NowMs();
}

void Connection::Sent(size_t n) {
  out_sent_ += n;
  out_progress_ms_ = NowMs();
}

void Connection::RequestClose(CloseMode mode, std::string reason) {
  if (mode == CloseMode::kAfterOutput) {
    close_after_output_ = true;
  } else if (!close_now_) {
    close_now_ = true;
    close_reason_ = std::move(reason);
  }
}

void Connection::BeginLinger(int64_t until_ms) {
  if (tls_) tls_->Shutdown();
  ::shutdown(fd_, SHUT_WR);  // fails only on a socket already reset: the close follows anyway
  linger_until_ms_ = std::max<int64_t>(until_ms, 1);
}

void Connection::CompactOut() {
  if (out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
    // Give back memory after a big response instead of holding it for the connection's life.
    if (out_.capacity() > (256u << 10)) out_.shrink_to_fit();
  } else if (out_sent_ > (64u << 10) && out_sent_ * 2 > out_.size()) {
    out_.erase(0, out_sent_);
    out_sent_ = 0;
  }
}

void Connection::CompactIn() {
  if (in_parsed_ == in_.size()) {
    in_.clear();
    in_parsed_ = 0;
    if (in_.capacity() > (256u << 10)) in_.shrink_to_fit();
  } else if (in_parsed_ > 0) {
    in_.erase(0, in_parsed_);
    in_parsed_ = 0;
  }
}

}  // namespace tldb::server
