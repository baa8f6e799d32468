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
// ~19% of the true value; 128 buckets reach past an hour. Bucket i counts the samples whose
// micros + 1 lies in [LowerEdge(i), LowerEdge(i + 1)), so the buckets below 4 * k hold exactly
// the samples with micros <= 2^k - 2.
class LatencyHistogram {
 public:
  static constexpr int kBuckets = 128;
  void Record(uint64_t micros);
  // Adds this histogram's counts into `sum` and its sum of microseconds into `micros_sum`.
  void AddTo(std::array<uint64_t, kBuckets>* sum, uint64_t* micros_sum = nullptr) const;
  // Upper bound in microseconds of the bucket holding percentile p (0..100) of `counts`.
  static uint64_t Percentile(const std::array<uint64_t, kBuckets>& counts, double p);

 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> micros_sum_{0};
};

struct ServerStats {
  static void Inc(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // The request opcodes with a latency histogram, in a dense order (OpSlot).
  static constexpr int kOpSlots = 21;
  // The slot of a request opcode in op_latency; -1 for unknown opcodes and PUSH_MESSAGE.
  static int OpSlot(uint8_t op);
  // The opcode of a slot (the inverse of OpSlot).
  static uint8_t SlotOp(int slot);
  // Whether an opcode's latency is recorded when its answer comes back from another thread
  // (HandlerContext::Completed) rather than around its handler (Dispatcher::Handle). WAIT's is
  // recorded nowhere: it is a long poll whose duration is the client's timeout.
  static bool CompletesAsync(uint8_t op);
  // The error codes counted by code: engine codes 0..13 and protocol codes 64..79.
  static constexpr int kErrorCodes = 80;

  std::array<std::atomic<uint64_t>, 256> ops{};  // by opcode
  // Error answers sent, fatal ones included, by error code (ErrorCode/Status::Code); STATS
  // `errors` is their sum.
  std::array<std::atomic<uint64_t>, kErrorCodes> errors_by_code{};
  std::atomic<uint64_t> bytes_in{0}, bytes_out{0};
  std::atomic<uint64_t> connections_open{0};  // current, this loop
  std::atomic<uint64_t> connections_accepted{0}, connections_rejected{0};
  std::atomic<uint64_t> disconnects_protocol{0}, disconnects_slow{0}, disconnects_timeout{0};
  std::atomic<uint64_t> pushes{0}, waits_woken{0}, waits_timed_out{0};
  std::atomic<uint64_t> slow_requests{0};
  // TLS listener: connections closed because the TLS handshake failed (refused: unknown CA,
  // expired or missing certificate; plain-text bytes instead of a TLS record).
  std::atomic<uint64_t> tls_failures{0};
  // Connections closed before completing HELLO (wrong or no token, a fatal error before HELLO,
  // a failed TLS handshake, a close or timeout before HELLO; not a server stop).
  std::atomic<uint64_t> handshake_failures{0};
  // New connections refused by the per-address budgets (PeerBudgets), by the budget that was
  // spent: unauthenticated connections, or failed handshakes.
  std::atomic<uint64_t> refused_peer_unauth{0}, refused_peer_failures{0};
  // HELLOs refused because their client's budget of refused requests was spent (FailureBudgets).
  std::atomic<uint64_t> hellos_refused{0};
  // Loop turns a SCAN gave up with work left (ChunkedScan: one per step after the first).
  std::atomic<uint64_t> scan_turns_yielded{0};
  // Acknowledged MUTATE requests by kind, and those that changed nothing (retries).
  std::atomic<uint64_t> recalls{0}, edits{0}, trims{0}, timeline_deletes{0}, mutations_noop{0};
  // Request latency by opcode slot: from the handler's start to the answer being queued.
  std::array<LatencyHistogram, kOpSlots> op_latency;

  void RecordLatency(uint8_t op, uint64_t micros) {
    if (int slot = OpSlot(op); slot >= 0) op_latency[slot].Record(micros);
  }
  void CountError(uint16_t code) { Inc(errors_by_code[code < kErrorCodes ? code : 0]); }
};

// Sums loops' stats into named counters (protocol STATS order). `append_latency_*` covers the
// requests that complete asynchronously (appends, mutations, cursor writes, namespace changes),
// `read_latency_*` GET, SCAN and READ_MULTI.
std::vector<std::pair<std::string, uint64_t>> CollectStats(
    const std::vector<const ServerStats*>& loops);
// The loops' histograms of the opcodes for which `pick(op)` is true, summed.
struct SummedHistogram {
  std::array<uint64_t, LatencyHistogram::kBuckets> counts{};
  uint64_t micros_sum = 0;
};
template <typename Pick>
SummedHistogram SumLatency(const std::vector<const ServerStats*>& loops, Pick pick) {
  SummedHistogram h;
  for (int slot = 0; slot < ServerStats::kOpSlots; ++slot) {
    if (!pick(ServerStats::SlotOp(slot))) continue;
    for (const auto* l : loops) l->op_latency[slot].AddTo(&h.counts, &h.micros_sum);
  }
  return h;
}

}  // namespace tldb::server
