// ServerProcess: a server as a child process: a real tldb-server for the fault suites (kill -9,
// disk full, hostile clients) and tldb-bench, or another server for tldb-bench (redis-server).
//
// Contract:
// - Start() spawns `binary --data-dir DIR --listen HOST:PORT ARGS...` (HOST: `host`, 127.0.0.1
//   by default) (posix_spawn, so it
//   is safe from a multithreaded process) and returns once the server printed its "listening
//   on" line. The first start may use port 0; every later start reuses the port it got, so
//   clients configured with address() reconnect to the restarted server.
// - With `command` set, Start() spawns that command instead (argv[0] looked up on PATH), which
//   must listen on `host`:`port` (FreeLoopbackPort()), and returns once that accepts
//   connections (e.g. `ip netns exec NS tldb-server ... --listen HOST:PORT`, reached through a
//   route into the namespace).
// - With `die_with_parent`, the child is spawned with fork and gets SIGKILL when this process
//   dies (the child runs only async-signal-safe calls before exec).
// - Kill() sends SIGKILL and reaps the child; Stop() sends SIGTERM and returns the exit code
//   (SIGKILL after the timeout). The destructor kills a child that is still running.
// - The server's stderr goes to `log_path` (appended; /dev/null when empty); a `command`'s
//   stdout and stderr both go there (truncated first).
// - RssKib() reads VmRSS from /proc/<pid>/status (0 when not running).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tldb/status.h"

namespace tldb::common {

struct ServerProcessOptions {
  std::string binary;                   // path of tldb-server
  std::string data_dir;                 // --data-dir
  std::vector<std::string> extra_args;  // e.g. {"--io-backend", "posix"}
  uint16_t port = 0;                    // 0: an ephemeral port on the first start
  std::string host = "127.0.0.1";       // IPv4 address listened on and connected to
  std::string log_path;                 // server stderr (appended); empty: /dev/null
  uint32_t start_timeout_ms = 60'000;   // time allowed for recovery + listen
  std::vector<std::string> command;     // set: this command instead of tldb-server (see above)
  bool die_with_parent = false;         // SIGKILL the child when this process dies
};

// A TCP port on 127.0.0.1 that was free a moment ago (0 if none could be had).
uint16_t FreeLoopbackPort();

// The set-up every fault suite uses: `binary` on `data_dir` with `--io-backend BACKEND
// --threads N`, stderr to `log_path`.
ServerProcessOptions FaultServerOptions(std::string binary, std::string data_dir,
                                        const std::string& io_backend, uint32_t threads,
                                        std::string log_path);

class ServerProcess {
 public:
  explicit ServerProcess(ServerProcessOptions options);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  Status Start();
  Status Kill();
  // SIGTERM, then SIGKILL after `delay_us` µs; *was_running: the child had not exited by then.
  Status KillDuringShutdown(uint32_t delay_us, bool* was_running);
  // SIGTERM, then waits up to timeout_ms; returns the exit status (128+signal if killed).
  Result<int> Stop(uint32_t timeout_ms = 10'000);
  // True while the child has not exited (reaps it when it has).
  bool Alive();
  // The child's exit status once it exited (128+signal when killed by one), else -1.
  int exit_status() const { return exit_status_; }

  pid_t pid() const { return pid_; }
  uint16_t port() const { return options_.port; }
  std::string address() const { return options_.host + ":" + std::to_string(options_.port); }
  uint64_t RssKib() const;

 private:
  Status SpawnOnce();
  Status ReadListeningLine(int fd);
  Status WaitAccepting();
  void Reap(int status);

  ServerProcessOptions options_;
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

// VmRSS of any process in KiB (0 when unreadable).
uint64_t ProcessRssKib(pid_t pid);

}  // namespace tldb::common
