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

#include "echo_load.h"
#include "tldb/socket_sends.h"

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
      tldb::bench::EchoServer server(std::move(sends).value());
      const uint64_t requests = tldb::bench::EchoRequests(server.port(), connections, seconds);
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
