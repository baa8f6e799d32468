// Helpers for server_test / client_test: a temporary data directory, an in-process server on
// an ephemeral loopback port, and a raw protocol socket for tests that misbehave on purpose.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "tldb/client.h"
#include "tldb/db.h"
#include "tldb/server.h"

namespace tldb::testing {

// Milliseconds since t0.
inline int64_t ElapsedMs(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tldb_server_test_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A Db plus a Server on 127.0.0.1:<ephemeral>, restartable on the same port.
class TestServer {
 public:
  explicit TestServer(ServerConfig cfg = {}, Options db_options = {})
      : cfg_(std::move(cfg)), db_options_(std::move(db_options)) {
    cfg_.listen = "127.0.0.1:0";
    if (cfg_.threads == 0) cfg_.threads = 2;
    cfg_.log = [this](std::string_view line) {
      std::lock_guard lock(mu_);
      log_.emplace_back(line);
    };
    OpenDb();
    StartServer();
  }
  ~TestServer() {
    server_.reset();
    if (db_) (void)db_->Close();
  }
  void OpenDb() {
    auto db = Db::Open(dir_.path(), db_options_);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(CreateDefaultNamespaces(*db_).ok());
  }
  void StartServer() {
    if (port_) cfg_.listen = "127.0.0.1:" + std::to_string(port_);
    auto s = Server::Start(db_.get(), cfg_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    port_ = server_->port();
  }
  void StopServer() { server_.reset(); }
  // Graceful stop, Db sync + close, reopen, start again on the same port.
  void Restart() {
    server_->Stop();
    server_.reset();
    ASSERT_TRUE(db_->Sync().ok());
    ASSERT_TRUE(db_->Close().ok());
    db_.reset();
    OpenDb();
    StartServer();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  Db& db() { return *db_; }
  Server& server() { return *server_; }
  std::unique_ptr<Client> Connect(std::string token = "") {
    ClientOptions o;
    o.server = address();
    o.token = std::move(token);
    o.request_timeout_ms = 5'000;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  // A client that reconnects (20 attempts, 20 ms apart) and re-sends across a server restart.
  std::unique_ptr<Client> ConnectRetrying() {
    ClientOptions o;
    o.server = address();
    o.reconnect_attempts = 20;
    o.reconnect_backoff_ms = 20;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  bool LogContains(std::string_view needle) {
    std::lock_guard lock(mu_);
    for (const auto& l : log_) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

 private:
  TempDir dir_;
  ServerConfig cfg_;
  Options db_options_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<std::string> log_;
};

// A blocking socket speaking raw frames (to send what a well-behaved client never would).
class RawConn {
 public:
  explicit RawConn(uint16_t port, int rcvbuf_bytes = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf_bytes) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof(int));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawConn() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool Send(std::string_view bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  bool SendFrame(proto::Op op, uint64_t id, std::string_view body) {
    return Send(proto::EncodeFrame(static_cast<uint8_t>(op), 0, id, body));
  }
  template <typename M>
  bool SendMsg(proto::Op op, uint64_t id, const M& m) {
    std::string body;
    proto::WireWriter w(&body);
    proto::Encode(m, w);
    return SendFrame(op, id, body);
  }
  bool Hello(std::string_view token = "") {
    if (!SendMsg(proto::Op::kHello, 0, proto::HelloRequest{1, "raw", token})) return false;
    auto f = ReadFrame(2'000);
    return f && !(f->header.flags & proto::kFlagError);
  }
  struct OwnedFrame {
    proto::FrameHeader header;
    std::string body;
    uint16_t ErrorCode() const {
      proto::ErrorBody e;
      return proto::Decode(body, &e) ? e.code : 0;
    }
  };
  // The next frame, or nullopt on timeout / EOF (eof() tells which).
  std::optional<OwnedFrame> ReadFrame(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      proto::Frame f;
      auto r = proto::ParseFrame(buf_.data(), buf_.size(), proto::kFrameBodyBytesCeiling, &f);
      if (r.outcome == proto::ParseOutcome::kFrame) {
        OwnedFrame out{f.header, std::string(f.body)};
        buf_.erase(0, r.frame_bytes);
        return out;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0 || eof_) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char chunk[65536];
      ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        eof_ = true;
        continue;
      }
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  // Reads until EOF (discarding), true if EOF came within the timeout.
  bool WaitEof(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char chunk[65536];
      ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return true;
    }
    return false;
  }
  bool eof() const { return eof_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

}  // namespace tldb::testing
