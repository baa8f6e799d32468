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

// A trivial echo server: one epoll thread (like Redis's event loop) that sends every byte it
// receives back. Stop() wakes it through an eventfd.
class EchoServer {
 public:
  EchoServer() {
    lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(lfd_, 128);
    ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    efd_ = ::epoll_create1(0);
    stop_ = ::eventfd(0, EFD_NONBLOCK);
    Watch(lfd_);
    Watch(stop_);
    thread_ = std::thread([this] { Loop(); });
  }
  ~EchoServer() {
    const uint64_t one = 1;
    (void)!::write(stop_, &one, sizeof one);
    thread_.join();
    ::close(lfd_);
    ::close(stop_);
    ::close(efd_);
  }
  uint16_t port() const { return port_; }

 private:
  void Watch(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(efd_, EPOLL_CTL_ADD, fd, &ev);
  }
  void Loop() {
    epoll_event evs[64];
    char buf[4096];
    for (;;) {
      const int n = ::epoll_wait(efd_, evs, 64, -1);
      for (int i = 0; i < n; ++i) {
        const int fd = evs[i].data.fd;
        if (fd == stop_) return;
        if (fd == lfd_) {
          for (int c; (c = ::accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
            int one = 1;
            ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            Watch(c);
          }
          continue;
        }
        const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r <= 0) {
          ::close(fd);  // also leaves the epoll set
          continue;
        }
        // 64-byte request/response: the reply fits the socket buffer, a short write is not
        // expected; a failed one closes the connection.
        if (::send(fd, buf, static_cast<size_t>(r), MSG_NOSIGNAL) != r) ::close(fd);
      }
    }
  }
  int lfd_ = -1, efd_ = -1, stop_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

double EchoRate(uint16_t port, uint32_t connections, double seconds) {
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> ts;
  for (uint32_t i = 0; i < connections; ++i) {
    ts.emplace_back([&] {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
      char b[64] = {};
      uint64_t n = 0;
      const auto end = Clock::now() + std::chrono::duration<double>(seconds);
      while (Clock::now() < end) {
        if (::send(fd, b, sizeof b, MSG_NOSIGNAL) != sizeof b) break;
        if (::recv(fd, b, sizeof b, MSG_WAITALL) != sizeof b) break;
        ++n;
      }
      total += n;
      ::close(fd);
    });
  }
  for (auto& t : ts) t.join();
  return static_cast<double>(total.load()) / seconds;
}

}  // namespace

MachineLimits MeasureMachineLimits(const BenchConfig& cfg) {
  MachineLimits l;
  const double s = cfg.quick ? 0.1 : 1.0;
  for (uint32_t bs : {4096u, 65536u, 1u << 20})
    l.sync_writes.push_back(SyncWrites(cfg.data_dir, bs, s));
  EchoServer echo;
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
