// echo_bench: what batching an event loop's sends saves (docs/design-server.md "Sends of one
// iteration"). A one-thread epoll echo server (like the loop of tldb-server or Redis: readiness,
// one recv() per readable socket) answers 64-byte requests from N client threads over
// loopback; its answers of one epoll_wait go out either with one send() each (posix) or in one
// SocketSends submission (uring). The two alternate, round by round; each line gives requests/s
// and the server thread's CPU per request.
//
//   build/bench/echo_bench --rounds 3 --seconds 4 --connections 50
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "tldb/socket_sends.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kRequestBytes = 64;

double ThreadCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

class EchoServer {
 public:
  explicit EchoServer(std::unique_ptr<tldb::SocketSends> sends) : sends_(std::move(sends)) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd_, 512) != 0 ||
        ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::perror("echo_bench: listen");
      std::abort();
    }
    port_ = ntohs(a.sin_port);
    efd_ = ::epoll_create1(0);
    stop_ = ::eventfd(0, EFD_NONBLOCK);
    Watch(lfd_);
    Watch(stop_);
    thread_ = std::thread([this] { Run(); });
  }
  ~EchoServer() {
    Stop();
    ::close(lfd_);
    ::close(stop_);
    ::close(efd_);
  }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  uint16_t port() const { return port_; }
  // Stops the server thread; then cpu_seconds() is its CPU time.
  void Stop() {
    if (!thread_.joinable()) return;
    const uint64_t one = 1;
    (void)!::write(stop_, &one, sizeof one);
    thread_.join();
  }
  double cpu_seconds() const { return cpu_s_; }

 private:
  void Watch(int fd) const {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(efd_, EPOLL_CTL_ADD, fd, &ev);
  }
  void Run() {
    const double cpu0 = ThreadCpuSeconds();
    constexpr int kEvents = 256;
    epoll_event evs[kEvents];
    std::vector<std::string> bufs(kEvents, std::string(4096, '\0'));
    std::vector<tldb::SocketSends::Item> items;
    for (;;) {
      const int n = ::epoll_wait(efd_, evs, kEvents, -1);
      items.clear();
      for (int i = 0; i < n; ++i) {
        const int fd = evs[i].data.fd;
        if (fd == stop_) {
          cpu_s_ = ThreadCpuSeconds() - cpu0;
          return;
        }
        if (fd == lfd_) {
          for (int c; (c = ::accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
            int one = 1;
            ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            Watch(c);
          }
          continue;
        }
        const ssize_t r = ::recv(fd, bufs[i].data(), bufs[i].size(), 0);
        if (r <= 0) {
          ::close(fd);
          continue;
        }
        items.push_back({fd, bufs[i].data(), static_cast<size_t>(r), 0});
      }
      sends_->Send(items);
      // The answer fits the socket buffer: a short or failed send ends the connection.
      for (const auto& it : items) {
        if (it.result != static_cast<int64_t>(it.size)) ::close(it.fd);
      }
    }
  }

  std::unique_ptr<tldb::SocketSends> sends_;
  int lfd_ = -1, efd_ = -1, stop_ = -1;
  uint16_t port_ = 0;
  double cpu_s_ = 0;
  std::thread thread_;
};

// Requests answered per second by `connections` blocking clients, one request in flight each.
uint64_t RunClients(uint16_t port, uint32_t connections, double seconds) {
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
      char b[kRequestBytes] = {};
      uint64_t n = 0;
      const auto end = Clock::now() + std::chrono::duration<double>(seconds);
      while (Clock::now() < end) {
        if (::send(fd, b, sizeof b, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof b)) break;
        if (::recv(fd, b, sizeof b, MSG_WAITALL) != static_cast<ssize_t>(sizeof b)) break;
        ++n;
      }
      total += n;
      ::close(fd);
    });
  }
  for (auto& t : ts) t.join();
  return total.load();
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"Echo server over loopback: one send() per answer vs one io_uring submission"};
  int rounds = 3;
  double seconds = 4;
  uint32_t connections = 50;
  app.add_option("--rounds", rounds, "Rounds; each runs both ways, the order swapped every round")
      ->capture_default_str();
  app.add_option("--seconds", seconds, "Seconds per run")->capture_default_str();
  app.add_option("--connections", connections, "Client threads (one connection each)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::printf("round backend connections requests_per_s server_cpu_us_per_request\n");
  for (int r = 1; r <= rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      const char* backend = ((r + k) % 2 == 1) ? "posix" : "uring";
      auto sends = tldb::SocketSends::Open(backend);
      if (!sends.ok()) {
        std::printf("%d %s: %s\n", r, backend, sends.status().ToString().c_str());
        continue;
      }
      EchoServer server(std::move(sends).value());
      const uint64_t requests = RunClients(server.port(), connections, seconds);
      server.Stop();
      std::printf("%d %s %u %.0f %.2f\n", r, backend, connections,
                  static_cast<double>(requests) / seconds,
                  requests ? server.cpu_seconds() * 1e6 / static_cast<double>(requests) : 0.0);
      std::fflush(stdout);
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "echo_bench: %s\n", e.what());
  return 1;
}
