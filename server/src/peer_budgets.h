// PeerBudgets: per-peer-address budgets for connections that do not authenticate (issue 16,
// item 4; docs/design-server.md "Per-address budgets").
//
// Contract:
// - One table for the whole server (every loop accepts from the shared listening socket, so a
//   peer's connections land on any loop). Thread-safe: one mutex guards the table; each call
//   holds it for one hash lookup and a few arithmetic operations, and nothing else waits on it
//   (no I/O, no allocation beyond one table entry).
// - Each address has two token buckets (refilled continuously at `*_per_s`, holding at most
//   `*_burst`):
//   * unauthenticated connections: Admit() takes one token for every accepted connection and
//     Refund() gives it back once that connection completes HELLO, so an address is
//     charged only for connections that are still in their handshake or never completed it;
//   * handshake failures: HandshakeFailed() takes one token for every connection that closed
//     without completing HELLO (wrong or missing token, a fatal error before HELLO, a TLS
//     handshake that failed, a close or timeout before HELLO). It stops at zero (no debt):
//     failures of connections admitted before the bucket ran dry are forgiven, so an address
//     gets its next connection 1/per_s after an attack stops, not after the attack's price.
//   A client that authenticates is never charged: its connection token comes back and it never
//   fails a handshake.
// - Admit() refuses a new connection while either bucket of its address holds less than one
//   token (the loop then closes the socket before allocating anything for it). A refused
//   connection is charged nothing: the refill rate is what gets through.
// - Addresses: an IPv4 address (also IPv4-mapped IPv6) is one key; an IPv6 address is keyed by
//   its /64 prefix (one host or one subscriber usually owns a whole /64, so keying by /128 would
//   give it 2^64 budgets).
// - The table holds at most `entries_max` addresses: the least recently used one is forgotten
//   when a new one arrives (with its debt: an attacker with more addresses than that escapes
//   the budget, which then costs the table's size in memory, never more; --connections-max
//   still bounds what it holds).
// - Time is passed in (`now_ms`, monotonic): the tests drive it.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "tldb/server.h"
#include "token_bucket.h"

namespace tldb::server {

// The budget key of a peer address (see the contract): 16 bytes, IPv4 in the first 4.
struct PeerKey {
  std::array<uint8_t, 16> bytes{};
  bool operator==(const PeerKey&) const = default;
};

struct PeerKeyHash {
  size_t operator()(const PeerKey& k) const;
};

class PeerBudgets {
 public:
  struct Limits {
    // Tokens per second and bucket size of each budget (the ServerConfig fields with the
    // same names say why their defaults are what they are).
    double unauth_connections_per_s = 0;
    double unauth_connections_burst = 0;
    double handshake_failures_per_s = 0;
    double handshake_failures_burst = 0;
    size_t entries_max = 0;
  };
  enum class Verdict : uint8_t {
    kAdmit,
    kUnauthConnections,  // refused: too many unauthenticated connections from the address
    kHandshakeFailures,  // refused: too many failed handshakes from the address
  };

  explicit PeerBudgets(const Limits& limits) : limits_(limits) {}
  // The limits of ServerConfig's peer_* fields.
  static Limits LimitsOf(const ServerConfig& config);

  static PeerKey KeyOf(const sockaddr_storage& addr);
  // The key as text: "127.0.0.1" for IPv4, "2001:db8:0:1::/64" for an IPv6 /64.
  static std::string KeyText(const PeerKey& key);

  // A new connection from `key`: admitted (one unauthenticated-connection token taken) or
  // refused (nothing taken).
  Verdict Admit(const PeerKey& key, int64_t now_ms);
  // A connection that Admit() admitted completed HELLO (or was not kept after all: the
  // connection limit, a TLS session that could not be set up): its token comes back.
  void Refund(const PeerKey& key, int64_t now_ms);
  // A connection that Admit() admitted closed without completing HELLO.
  void HandshakeFailed(const PeerKey& key, int64_t now_ms);

  size_t entries() const;
  uint64_t evictions() const;

 private:
  struct Entry {
    PeerKey key;
    int64_t refilled_ms;
    TokenBucket unauth;
    TokenBucket failures;
  };
  // The entry of `key`, refilled to now_ms and made the most recently used; created full when
  // absent (forgetting the least recently used entry when the table is full) unless !create.
  Entry* Touch(const PeerKey& key, int64_t now_ms, bool create);

  const Limits limits_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<PeerKey, std::list<Entry>::iterator, PeerKeyHash> index_;
  uint64_t evictions_ = 0;
};

}  // namespace tldb::server
