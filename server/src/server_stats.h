// ServerStats: counters and latency histograms of one event loop.
//
// Contract: written by its loop thread only (relaxed atomics, so no locked instructions are
// contended), read by any thread. STATS sums the loops' instances with Collect().
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tldb::server {

// Log-scaled histogram of microseconds: 4 buckets per power of two, so a percentile is within
// ~19% of the true value; 128 buckets reach past an hour.
class LatencyHistogram {
 public:
  static constexpr int kBuckets = 128;
  void Record(uint64_t micros);
  // Adds this histogram's counts into `sum`.
  void AddTo(std::array<uint64_t, kBuckets>* sum) const;
  // Upper bound in microseconds of the bucket holding percentile p (0..100) of `counts`.
  static uint64_t Percentile(const std::array<uint64_t, kBuckets>& counts, double p);

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
};

struct ServerStats {
  static void Inc(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::array<std::atomic<uint64_t>, 256> ops{};  // by opcode
  std::atomic<uint64_t> errors{0};               // error responses sent
  std::atomic<uint64_t> bytes_in{0}, bytes_out{0};
  std::atomic<uint64_t> connections_open{0};  // current, this loop
  std::atomic<uint64_t> connections_accepted{0}, connections_rejected{0};
  std::atomic<uint64_t> disconnects_protocol{0}, disconnects_slow{0}, disconnects_timeout{0};
  std::atomic<uint64_t> pushes{0}, waits_woken{0}, waits_timed_out{0};
  std::atomic<uint64_t> slow_requests{0};
  // TLS listener: connections closed because the TLS handshake failed (refused: unknown CA,
  // expired or missing certificate; plain-text bytes instead of a TLS record).
  std::atomic<uint64_t> tls_failures{0};
  // Acknowledged MUTATE requests by kind, and those that changed nothing (retries).
  std::atomic<uint64_t> recalls{0}, edits{0}, trims{0}, timeline_deletes{0}, mutations_noop{0};
  LatencyHistogram append_latency, read_latency;
};

// Sums loops' stats into named counters (protocol STATS order).
std::vector<std::pair<std::string, uint64_t>> CollectStats(
    const std::vector<const ServerStats*>& loops);

}  // namespace tldb::server
