// MetricsEndpoint: prometheus-cpp's Exposer serving a MetricsCollector.
#include "metrics_endpoint.h"

#include <prometheus/exposer.h>

#include <exception>

#include "metrics_collector.h"
#include "protocol/host_port.h"

namespace tldb::server {

Result<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& listen,
                                                                const ServerCore* core) {
  auto addr = proto::ResolveHostPort(listen, "metrics-listen");
  if (!addr.ok()) return addr.status();
  std::unique_ptr<MetricsEndpoint> e(new MetricsEndpoint());
  e->collector_ = std::make_shared<MetricsCollector>(core);
  try {
    // One thread: a scrape takes well under a millisecond and Prometheus scrapes every few
    // seconds at most.
    // civetweb takes a numeric address ("127.0.0.1:9464", "[::1]:9464").
    e->exposer_ =
        std::make_unique<prometheus::Exposer>(proto::FormatAddress(addr->addr), /*num_threads=*/1);
  } catch (const std::exception& ex) {
    return Status::IOError("metrics-listen " + listen + ": " + ex.what());
  }
  e->exposer_->RegisterCollectable(e->collector_);
  std::vector<int> ports = e->exposer_->GetListeningPorts();
  if (ports.empty()) return Status::IOError("metrics-listen " + listen + ": no listening port");
  e->port_ = static_cast<uint16_t>(ports.front());
  return e;
}

MetricsEndpoint::~MetricsEndpoint() {
  exposer_.reset();  // stops civetweb's threads before the collector goes
}

}  // namespace tldb::server
