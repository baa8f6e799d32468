// ParseServerToken, ValidateServerConfig, IsLoopbackListen, DefaultBlockCacheMb (declared in
// tldb/server.h).
#include <unistd.h>

#include <algorithm>

#include "protocol/codes.h"
#include "protocol/host_port.h"
#include "tldb/server.h"

namespace tldb {

namespace {

std::vector<std::string> SplitList(std::string_view s, char sep) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t i = s.find(sep);
    std::string_view part = s.substr(0, i);
    if (!part.empty()) out.emplace_back(part);
    if (i == std::string_view::npos) break;
    s.remove_prefix(i + 1);
  }
  return out;
}

}  // namespace

Result<ServerToken> ParseServerToken(std::string_view spec) {
  std::vector<std::string> parts = SplitList(spec, ':');
  if (parts.size() < 2) {
    return Status::InvalidArgument(
        "token must be NAME:SECRET[:rw=ns,..][:r=ns,..][:admin=ns,..], got '" + std::string(spec) +
        "'");
  }
  ServerToken t;
  t.name = parts[0];
  t.secret = parts[1];
  for (size_t i = 2; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    if (p.starts_with("rw=")) {
      t.write_namespaces = SplitList(p.substr(3), ',');
    } else if (p.starts_with("r=")) {
      t.read_namespaces = SplitList(p.substr(2), ',');
    } else if (p.starts_with("admin=")) {
      t.admin_namespaces = SplitList(p.substr(6), ',');
    } else {
      return Status::InvalidArgument("token '" + t.name + "': unknown right '" + std::string(p) +
                                     "' (use rw=ns1,ns2, r=ns3 or admin=ns4)");
    }
  }
  if (t.secret.size() < 8) {
    return Status::InvalidArgument("token '" + t.name + "': secret shorter than 8 characters");
  }
  return t;
}

bool IsLoopbackListen(std::string_view listen) {
  auto addr = proto::ResolveHostPort(listen, "listen");
  return addr.ok() && addr->loopback;
}

uint64_t DefaultBlockCacheMb() {
  const uint64_t floor_mb = Options{}.block_cache_bytes >> 20;
  const long pages = sysconf(_SC_PHYS_PAGES), page_bytes = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_bytes <= 0) return floor_mb;
  const uint64_t share_mb =
      (static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_bytes) / 8) >> 20;
  return std::max(floor_mb, share_mb);
}

Status ValidateServerConfig(const ServerConfig& c) {
  auto addr = proto::ResolveHostPort(c.listen, "listen");
  if (!addr.ok()) return addr.status();
  if (!c.metrics_listen.empty()) {
    auto metrics = proto::ResolveHostPort(c.metrics_listen, "metrics-listen");
    if (!metrics.ok()) return metrics.status();
  }
  if (!addr->loopback && c.tokens.empty()) {
    return Status::PermissionDenied(
        "refusing to listen on non-loopback address " + c.listen +
        " without authentication (protected mode): configure at least one --token "
        "NAME:SECRET:rw=NS, or listen on 127.0.0.1");
  }
  if (c.frame_body_bytes_max < 1024 || c.frame_body_bytes_max > proto::kFrameBodyBytesCeiling) {
    return Status::InvalidArgument("frame-body-bytes-max must be within [1 KiB, 64 MiB]");
  }
  if (c.connections_max == 0 || c.inflight_requests_max == 0) {
    return Status::InvalidArgument("connections-max and inflight-requests-max must be > 0");
  }
  if (c.peer_budgets &&
      (c.peer_unauth_connections_per_s == 0 || c.peer_unauth_connections_burst == 0 ||
       c.peer_handshake_failures_per_s == 0 || c.peer_handshake_failures_burst == 0 ||
       c.peer_budget_addresses_max == 0)) {
    return Status::InvalidArgument(
        "peer-unauth-connections-per-s/-burst, peer-handshake-failures-per-s/-burst and "
        "peer-budget-addresses-max must be > 0 (turn the budgets off with --peer-budgets=false)");
  }
  if (c.refused_requests_per_s != 0 && c.refused_requests_burst == 0) {
    return Status::InvalidArgument(
        "refused-requests-burst must be > 0 (turn the budget off with --refused-requests-per-s 0)");
  }
  if (c.buffers_bytes_max < c.frame_body_bytes_max) {
    return Status::InvalidArgument("buffers-bytes-max must be >= frame-body-bytes-max");
  }
  if (c.output_buffer_bytes_max < c.frame_body_bytes_max) {
    return Status::InvalidArgument("output-buffer-bytes-max must be >= frame-body-bytes-max");
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return Status::InvalidArgument("tls-cert and tls-key go together: give both or neither");
  }
  if (!c.tls_client_ca_file.empty() && c.tls_cert_file.empty()) {
    return Status::InvalidArgument("tls-client-ca needs tls-cert and tls-key");
  }
  for (const auto& t : c.tokens) {
    for (const auto& u : c.tokens) {
      if (&t != &u && t.secret == u.secret) {
        return Status::InvalidArgument("tokens '" + t.name + "' and '" + u.name +
                                       "' share a secret");
      }
    }
  }
  return Status::Ok();
}

}  // namespace tldb
