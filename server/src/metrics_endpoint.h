// MetricsEndpoint: the HTTP listener of --metrics-listen, serving GET /metrics in the
// Prometheus text format (prometheus-cpp's pull exposer, which runs its own civetweb threads).
//
// Contract: Start() binds HOST:PORT (port 0 picks a free port) and serves until the endpoint is
// destroyed; the destructor stops the listener and waits for scrapes in progress, so the core
// the collector reads may be torn down afterwards. Nothing it serves needs a token: it exposes
// counters, namespace names and sizes, never messages.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tldb/status.h"

namespace prometheus {
class Exposer;
}

namespace tldb::server {

struct ServerCore;
class MetricsCollector;

class MetricsEndpoint {
 public:
  static Result<std::unique_ptr<MetricsEndpoint>> Start(const std::string& listen,
                                                        const ServerCore* core);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  uint16_t port() const { return port_; }

 private:
  MetricsEndpoint() = default;

  std::shared_ptr<MetricsCollector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  uint16_t port_ = 0;
};

}  // namespace tldb::server
