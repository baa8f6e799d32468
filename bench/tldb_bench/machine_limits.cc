#include "machine_limits.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "../echo_load.h"
#include "common/latency_histogram.h"

namespace tldb::peerbench {
namespace {

using Clock = std::chrono::steady_clock;

SyncWriteLimit SyncWrites(const std::string& dir, uint32_t bs, double seconds) {
  SyncWriteLimit out;
  out.batch_bytes = bs;
  std::string path = dir + "/tldb-bench-limits-XXXXXX";
  const int fd = ::mkstemp(path.data());
  if (fd < 0) return out;
  ::unlink(path.c_str());
  constexpr size_t kFile = 64u << 20;
  std::string buf(1u << 20, 'z');
  for (size_t off = 0; off < kFile; off += buf.size()) {
    if (::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(off)) < 0) break;
  }
  ::fsync(fd);
  common::LatencyHistogram h;
  uint64_t n = 0;
  size_t off = 0;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (off + bs > kFile) off = 0;
    const auto a = Clock::now();
    if (::pwrite(fd, buf.data(), bs, static_cast<off_t>(off)) < 0 || ::fdatasync(fd) != 0) break;
    h.Add(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - a).count()));
    off += bs;
    ++n;
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(fd);
  out.syncs_per_s = static_cast<double>(n) / s;
  out.mb_per_s = out.syncs_per_s * bs / 1e6;
  out.p50_us = h.Quantile(0.5) / 1e3;
  return out;
}

double EchoRate(uint16_t port, uint32_t connections, double seconds) {
  return static_cast<double>(bench::EchoRequests(port, connections, seconds)) / seconds;
}

}  // namespace

MachineLimits MeasureMachineLimits(const BenchConfig& cfg) {
  MachineLimits l;
  const double s = cfg.quick ? 0.1 : 1.0;
  for (uint32_t bs : {4096u, 65536u, 1u << 20})
    l.sync_writes.push_back(SyncWrites(cfg.data_dir, bs, s));
  // The trivial echo server: one send() per answer (the POSIX SocketSends), like Redis.
  auto sends = SocketSends::Open("posix");
  if (!sends.ok()) std::abort();  // the POSIX backend cannot be refused
  bench::EchoServer echo(std::move(sends).value());
  l.echo_1conn_per_s = EchoRate(echo.port(), 1, s);
  l.echo_connections = cfg.clients;
  l.echo_nconn_per_s = EchoRate(echo.port(), cfg.clients, s);
  return l;
}

nlohmann::json ToJson(const MachineLimits& l) {
  nlohmann::json j;
  for (const auto& w : l.sync_writes) {
    j["sync_writes"].push_back({{"batch_bytes", w.batch_bytes},
                                {"syncs_per_s", w.syncs_per_s},
                                {"mb_per_s", w.mb_per_s},
                                {"p50_us", w.p50_us}});
  }
  j["echo_1conn_per_s"] = l.echo_1conn_per_s;
  j["echo_nconn_per_s"] = l.echo_nconn_per_s;
  j["echo_connections"] = l.echo_connections;
  return j;
}

MachineLimits LimitsFromJson(const nlohmann::json& j) {
  MachineLimits l;
  if (j.is_null()) return l;
  for (const auto& w : j.value("sync_writes", nlohmann::json::array())) {
    l.sync_writes.push_back({w["batch_bytes"], w["syncs_per_s"], w["mb_per_s"], w["p50_us"]});
  }
  l.echo_1conn_per_s = j.value("echo_1conn_per_s", 0.0);
  l.echo_nconn_per_s = j.value("echo_nconn_per_s", 0.0);
  l.echo_connections = j.value("echo_connections", 0u);
  return l;
}

}  // namespace tldb::peerbench
