// ProgressPrinter: progress of a long run (verify, compact) on stderr. On a terminal, one bar
// redrawn in place at most ten times a second; otherwise plain lines, one per step, so logs
// stay readable.
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
  // Verify: `done` and `total` are bytes; `file` is the file just verified.
  void Update(uint64_t done, uint64_t total, const std::string& file);
  // Any run: `done` of `total` steps, described by `text` (after the bar on a terminal, the
  // whole line otherwise). Plain lines are printed only when `text` changed.
  void Step(uint64_t done, uint64_t total, const std::string& text);
  // Clears the bar (terminal) so the report that follows starts on a clean line.
  void Finish();

 private:
  void Draw(int pct, const std::string& text, bool last);

  std::FILE* out_;
  bool tty_;
  bool drawn_ = false;
  std::string last_text_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace tldb::admin
