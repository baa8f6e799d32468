#include "failure_budgets.h"

#include <algorithm>
#include <iterator>

namespace tldb::server {

void FailureBudgets::Refill(Entry& e, int64_t now_ms) const {
  e.bucket.Refill(limits_.per_s, limits_.burst, now_ms - e.refilled_ms);
  e.refilled_ms = std::max(e.refilled_ms, now_ms);
}

FailureBudgets::Entry* FailureBudgets::Touch(std::string_view client, int64_t now_ms, bool create) {
  auto it = table_.find(client);
  if (it != table_.end()) {
    Refill(it->second, now_ms);
    return &it->second;
  }
  if (!create || limits_.entries_max == 0) return nullptr;
  if (table_.size() >= limits_.entries_max) {
    // At most one pass a second over the full table: a flood of new clients must not make
    // every refusal a scan under the mutex.
    if (now_ms - swept_ms_ < kSweepIntervalMs) return nullptr;
    swept_ms_ = now_ms;
    for (auto it = table_.begin(); it != table_.end();) {
      Refill(it->second, now_ms);
      it = it->second.bucket.tokens >= limits_.burst ? table_.erase(it) : std::next(it);
    }
    if (table_.size() >= limits_.entries_max) return nullptr;
  }
  return &table_.emplace(std::string(client), Entry{{limits_.burst}, now_ms}).first->second;
}

bool FailureBudgets::Admit(std::string_view client, int64_t now_ms) {
  std::lock_guard lock(mu_);
  const Entry* e = Touch(client, now_ms, /*create=*/false);
  return e == nullptr || e->bucket.tokens >= 1;  // a client never refused owes nothing
}

void FailureBudgets::Refused(std::string_view client, int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (Entry* e = Touch(client, now_ms, /*create=*/true)) e->bucket.Spend();
}

size_t FailureBudgets::entries() const {
  std::lock_guard lock(mu_);
  return table_.size();
}

}  // namespace tldb::server
