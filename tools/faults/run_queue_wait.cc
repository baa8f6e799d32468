#include "run_queue_wait.h"

#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <string>

namespace tldb::faults {

namespace {

// "run_ns wait_ns slices" -> run_ns and wait_ns.
RunQueueWait::Times Parse(const char* text) {
  RunQueueWait::Times t;
  if (std::sscanf(text, "%" SCNu64 " %" SCNu64, &t.run_ns, &t.wait_ns) != 2) return {};
  return t;
}

RunQueueWait::Times ReadAt(int fd) {
  char buf[128];
  ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return {};
  buf[n] = '\0';
  return Parse(buf);
}

}  // namespace

RunQueueWait::RunQueueWait() : fd_(::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)) {}

RunQueueWait::~RunQueueWait() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t RunQueueWait::ThreadWaitNs() const {
  return fd_ < 0 ? 0 : ReadAt(fd_).wait_ns;
}

RunQueueWait::Times RunQueueWait::ProcessTimes(pid_t pid) {
  Times sum;
  std::error_code ec;
  for (const auto& t :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const int fd = ::open((t.path() / "schedstat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const Times one = ReadAt(fd);
    ::close(fd);
    sum.run_ns += one.run_ns;
    sum.wait_ns += one.wait_ns;
  }
  return sum;
}

}  // namespace tldb::faults
