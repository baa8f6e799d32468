// MetricsCollector: the server's and the engine's counters in the Prometheus data model, read
// when /metrics is scraped (docs/operations.md lists the metrics).
//
// Contract: Collect() runs on a thread of the metrics endpoint, any number at once. It reads
// the loops' ServerStats (relaxed atomics written by their loops), Db::Stats(),
// Db::ListNamespaces(), the COMPACT job totals, the EngineEvents and statvfs() of the data
// directory; it records nothing on the request path. The ServerCore (hence the Db) must outlive
// it: MetricsEndpoint stops serving before Server::Stop returns.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace tldb::server {

struct ServerCore;
class MetricsCollector : public prometheus::Collectable {
 public:
  explicit MetricsCollector(const ServerCore* core) : core_(core) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

  // The exclusive upper bounds, in microseconds, of the latency histogram buckets exported (a
  // subset of LatencyHistogram's edges: 2^k - 2 for k = 1..27, then +Inf).
  static std::vector<uint64_t> BucketBoundsMicros();

 private:
  const ServerCore* core_;
};

}  // namespace tldb::server
