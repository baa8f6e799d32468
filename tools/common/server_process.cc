#include "common/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <utility>

extern char** environ;

namespace tldb::common {

ServerProcessOptions FaultServerOptions(std::string binary, std::string data_dir,
                                        const std::string& io_backend, uint32_t threads,
                                        std::string log_path) {
  ServerProcessOptions so;
  so.binary = std::move(binary);
  so.data_dir = std::move(data_dir);
  so.extra_args = {"--io-backend", io_backend, "--threads", std::to_string(threads)};
  so.log_path = std::move(log_path);
  return so;
}

namespace {

using Clock = std::chrono::steady_clock;

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

bool CanConnect(const std::string& host, uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(port);
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

uint16_t FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(0);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

uint64_t ProcessRssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

ServerProcess::ServerProcess(ServerProcessOptions options) : options_(std::move(options)) {}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) (void)Kill();
}

Status ServerProcess::Start() {
  if (pid_ > 0) return Status::InvalidArgument("server already running");
  // A restart right after a kill can race the old socket's release: retry the bind briefly
  // (tldb-server; a `command` gets one attempt).
  Status s;
  for (int attempt = 0; attempt < 20; ++attempt) {
    s = SpawnOnce();
    if (s.ok() || options_.port == 0 || !options_.command.empty()) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return s;
}

Status ServerProcess::SpawnOnce() {
  // A `command` writes stdout and stderr to the (truncated) log; tldb-server's stdout is a pipe
  // that tells its port.
  const bool other = !options_.command.empty();
  std::vector<std::string> args = options_.command;
  if (!other) {
    args = {options_.binary, "--data-dir", options_.data_dir, "--listen",
            options_.host + ":" + std::to_string(options_.port)};
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2] = {-1, -1};
  if (!other && pipe2(out, O_CLOEXEC) != 0) {
    return Status::IOError("pipe: " + std::string(strerror(errno)));
  }
  const std::string log = options_.log_path.empty() ? "/dev/null" : options_.log_path;
  const int log_flags = O_WRONLY | O_CREAT | (other ? O_TRUNC : O_APPEND);
  pid_t pid = -1;
  int rc = 0;
  if (options_.die_with_parent) {
    pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int fd = open(log.c_str(), log_flags | O_CLOEXEC, 0644);
      if (fd >= 0) dup2(fd, STDERR_FILENO);
      dup2(other ? fd : out[1], STDOUT_FILENO);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    if (pid < 0) rc = errno;
  } else {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log.c_str(), log_flags, 0644);
    if (other) {
      posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
      rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    } else {
      posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
      rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    }
    posix_spawn_file_actions_destroy(&fa);
  }
  if (!other) close(out[1]);
  if (rc != 0) {
    if (!other) close(out[0]);
    return Status::IOError("spawn " + args[0] + ": " + strerror(rc));
  }
  pid_ = pid;
  exit_status_ = -1;
  Status s = other ? WaitAccepting() : ReadListeningLine(out[0]);
  if (!other) close(out[0]);
  if (!s.ok() && pid_ > 0) (void)Kill();
  return s;
}

Status ServerProcess::WaitAccepting() {
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.start_timeout_ms);
  while (Clock::now() < deadline) {
    if (!Alive()) {
      return Status::IOError(options_.command[0] + " exited at start (see " + options_.log_path +
                             ")");
    }
    if (CanConnect(options_.host, options_.port)) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::TimedOut(options_.command[0] + " did not accept connections within " +
                          std::to_string(options_.start_timeout_ms / 1000) + " s");
}

Status ServerProcess::ReadListeningLine(int fd) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.start_timeout_ms);
  std::string got;
  while (got.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Status::TimedOut("server did not start listening");
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return Status::IOError("server exited before listening (see its log)");
    got.append(buf, static_cast<size_t>(n));
  }
  const size_t at = got.find("listening on ");
  const size_t colon = got.rfind(':');
  if (at == std::string::npos || colon == std::string::npos || colon < at) {
    return Status::IOError("unexpected server output: " + got);
  }
  options_.port = static_cast<uint16_t>(std::stoi(got.substr(colon + 1)));
  return Status::Ok();
}

void ServerProcess::Reap(int status) {
  exit_status_ = DecodeWaitStatus(status);
  pid_ = -1;
}

Status ServerProcess::Kill() {
  if (pid_ <= 0) return Status::InvalidArgument("server not running");
  kill(pid_, SIGKILL);
  int status = 0;
  if (waitpid(pid_, &status, 0) != pid_) return Status::IOError("waitpid failed");
  Reap(status);
  return Status::Ok();
}

Status ServerProcess::KillDuringShutdown(uint32_t delay_us, bool* was_running) {
  if (pid_ <= 0) return Status::InvalidArgument("server not running");
  kill(pid_, SIGTERM);
  std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
  *was_running = Alive();
  return *was_running ? Kill() : Status::Ok();
}

Result<int> ServerProcess::Stop(uint32_t timeout_ms) {
  if (pid_ <= 0) return Status::InvalidArgument("server not running");
  kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    if (!Alive()) return exit_status_;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Status s = Kill();
  if (!s.ok()) return s;
  return exit_status_;
}

bool ServerProcess::Alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    Reap(status);
    return false;
  }
  return true;
}

uint64_t ServerProcess::RssKib() const {
  return pid_ > 0 ? ProcessRssKib(pid_) : 0;
}

}  // namespace tldb::common
