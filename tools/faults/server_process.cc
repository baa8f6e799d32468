#include "server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
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

namespace tldb::faults {

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

}  // namespace

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
  // A restart right after a kill can race the old socket's release: retry the bind briefly.
  Status s;
  for (int attempt = 0; attempt < 20; ++attempt) {
    s = SpawnOnce();
    if (s.ok() || options_.port == 0) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return s;
}

Status ServerProcess::SpawnOnce() {
  std::vector<std::string> args = {options_.binary, "--data-dir", options_.data_dir, "--listen",
                                   "127.0.0.1:" + std::to_string(options_.port)};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Status::IOError("pipe: " + std::string(strerror(errno)));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  const std::string log = options_.log_path.empty() ? "/dev/null" : options_.log_path;
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, options_.binary.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return Status::IOError("spawn " + options_.binary + ": " + strerror(rc));
  }
  pid_ = pid;
  exit_status_ = -1;
  Status s = ReadListeningLine(out[0]);
  close(out[0]);
  if (!s.ok() && pid_ > 0) (void)Kill();
  return s;
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

}  // namespace tldb::faults
