#include "server_stats.h"

#include <bit>

#include "protocol/codes.h"

namespace tldb::server {

void LatencyHistogram::Record(uint64_t micros) {
  uint64_t v = micros + 1;
  int log2 = 63 - std::countl_zero(v);
  int sub = log2 >= 2 ? static_cast<int>((v >> (log2 - 2)) & 3) : 0;
  int i = log2 * 4 + sub;
  if (i >= kBuckets) i = kBuckets - 1;
  ServerStats::Inc(buckets_[i]);
  ServerStats::Inc(micros_sum_, micros);
}

void LatencyHistogram::AddTo(std::array<uint64_t, kBuckets>* sum, uint64_t* micros_sum) const {
  for (int i = 0; i < kBuckets; ++i) (*sum)[i] += buckets_[i].load(std::memory_order_relaxed);
  if (micros_sum) *micros_sum += micros_sum_.load(std::memory_order_relaxed);
}

namespace {

using proto::Op;

constexpr Op kSlotOps[ServerStats::kOpSlots] = {
    Op::kHello,       Op::kPing,     Op::kStats,        Op::kAppend,     Op::kAppendFanout,
    Op::kGet,         Op::kScan,     Op::kLastSeq,      Op::kWait,       Op::kSubscribe,
    Op::kUnsubscribe, Op::kNsCreate, Op::kNsList,       Op::kNsDescribe, Op::kCursorSet,
    Op::kCursorGet,   Op::kMutate,   Op::kNsSetOptions, Op::kCompact,    Op::kCompactStatus,
    Op::kReadMulti,
};

constexpr std::array<int8_t, 256> MakeSlotTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < ServerStats::kOpSlots; ++i)
    t[static_cast<uint8_t>(kSlotOps[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kSlotOfOp = MakeSlotTable();

}  // namespace

int ServerStats::OpSlot(uint8_t op) {
  return kSlotOfOp[op];
}

uint8_t ServerStats::SlotOp(int slot) {
  return static_cast<uint8_t>(kSlotOps[slot]);
}

bool ServerStats::CompletesAsync(uint8_t op) {
  switch (static_cast<Op>(op)) {
    case Op::kAppend:
    case Op::kAppendFanout:
    case Op::kMutate:
    case Op::kCursorSet:
    case Op::kNsCreate:
    case Op::kNsSetOptions:
    case Op::kWait:
    case Op::kBackupOpen:
      return true;
    default:
      return false;
  }
}

uint64_t LatencyHistogram::Percentile(const std::array<uint64_t, kBuckets>& counts, double p) {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(p / 100.0 * static_cast<double>(total));
  if (rank >= total) rank = total - 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts[i];
    if (seen > rank) {
      int log2 = i / 4, sub = i % 4;
      // Upper edge of the bucket, minus the +1 applied in Record().
      uint64_t base = 1ull << log2;
      uint64_t upper = log2 >= 2 ? base + (base / 4) * (sub + 1) : base * 2;
      return upper - 1;
    }
  }
  return 0;
}

namespace {

uint64_t Sum(const std::vector<const ServerStats*>& loops,
             std::atomic<uint64_t> ServerStats::*field) {
  uint64_t s = 0;
  for (const auto* l : loops) s += (l->*field).load(std::memory_order_relaxed);
  return s;
}

void AddPercentiles(const std::array<uint64_t, LatencyHistogram::kBuckets>& counts,
                    const std::string& prefix, std::vector<std::pair<std::string, uint64_t>>* out) {
  out->emplace_back(prefix + "_p50_us", LatencyHistogram::Percentile(counts, 50));
  out->emplace_back(prefix + "_p99_us", LatencyHistogram::Percentile(counts, 99));
  out->emplace_back(prefix + "_p999_us", LatencyHistogram::Percentile(counts, 99.9));
}

}  // namespace

std::vector<std::pair<std::string, uint64_t>> CollectStats(
    const std::vector<const ServerStats*>& loops) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (int op = 0; op < 256; ++op) {
    bool push = op == static_cast<int>(proto::Op::kPushMessage);
    if (!proto::IsKnownOp(static_cast<uint8_t>(op)) || push) continue;
    uint64_t n = 0;
    for (const auto* l : loops) n += l->ops[op].load(std::memory_order_relaxed);
    std::string name(proto::OpName(static_cast<uint8_t>(op)));
    for (auto& ch : name) ch = static_cast<char>(std::tolower(ch));
    out.emplace_back("ops_" + name, n);
  }
  using S = ServerStats;
  uint64_t errors = 0;
  for (const auto* l : loops) {
    for (const auto& c : l->errors_by_code) errors += c.load(std::memory_order_relaxed);
  }
  out.emplace_back("errors", errors);
  const std::pair<const char*, std::atomic<uint64_t> S::*> fields[] = {
      {"bytes_in", &S::bytes_in},
      {"bytes_out", &S::bytes_out},
      {"connections_open", &S::connections_open},
      {"connections_accepted", &S::connections_accepted},
      {"connections_rejected", &S::connections_rejected},
      {"disconnects_protocol", &S::disconnects_protocol},
      {"disconnects_slow_consumer", &S::disconnects_slow},
      {"disconnects_timeout", &S::disconnects_timeout},
      {"pushes", &S::pushes},
      {"waits_woken", &S::waits_woken},
      {"waits_timed_out", &S::waits_timed_out},
      {"slow_requests", &S::slow_requests},
      {"recalls", &S::recalls},
      {"edits", &S::edits},
      {"trims", &S::trims},
      {"timeline_deletes", &S::timeline_deletes},
      {"mutations_noop", &S::mutations_noop},
      {"tls_failures", &S::tls_failures},
      {"handshake_failures", &S::handshake_failures},
      {"connections_refused_unauthenticated", &S::refused_peer_unauth},
      {"connections_refused_handshake_failures", &S::refused_peer_failures},
      {"hellos_refused_refused_requests", &S::hellos_refused},
      {"scan_turns_yielded", &S::scan_turns_yielded},
  };
  for (const auto& [name, field] : fields) out.emplace_back(name, Sum(loops, field));
  auto is_async = [](uint8_t op) {
    return S::CompletesAsync(op) && op != static_cast<uint8_t>(Op::kWait) &&
           op != static_cast<uint8_t>(Op::kBackupOpen);
  };
  auto is_read = [](uint8_t op) {
    return op == static_cast<uint8_t>(Op::kGet) || op == static_cast<uint8_t>(Op::kScan) ||
           op == static_cast<uint8_t>(Op::kReadMulti);
  };
  AddPercentiles(SumLatency(loops, is_async).counts, "append_latency", &out);
  AddPercentiles(SumLatency(loops, is_read).counts, "read_latency", &out);
  return out;
}

}  // namespace tldb::server
