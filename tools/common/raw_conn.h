// RawConn: a blocking loopback socket speaking raw tldb frames, for clients that misbehave on
// purpose (the server tests and the fault suites). Not thread-safe; one per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/frame.h"
#include "protocol/messages.h"

namespace tldb::common {

class RawConn {
 public:
  // Connects to 127.0.0.1:port; rcvbuf_bytes > 0 shrinks the receive buffer first; from
  // `source_ip` (another loopback address, such as "127.0.0.2") when given.
  explicit RawConn(uint16_t port, int rcvbuf_bytes = 0, const char* source_ip = nullptr);
  ~RawConn();
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // Sends everything (blocking); false on error.
  bool Send(std::string_view bytes);
  // Sends what the socket takes without blocking; the bytes sent (-1 on error).
  long SendSome(std::string_view bytes);
  bool SendFrame(proto::Op op, uint64_t id, std::string_view body);
  template <typename M>
  bool SendMsg(proto::Op op, uint64_t id, const M& m) {
    std::string body;
    proto::WireWriter w(&body);
    proto::Encode(m, w);
    return SendFrame(op, id, body);
  }
  // HELLO with `token` as client `client_name`; true when answered without error.
  bool Hello(std::string_view token = "", std::string_view client_name = "raw");

  struct Frame {
    proto::FrameHeader header;
    std::string body;
    bool error() const { return header.flags & proto::kFlagError; }
    bool fatal() const { return header.flags & proto::kFlagFatal; }
    uint16_t ErrorCode() const;  // 0 unless an error frame
  };
  // The next frame, or nullopt on timeout or EOF (eof() tells which).
  std::optional<Frame> ReadFrame(int timeout_ms);
  // Reads (discarding) until EOF; true if EOF came within the timeout.
  bool WaitEof(int timeout_ms);
  bool eof() const { return eof_; }
  // True when the peer has closed its side (TCP state CLOSE_WAIT or closed), without reading.
  bool PeerClosed() const;

 private:
  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
};

}  // namespace tldb::common
