// ServerProcess: a server the harness starts (tldb-server, redis-server) as a child process on
// a free loopback port, with its output in a log file. Start() returns once the port accepts
// connections (or fails after timeout); Stop() sends SIGTERM, then SIGKILL after 5 s, and
// reaps it. The destructor stops it, and the server is killed if the harness dies first.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tldb::peerbench {

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess() { Stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // A TCP port on 127.0.0.1 that was free a moment ago.
  static uint16_t FreePort();
  bool Start(const std::vector<std::string>& argv, const std::string& log_path, uint16_t port,
             std::string* err);
  void Stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

}  // namespace tldb::peerbench
