#include "progress.h"

#include <algorithm>

#include "text_table.h"

namespace tldb::admin {

namespace {
int Percent(uint64_t done, uint64_t total) {
  return total == 0 ? 100 : static_cast<int>(std::min(done, total) * 100 / total);
}
}  // namespace

void ProgressPrinter::Update(uint64_t done, uint64_t total, const std::string& file) {
  const int pct = Percent(done, total);
  if (!tty_) {
    std::fprintf(out_, "verified %s (%d%%, %s of %s)\n", file.c_str(), pct,
                 FormatBytes(done).c_str(), FormatBytes(total).c_str());
    return;
  }
  Draw(pct, FormatBytes(done) + " / " + FormatBytes(total), done >= total);
}

void ProgressPrinter::Step(uint64_t done, uint64_t total, const std::string& text) {
  if (!tty_) {
    if (text != last_text_) std::fprintf(out_, "%s\n", text.c_str());
    last_text_ = text;
    return;
  }
  Draw(Percent(done, total), text, total != 0 && done >= total);
}

void ProgressPrinter::Draw(int pct, const std::string& text, bool last) {
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && !last && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  constexpr int kWidth = 30;
  const int fill = pct * kWidth / 100;
  std::fprintf(out_, "\r\033[K[%s%s] %3d%% %s", std::string(fill, '#').c_str(),
               std::string(kWidth - fill, '.').c_str(), pct, text.c_str());
  std::fflush(out_);
  drawn_ = true;
}

void ProgressPrinter::Finish() {
  if (tty_ && drawn_) std::fprintf(out_, "\r\033[K");
  drawn_ = false;
}

}  // namespace tldb::admin
