// Helpers for the server, CLI and client tests: an in-process server on an ephemeral loopback
// port; the temporary data directory and the raw protocol socket (for tests that misbehave on
// purpose) are tools/common's.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/raw_conn.h"
#include "common/temp_dir.h"
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

using common::RawConn;
using common::TempDir;

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

// Runs `command` through the shell; returns what it printed on stdout, and its exit code in
// *rc (-1 when it did not exit normally).
inline std::string RunShell(const std::string& command, int* rc = nullptr) {
  FILE* p = popen(command.c_str(), "r");
  std::string out;
  if (p == nullptr) {
    if (rc) *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

}  // namespace tldb::testing
