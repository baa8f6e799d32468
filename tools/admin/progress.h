// ProgressPrinter: progress of a long run (verify) on stderr. On a terminal, one bar redrawn in
// place at most ten times a second; otherwise plain lines, one per file, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace tldb::admin {

class ProgressPrinter {
 public:
  // `tty`: draw a bar (pass isatty(fileno(out))).
  ProgressPrinter(std::FILE* out, bool tty) : out_(out), tty_(tty) {}
  void Update(uint64_t done, uint64_t total, const std::string& file);
  // Clears the bar (terminal) so the report that follows starts on a clean line.
  void Finish();

 private:
  std::FILE* out_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace tldb::admin
