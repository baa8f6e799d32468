#include "connection.h"

#include <unistd.h>

#include "loop.h"  // NowMs() (server_core.h needs Loop complete)
#include "protocol/messages.h"

namespace tldb::server {

Connection::Connection(uint64_t id, int fd, std::string peer, int64_t now_ms)
    : last_active_ms(now_ms), out_progress_ms(now_ms), id_(id), fd_(fd), peer_(std::move(peer)) {}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

void Connection::Error(uint8_t op, uint64_t request_id, uint16_t code, std::string_view message,
                       bool fatal) {
  uint16_t flags = proto::kFlagResponse | proto::kFlagError | (fatal ? proto::kFlagFatal : 0);
  NoteOutputStart();
  size_t start = proto::BeginFrame(&out, op, flags, request_id);
  proto::WireWriter w(&out);
  proto::Encode(proto::ErrorBody{code, std::string(message)}, w);
  End(start);
  if (fatal) closing = true;
}

void Connection::NoteOutputStart() {
  if (OutPending() == 0) out_progress_ms = NowMs();
}

void Connection::CompactOut() {
  if (out_sent == out.size()) {
    out.clear();
    out_sent = 0;
    // Give back memory after a big response instead of holding it for the connection's life.
    if (out.capacity() > (256u << 10)) out.shrink_to_fit();
  } else if (out_sent > (64u << 10) && out_sent * 2 > out.size()) {
    out.erase(0, out_sent);
    out_sent = 0;
  }
}

void Connection::CompactIn() {
  if (in_parsed == in.size()) {
    in.clear();
    in_parsed = 0;
    if (in.capacity() > (256u << 10)) in.shrink_to_fit();
  } else if (in_parsed > 0) {
    in.erase(0, in_parsed);
    in_parsed = 0;
  }
}

}  // namespace tldb::server
