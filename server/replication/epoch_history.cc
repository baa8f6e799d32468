#include "replication/epoch_history.h"

#include <algorithm>

namespace tldb::repl {

bool EpochHistory::Append(uint64_t epoch, LogPosition start) {
  if (!entries_.empty() && (epoch <= entries_.back().epoch || start < entries_.back().start)) {
    return false;
  }
  entries_.push_back({epoch, start});
  return true;
}

uint64_t EpochHistory::LastEpoch(LogPosition end) const {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->start < end) return it->epoch;
  }
  return 0;
}

void EpochHistory::TruncateTo(LogPosition end) {
  while (!entries_.empty() && entries_.back().start > end) entries_.pop_back();
}

LogPosition EpochHistory::CommonPrefix(const EpochHistory& a, LogPosition a_end,
                                       const EpochHistory& b, LogPosition b_end) {
  const LogPosition shorter = std::min(a_end, b_end);
  const auto& ea = a.entries_;
  const auto& eb = b.entries_;
  // Bytes before any epoch's first frame: none (every log starts empty, at the same place).
  for (size_t i = 0; i < ea.size(); ++i) {
    auto j = std::find_if(eb.begin(), eb.end(),
                          [&](const EpochStart& e) { return e.epoch == ea[i].epoch; });
    if (j == eb.end() || j->start != ea[i].start) return std::min(ea[i].start, shorter);
    const bool a_more = i + 1 < ea.size(), b_more = j + 1 != eb.end();
    if (a_more && b_more && ea[i + 1] == *(j + 1)) continue;  // the next epoch agrees too
    const LogPosition a_next = a_more ? ea[i + 1].start : a_end;
    const LogPosition b_next = b_more ? (j + 1)->start : b_end;
    return std::min({a_next, b_next, shorter});
  }
  // `a` wrote nothing in any epoch; `b` may have: they share what `a` has, if anything.
  if (!eb.empty()) return std::min(eb.front().start, shorter);
  return shorter;
}

bool EpochHistory::Better(const EpochHistory& a, LogPosition a_end, const EpochHistory& b,
                          LogPosition b_end) {
  const uint64_t ea = a.LastEpoch(a_end), eb = b.LastEpoch(b_end);
  if (ea != eb) return ea > eb;
  return a_end > b_end;
}

}  // namespace tldb::repl
