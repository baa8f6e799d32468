// TokenBucket: the arithmetic of one token bucket, shared by the server's budgets
// (PeerBudgets, FailureBudgets). Not thread-safe: its owner's mutex guards it.
#pragma once

#include <algorithm>
#include <cstdint>

namespace tldb::server {

struct TokenBucket {
  double tokens;

  // Adds what `elapsed_ms` at `per_s` tokens a second brings, holding at most `burst`.
  void Refill(double per_s, double burst, int64_t elapsed_ms) {
    if (elapsed_ms <= 0) return;
    tokens = std::min(burst, tokens + per_s * static_cast<double>(elapsed_ms) / 1000.0);
  }
  // Takes one token; stops at zero (no debt).
  void Spend() { tokens = std::max(0.0, tokens - 1); }
};

}  // namespace tldb::server
