// An echo benchmark's server and load, shared by echo_bench and tldb-bench's machine limits.
// EchoServer: one epoll thread (like the loop of tldb-server or Redis: readiness, one recv()
// per readable socket) that sends back what it receives, the answers of one epoll_wait through
// one SocketSends call (one send() each with the POSIX backend). EchoRequests: `connections`
// client threads over loopback, each with one 64-byte request in flight (send, then wait for
// the whole echo), for `seconds`; the requests answered.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tldb/socket_sends.h"

namespace tldb::bench {

inline constexpr size_t kEchoRequestBytes = 64;

inline double ThreadCpuSeconds() {
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

inline uint64_t EchoRequests(uint16_t port, uint32_t connections, double seconds) {
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> ts;
  ts.reserve(connections);
  for (uint32_t i = 0; i < connections; ++i) {
    ts.emplace_back([&] {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return;
      }
      char b[kEchoRequestBytes] = {};
      uint64_t n = 0;
      const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
      while (std::chrono::steady_clock::now() < end) {
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

}  // namespace tldb::bench
