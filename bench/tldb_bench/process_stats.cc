#include "process_stats.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tldb::peerbench {
namespace {

std::string ProcPath(pid_t pid, const char* leaf) {
  return pid == 0 ? std::string("/proc/self/") + leaf : "/proc/" + std::to_string(pid) + "/" + leaf;
}

uint64_t Field(const std::string& path, const std::string& name, uint64_t scale) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, name.size(), name) == 0 && line.size() > name.size() &&
        line[name.size()] == ':') {
      return std::strtoull(line.c_str() + name.size() + 1, nullptr, 10) * scale;
    }
  }
  return 0;
}

}  // namespace

double ProcessCpuSeconds(pid_t pid) {
  if (pid == 0) {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  std::ifstream f(ProcPath(pid, "stat"));
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t close = all.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(all.substr(close + 2));
  std::string tok;
  unsigned long long utime = 0, stime = 0;
  for (int field = 3; in >> tok; ++field) {  // field 3 is the state
    if (field == 14) utime = std::strtoull(tok.c_str(), nullptr, 10);
    if (field == 15) {
      stime = std::strtoull(tok.c_str(), nullptr, 10);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

uint64_t ProcessRssBytes(pid_t pid) {
  return Field(ProcPath(pid, "status"), "VmRSS", 1024);
}

uint64_t ProcessWriteBytes(pid_t pid) {
  return Field(ProcPath(pid, "io"), "write_bytes", 1);
}

uint64_t DirAllocatedBytes(const std::string& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      n += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return n;
}

uint64_t DeviceWriteBytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  std::ifstream f("/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" +
                  std::to_string(minor(st.st_dev)) + "/stat");
  uint64_t v[7] = {};
  for (auto& x : v) f >> x;
  return v[6] * 512;  // field 7: sectors written
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace tldb::peerbench
