#include "progress.h"

#include "text_table.h"

namespace tldb::admin {

void ProgressPrinter::Update(uint64_t done, uint64_t total, const std::string& file) {
  const int pct = total == 0 ? 100 : static_cast<int>(done * 100 / total);
  if (!tty_) {
    std::fprintf(out_, "verified %s (%d%%, %s of %s)\n", file.c_str(), pct,
                 FormatBytes(done).c_str(), FormatBytes(total).c_str());
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && done < total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  constexpr int kWidth = 30;
  const int fill = pct * kWidth / 100;
  std::fprintf(out_, "\r[%s%s] %3d%% %s / %s", std::string(fill, '#').c_str(),
               std::string(kWidth - fill, '.').c_str(), pct, FormatBytes(done).c_str(),
               FormatBytes(total).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void ProgressPrinter::Finish() {
  if (tty_ && drawn_) std::fprintf(out_, "\r\033[K");
  drawn_ = false;
}

}  // namespace tldb::admin
