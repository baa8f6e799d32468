// SimTransport: the network of a simulated partition (docs/replication.md "Testing"): every
// message waits in one queue until the driver delivers it; seeded coin flips lose, duplicate
// and reorder messages, and links can be cut one way or both. Deterministic for a seed given
// the same sequence of calls.
//
// Contract: thread-safe (Send comes from engine threads too).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>

#include "replication/transport.h"

namespace tldb::repl {

class SimTransport : public Transport {
 public:
  struct Envelope {
    uint32_t from = 0, to = 0;
    std::string bytes;
  };
  explicit SimTransport(uint64_t seed) : rng_(seed) {}

  void Send(uint32_t from, uint32_t to, std::string bytes) override;
  // The next message to deliver: one of the oldest `reorder_window` (chosen by the seed), or
  // none. A message on a cut link, or lost by the coin, is dropped here.
  std::optional<Envelope> Next();
  size_t pending() const;

  // Faults, in percent per message.
  void SetLossPct(uint32_t pct);
  void SetDuplicatePct(uint32_t pct);
  void SetReorderWindow(uint32_t n);
  // Messages from `a` to `b` are lost (and from `b` to `a` when both_ways).
  void Cut(uint32_t a, uint32_t b, bool both_ways);
  // Every link of `node`, both ways.
  void Isolate(uint32_t node, uint32_t nodes);
  void HealAll();
  // Drops everything queued for or from `node` (it crashed: its sockets are gone).
  void DropQueued(uint32_t node);
  uint64_t dropped() const;

 private:
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::deque<Envelope> queue_;
  std::set<std::pair<uint32_t, uint32_t>> cut_;
  uint32_t loss_pct_ = 0, duplicate_pct_ = 0, reorder_window_ = 1;
  uint64_t dropped_ = 0;
};

}  // namespace tldb::repl
