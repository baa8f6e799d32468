// Shell and LogTails: what the process tests ask of the shell and of their servers' logs.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

namespace tldb::testing {

// Runs a shell command; returns its exit status and stdout+stderr.
inline std::pair<int, std::string> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  const int rc = ::pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

// The last `bytes` of DIR/<name><n>.log for n < count, each under "---- <name> <n>", for a
// failing test's message.
inline std::string LogTails(const std::string& dir, const std::string& name, int count,
                            size_t bytes) {
  std::string out;
  for (int n = 0; n < count; ++n) {
    std::ifstream f(dir + "/" + name + std::to_string(n) + ".log");
    std::string text((std::istreambuf_iterator<char>(f)), {});
    out += "---- " + name + " " + std::to_string(n) + "\n" +
           text.substr(text.size() > bytes ? text.size() - bytes : 0);
  }
  return out;
}

}  // namespace tldb::testing
