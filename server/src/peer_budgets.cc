#include "peer_budgets.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace tldb::server {

size_t PeerKeyHash::operator()(const PeerKey& k) const {
  uint64_t a, b;
  std::memcpy(&a, k.bytes.data(), 8);
  std::memcpy(&b, k.bytes.data() + 8, 8);
  // 64-bit mix (splitmix64's finaliser) of both halves: the table is keyed by addresses an
  // attacker picks, so a plain identity hash would let it choose colliding buckets cheaply.
  uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ull);
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<size_t>(x);
}

PeerKey PeerBudgets::KeyOf(const sockaddr_storage& addr) {
  PeerKey k;
  if (addr.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(addr);
    std::memcpy(k.bytes.data(), &in.sin_addr, 4);
  } else if (addr.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(addr);
    const uint8_t* a = in6.sin6_addr.s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
      std::memcpy(k.bytes.data(), a + 12, 4);  // the same key as the IPv4 address
    } else {
      std::memcpy(k.bytes.data(), a, 8);  // the /64 prefix
      k.bytes[15] = 6;                    // never equal to an IPv4 key (bytes 4..15 zero)
    }
  }
  return k;
}

std::string PeerBudgets::KeyText(const PeerKey& key) {
  const auto& b = key.bytes;
  if (b[15] != 6) {  // IPv4 (see KeyOf)
    return std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
           std::to_string(b[3]);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < 8; i += 2) {
    const unsigned group = (unsigned{b[i]} << 8) | b[i + 1];
    std::string g;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned digit = (group >> shift) & 15;
      if (!g.empty() || digit != 0 || shift == 0) g.push_back(kHex[digit]);
    }
    s += g + ":";
  }
  return s + ":/64";
}

PeerBudgets::Limits PeerBudgets::LimitsOf(const ServerConfig& c) {
  return {static_cast<double>(c.peer_unauth_connections_per_s),
          static_cast<double>(c.peer_unauth_connections_burst),
          static_cast<double>(c.peer_handshake_failures_per_s),
          static_cast<double>(c.peer_handshake_failures_burst), c.peer_budget_addresses_max};
}

PeerBudgets::Entry* PeerBudgets::Touch(const PeerKey& key, int64_t now_ms, bool create) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    if (!create) return nullptr;
    if (limits_.entries_max == 0) return nullptr;
    if (index_.size() >= limits_.entries_max) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
      ++evictions_;
    }
    lru_.push_front(
        Entry{key, now_ms, {limits_.unauth_connections_burst}, {limits_.handshake_failures_burst}});
    index_.emplace(key, lru_.begin());
    return &lru_.front();
  }
  lru_.splice(lru_.begin(), lru_, it->second);  // most recently used first; iterators stay valid
  Entry& e = lru_.front();
  const int64_t elapsed = now_ms - e.refilled_ms;
  if (elapsed > 0) {
    e.unauth.Refill(limits_.unauth_connections_per_s, limits_.unauth_connections_burst, elapsed);
    e.failures.Refill(limits_.handshake_failures_per_s, limits_.handshake_failures_burst, elapsed);
    e.refilled_ms = now_ms;
  }
  return &e;
}

PeerBudgets::Verdict PeerBudgets::Admit(const PeerKey& key, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Entry* e = Touch(key, now_ms, /*create=*/true);
  if (!e) return Verdict::kAdmit;  // a table of no entries: budgets off
  if (e->failures.tokens < 1) return Verdict::kHandshakeFailures;
  if (e->unauth.tokens < 1) return Verdict::kUnauthConnections;
  e->unauth.tokens -= 1;
  return Verdict::kAdmit;
}

void PeerBudgets::Refund(const PeerKey& key, int64_t now_ms) {
  std::lock_guard lock(mu_);
  // An entry forgotten since the connection's admission owes nothing: leave it forgotten.
  if (Entry* e = Touch(key, now_ms, /*create=*/false)) {
    e->unauth.tokens = std::min(limits_.unauth_connections_burst, e->unauth.tokens + 1);
  }
}

void PeerBudgets::HandshakeFailed(const PeerKey& key, int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (Entry* e = Touch(key, now_ms, /*create=*/true)) {
    e->failures.Spend();
  }
}

size_t PeerBudgets::entries() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

uint64_t PeerBudgets::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}

}  // namespace tldb::server
