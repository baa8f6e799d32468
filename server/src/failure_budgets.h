// FailureBudgets: per-client budgets of refused requests after HELLO (issue 16, item 4;
// docs/design-server.md "Budgets of refused requests").
//
// Contract:
// - One table for the whole server (a client's connections land on any loop). Thread-safe: one
//   mutex guards the table; each call holds it for one hash lookup and a few arithmetic
//   operations (no I/O).
// - A client is a name the caller gives: its token's name at its peer address (PeerBudgets::
//   KeyOf's key), or the address alone on a server without tokens (everyone is "anonymous").
//   An authenticated client is accountable by its token: the per-address budgets never charge
//   it (peer_budgets.h), this one does; the address keeps one host's failures from refusing
//   the token's other hosts.
// - Each client has one token bucket, refilled continuously at `per_s` and holding at most
//   `burst`. Refused() takes one token for every request refused because the client is wrong:
//   a fatal protocol error after HELLO (malformed or oversized frame, unknown opcode) or
//   PERMISSION_DENIED. It stops at zero (no debt). Answers that are ordinary outcomes
//   (NOT_FOUND, CONFLICT) or a client bug that is not an attack (INVALID_ARGUMENT) are never
//   charged.
// - Admit() answers whether a HELLO of that client may go through (at least one token). The
//   server refuses the others (held first, then TOO_MANY_CONNECTIONS); connections already
//   open are never touched.
// - The table holds at most `entries_max` clients; when it is full, clients whose buckets are
//   full (they owe nothing) are forgotten (one pass at most a second), and when none is, a new
//   client is not tracked (an attacker with more addresses than that escapes the budget; the
//   table never grows past it).
// - Time is passed in (`now_ms`, monotonic): the tests drive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "token_bucket.h"

namespace tldb::server {

class FailureBudgets {
 public:
  struct Limits {
    double per_s = 0;
    double burst = 0;
    size_t entries_max = 0;
  };

  explicit FailureBudgets(const Limits& limits) : limits_(limits) {}

  // Whether a new session of `client` may start (its bucket holds a whole token).
  bool Admit(std::string_view client, int64_t now_ms);
  // A request of `client` was refused (see the contract for which).
  void Refused(std::string_view client, int64_t now_ms);

  size_t entries() const;

 private:
  struct Entry {
    TokenBucket bucket;
    int64_t refilled_ms;
  };
  // The entry of `client` refilled to now_ms; created full when absent and `create` (nullptr
  // when absent and not created, or when the table is full of clients that owe tokens).
  Entry* Touch(std::string_view client, int64_t now_ms, bool create);
  void Refill(Entry& e, int64_t now_ms) const;

  static constexpr int64_t kSweepIntervalMs = 1'000;

  // Lets the table be searched with a string_view (no std::string built per lookup).
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  const Limits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry, NameHash, std::equal_to<>> table_;
  int64_t swept_ms_ = INT64_MIN / 2;  // the last pass forgetting clients that owe nothing
};

}  // namespace tldb::server
