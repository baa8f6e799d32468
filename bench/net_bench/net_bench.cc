// net_bench: loopback load generator for tldb-server (raw protocol, one epoll thread).
//
//   net_bench --server 127.0.0.1:7070 --mode append --connections 50 --depth 16 --seconds 5
//   net_bench --mode scan --connections 50 --timelines 10000      (latest-20 scans)
//   net_bench --mode wait --iterations 1000                        (WAIT wake-up latency)
//   net_bench --mode ping --connections 50                         (request rate, no engine work)
//
// Prints requests/s and latency percentiles; writes nothing anywhere else.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/frame.h"
#include "protocol/host_port.h"
#include "protocol/messages.h"

namespace {

using Clock = std::chrono::steady_clock;
using tldb::proto::Op;

struct Args {
  std::string server = "127.0.0.1:7070", mode = "append", ns = "store";
  uint32_t connections = 1, depth = 1, seconds = 5, payload_bytes = 200, timelines = 10'000;
  uint32_t iterations = 1'000;
  std::string durability = "sync";
};

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

int Dial(const std::string& hp) {
  auto a = tldb::proto::ResolveHostPort(hp, "server");
  if (!a.ok()) {
    std::fprintf(stderr, "%s\n", a.status().message().c_str());
    std::exit(1);
  }
  int fd = ::socket(a->addr.ss_family, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a->addr), a->addr_len) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  return fd;
}

template <typename M>
std::string Frame(Op op, uint64_t id, const M& m) {
  std::string body;
  tldb::proto::WireWriter w(&body);
  tldb::proto::Encode(m, w);
  return tldb::proto::EncodeFrame(static_cast<uint8_t>(op), 0, id, body);
}

void SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      std::perror("send");
      std::exit(1);
    }
    off += static_cast<size_t>(n);
  }
}

struct Conn {
  int fd = -1;
  std::string in;
  std::unordered_map<uint64_t, int64_t> sent_us;
  uint64_t next_id = 1;
};

// Reads whatever is there and returns completed frames (header, body copy).
std::vector<std::pair<tldb::proto::FrameHeader, std::string>> ReadFrames(Conn& c) {
  char buf[65536];
  ssize_t n = ::recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (n == 0) {
    std::fprintf(stderr, "server closed a connection\n");
    std::exit(1);
  }
  if (n > 0) c.in.append(buf, static_cast<size_t>(n));
  std::vector<std::pair<tldb::proto::FrameHeader, std::string>> out;
  size_t used = 0;
  while (true) {
    tldb::proto::Frame f;
    auto r = tldb::proto::ParseFrame(c.in.data() + used, c.in.size() - used, 64u << 20, &f);
    if (r.outcome != tldb::proto::ParseOutcome::kFrame) break;
    out.emplace_back(f.header, std::string(f.body));
    used += r.frame_bytes;
  }
  c.in.erase(0, used);
  return out;
}

void Handshake(Conn& c) {
  SendAll(c.fd, Frame(Op::kHello, 0, tldb::proto::HelloRequest{1, "net_bench", ""}));
  while (true) {
    pollfd p{c.fd, POLLIN, 0};
    ::poll(&p, 1, 1000);
    if (!ReadFrames(c).empty()) return;
  }
}

void Report(const char* what, std::vector<int64_t>& lat, double seconds, uint64_t errors) {
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat.empty() ? 0 : lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))];
  };
  std::printf(
      "%s: %zu requests in %.2f s = %.0f req/s, latency p50 %lld us, p99 %lld us, "
      "p99.9 %lld us, errors %llu\n",
      what, lat.size(), seconds, lat.size() / seconds, (long long)pct(0.5), (long long)pct(0.99),
      (long long)pct(0.999), (unsigned long long)errors);
}

// Keeps `depth` requests in flight on each connection for `seconds`.
void ClosedLoop(const Args& a,
                const std::function<std::string(Conn&, uint64_t, std::mt19937&)>& make,
                const char* what) {
  std::vector<Conn> conns(a.connections);
  int ep = epoll_create1(0);
  for (size_t i = 0; i < conns.size(); ++i) {
    conns[i].fd = Dial(a.server);
    Handshake(conns[i]);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  std::mt19937 rng(1);
  auto issue = [&](Conn& c) {
    uint64_t id = c.next_id++;
    c.sent_us[id] = NowUs();
    SendAll(c.fd, make(c, id, rng));
  };
  for (auto& c : conns) {
    std::string batch;
    for (uint32_t d = 0; d < a.depth; ++d) {
      uint64_t id = c.next_id++;
      c.sent_us[id] = NowUs();
      batch += make(c, id, rng);
    }
    SendAll(c.fd, batch);
  }
  std::vector<int64_t> lat;
  uint64_t errors = 0;
  auto start = Clock::now();
  auto end = start + std::chrono::seconds(a.seconds);
  epoll_event events[256];
  while (Clock::now() < end) {
    int n = epoll_wait(ep, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      Conn& c = conns[events[i].data.u64];
      for (auto& [h, body] : ReadFrames(c)) {
        auto it = c.sent_us.find(h.request_id);
        if (it == c.sent_us.end()) continue;
        lat.push_back(NowUs() - it->second);
        if (h.flags & tldb::proto::kFlagError) ++errors;
        c.sent_us.erase(it);
        issue(c);
      }
    }
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  Report(what, lat, secs, errors);
  for (auto& c : conns) ::close(c.fd);
  ::close(ep);
}

void Populate(const Args& a) {
  Conn c;
  c.fd = Dial(a.server);
  Handshake(c);
  std::string payload(a.payload_bytes, 'p');
  for (uint32_t t = 0; t < a.timelines; t += 100) {
    std::vector<std::string> keys;
    for (uint32_t k = t; k < std::min(a.timelines, t + 100); ++k)
      keys.push_back("bench:" + std::to_string(k));
    std::vector<std::string_view> views(keys.begin(), keys.end());
    for (int m = 0; m < 20; ++m) {
      SendAll(c.fd, Frame(Op::kAppendFanout, c.next_id++,
                          tldb::proto::AppendFanoutRequest{a.ns, views, "",
                                                           tldb::Durability::kBuffered, payload}));
    }
    for (int got = 0; got < 20;) {
      pollfd p{c.fd, POLLIN, 0};
      ::poll(&p, 1, 1000);
      got += static_cast<int>(ReadFrames(c).size());
    }
  }
  ::close(c.fd);
}

void WaitLatency(const Args& a) {
  Conn waiter, writer;
  waiter.fd = Dial(a.server);
  writer.fd = Dial(a.server);
  Handshake(waiter);
  Handshake(writer);
  std::string payload(a.payload_bytes, 'w');
  std::vector<int64_t> lat;
  uint64_t errors = 0;
  tldb::Seq last = 0;
  auto start = Clock::now();
  for (uint32_t i = 0; i < a.iterations; ++i) {
    SendAll(waiter.fd,
            Frame(Op::kWait, i + 1, tldb::proto::WaitRequest{a.ns, "bench:wait", last, 10'000}));
    usleep(200);  // let the WAIT park
    int64_t t0 = NowUs();
    SendAll(writer.fd, Frame(Op::kAppend, i + 1,
                             tldb::proto::AppendRequest{a.ns, "bench:wait", "", false, 0,
                                                        tldb::Durability::kDefault, payload}));
    bool woke = false, acked = false;
    while (!woke || !acked) {
      pollfd p[2] = {{waiter.fd, POLLIN, 0}, {writer.fd, POLLIN, 0}};
      ::poll(p, 2, 1000);
      for (auto& [h, body] : ReadFrames(waiter)) {
        tldb::proto::WaitResponse r;
        if (!tldb::proto::Decode(body, &r) || !r.ready) ++errors;
        last = r.last_seq;
        lat.push_back(NowUs() - t0);
        woke = true;
      }
      acked |= !ReadFrames(writer).empty();
    }
  }
  Report("wait wake-up (append sent -> WAIT answered)", lat,
         std::chrono::duration<double>(Clock::now() - start).count(), errors);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"net_bench: loopback load generator for tldb-server"};
  app.add_option("--server", a.server)->capture_default_str();
  app.add_option("--mode", a.mode, "append, scan, wait or ping")
      ->check(CLI::IsMember({"append", "scan", "wait", "ping"}));
  app.add_option("--ns", a.ns)->capture_default_str();
  app.add_option("--connections", a.connections)->capture_default_str();
  app.add_option("--depth", a.depth, "Requests in flight per connection")->capture_default_str();
  app.add_option("--seconds", a.seconds)->capture_default_str();
  app.add_option("--payload-bytes", a.payload_bytes)->capture_default_str();
  app.add_option("--timelines", a.timelines, "Distinct timelines written / scanned")
      ->capture_default_str();
  app.add_option("--iterations", a.iterations, "WAIT round trips (mode wait)")
      ->capture_default_str();
  app.add_option("--durability", a.durability, "sync or buffered (mode append)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (a.mode == "wait") {
    WaitLatency(a);
    return 0;
  }
  std::string payload(a.payload_bytes, 'x');
  auto dur = a.durability == "buffered" ? tldb::Durability::kBuffered : tldb::Durability::kSync;
  if (a.mode == "append") {
    ClosedLoop(
        a,
        [&](Conn&, uint64_t id, std::mt19937& rng) {
          std::string key = "bench:" + std::to_string(rng() % a.timelines);
          return Frame(Op::kAppend, id,
                       tldb::proto::AppendRequest{a.ns, key, "", false, 0, dur, payload});
        },
        "append");
    return 0;
  }
  if (a.mode == "ping") {
    ClosedLoop(
        a,
        [&](Conn&, uint64_t id, std::mt19937&) {
          return Frame(Op::kPing, id, tldb::proto::PingRequest{});
        },
        "ping");
    return 0;
  }
  Populate(a);
  ClosedLoop(
      a,
      [&](Conn&, uint64_t id, std::mt19937& rng) {
        std::string key = "bench:" + std::to_string(rng() % a.timelines);
        return Frame(Op::kScan, id,
                     tldb::proto::ScanRequest{a.ns, key, 0, 0, tldb::Direction::kBackward, 20, 0});
      },
      "scan latest-20");
  return 0;
}
