// tldb-server end to end, connection hygiene: protocol violations, the connection limit, slow
// consumers, slowloris and idle connections (raw sockets for the misbehaving clients).
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "connection.h"
#include "server_test_util.h"
#include "tldb/socket_sends.h"

namespace tldb::testing {
namespace {

using namespace std::chrono_literals;
using proto::ErrorCode;
using proto::Op;

TEST(ServerTest, ProtocolViolationsGetAFatalErrorAndOthersKeepWorking) {
  ServerConfig cfg;
  cfg.frame_body_bytes_max = 64 << 10;
  TestServer ts(cfg);
  auto good = ts.Connect();
  ASSERT_TRUE(good);
  {  // request before HELLO
    RawConn r(ts.port());
    ASSERT_TRUE(r.SendMsg(Op::kPing, 5, proto::PingRequest{""}));
    auto f = r.ReadFrame(2000);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->ErrorCode(), static_cast<uint16_t>(ErrorCode::kHandshakeRequired));
    EXPECT_TRUE(f->header.flags & proto::kFlagFatal);
    EXPECT_TRUE(r.WaitEof(2000));
  }
  {  // oversized frame: refused from its header, before the body is read
    RawConn r(ts.port());
    ASSERT_TRUE(r.Hello());
    std::string header(proto::kHeaderBytes, '\0');
    proto::FrameHeader h;
    h.op = static_cast<uint8_t>(Op::kAppend);
    h.request_id = 77;
    h.body_length = 1 << 20;
    proto::EncodeHeader(h, header.data());
    ASSERT_TRUE(r.Send(header));
    auto f = r.ReadFrame(2000);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->ErrorCode(), static_cast<uint16_t>(ErrorCode::kFrameTooLarge));
    EXPECT_EQ(f->header.request_id, 77u);
    EXPECT_TRUE(r.WaitEof(2000));
  }
  {  // unknown opcode
    RawConn r(ts.port());
    ASSERT_TRUE(r.Hello());
    ASSERT_TRUE(r.SendFrame(static_cast<Op>(0x6F), 6, ""));  // reserved, not defined
    auto f = r.ReadFrame(2000);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->ErrorCode(), static_cast<uint16_t>(ErrorCode::kUnknownOpcode));
    EXPECT_TRUE(r.WaitEof(2000));
  }
  {  // malformed body and garbage
    RawConn r(ts.port());
    ASSERT_TRUE(r.Hello());
    ASSERT_TRUE(r.SendFrame(Op::kAppend, 8, "\x01"));
    auto f = r.ReadFrame(2000);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->ErrorCode(), static_cast<uint16_t>(ErrorCode::kMalformedFrame));
    RawConn g(ts.port());
    ASSERT_TRUE(g.Send(std::string(64, '\xee')));
    auto gf = g.ReadFrame(2000);
    ASSERT_TRUE(gf);
    EXPECT_EQ(gf->ErrorCode(), static_cast<uint16_t>(ErrorCode::kMalformedFrame));
  }
  {  // wrong protocol version in HELLO
    RawConn r(ts.port());
    ASSERT_TRUE(r.SendMsg(Op::kHello, 0, proto::HelloRequest{9, "x", ""}));
    auto f = r.ReadFrame(2000);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->ErrorCode(), static_cast<uint16_t>(ErrorCode::kUnsupportedVersion));
  }
  EXPECT_TRUE(good->Append("store", "still:ok", "x").ok());
  auto st = good->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_GE(st->Get("disconnects_protocol"), 4u);
}

TEST(ServerTest, ConnectionLimit) {
  ServerConfig cfg;
  cfg.connections_max = 3;
  TestServer ts(cfg);
  auto a = ts.Connect();
  auto b = ts.Connect();
  auto c = ts.Connect();
  ASSERT_TRUE(a && b && c);
  ClientOptions o;
  o.server = ts.address();
  auto d = Client::Connect(o);
  EXPECT_EQ(d.status().code(), Status::Code::kBusy) << d.status().ToString();
  EXPECT_NE(d.status().message().find("TOO_MANY_CONNECTIONS"), std::string::npos);
  EXPECT_TRUE(a->Append("store", "x", "still works").ok());
  c.reset();
  std::unique_ptr<Client> e;
  for (int i = 0; i < 50 && !e; ++i) {  // the server notices the close asynchronously
    auto r = Client::Connect(o);
    if (r.ok())
      e = std::move(r).value();
    else
      std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->Ping().ok());
}

TEST(ServerTest, SlowConsumerIsDisconnectedWhileOthersKeepWorking) {
  ServerConfig cfg;
  cfg.frame_body_bytes_max = 16 << 10;
  cfg.output_buffer_bytes_max = 64 << 10;
  cfg.send_stall_ms = 300;
  TestServer ts(cfg);
  auto good = ts.Connect();
  ASSERT_TRUE(good);
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(good->Append("store", "big", std::string(4000, 'b')).ok());
  RawConn slow(ts.port(), /*rcvbuf_bytes=*/4096);
  ASSERT_TRUE(slow.Hello());
  // Ask for ~8 KiB responses over and over and never read them.
  std::string batch;
  std::string body;
  proto::WireWriter w(&body);
  proto::Encode(proto::ScanRequest{"store", "big", 0, 0, Direction::kForward, 100, 0}, w);
  for (int i = 0; i < 200; ++i) {
    batch += proto::EncodeFrame(static_cast<uint8_t>(Op::kScan), 0, i + 1, body);
  }
  std::thread sender([&] {
    for (int i = 0; i < 20; ++i) {
      if (!slow.Send(batch)) break;  // the server stops reading; then it disconnects us
    }
  });
  // Wait for the disconnect itself (a loaded machine may take its time to fill the buffers),
  // bounded generously; others keep working meanwhile.
  bool disconnected = false;
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (!disconnected && std::chrono::steady_clock::now() < give_up) {
    EXPECT_TRUE(good->Ping().ok());
    auto st = good->Stats();
    ASSERT_TRUE(st.ok());
    disconnected = st->Get("disconnects_slow_consumer") >= 1;
    if (!disconnected) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(disconnected) << "the slow consumer was not disconnected within 60 s";
  ::shutdown(slow.fd(), SHUT_RDWR);
  sender.join();
  EXPECT_TRUE(good->Append("store", "x", "y").ok());
}

// Answers larger than the client's socket buffers, to a client that reads only after all its
// requests are in: the loop's sends come back short and then EAGAIN, and the rest goes out as
// the client reads. Every answer arrives whole and in order, with either way of sending
// (ServerConfig::net_backend: one io_uring submission per iteration, or one send() each).
TEST(ServerTest, LargeAnswersArriveWholeWithEachSendBackend) {
  for (const char* backend : {"uring", "posix"}) {
    SCOPED_TRACE(backend);
    if (auto probe = SocketSends::Open(backend);
        !probe.ok() && probe.status().code() == Status::Code::kNotSupported) {
      continue;  // io_uring refused by this kernel: the server would refuse to start
    }
    ServerConfig cfg;
    cfg.net_backend = backend;
    TestServer ts(cfg);
    auto c = ts.Connect();
    ASSERT_TRUE(c);
    constexpr int kMessages = 40;
    for (int i = 0; i < kMessages; ++i) {
      ASSERT_TRUE(
          c->Append("store", "big", std::string(3000, static_cast<char>('a' + i % 26))).ok());
    }
    RawConn raw(ts.port(), /*rcvbuf_bytes=*/4096);
    ASSERT_TRUE(raw.Hello());
    // 48 answers of ~120 KB, more than the socket buffers hold (the kernel lets a loopback
    // sender buffer up to 4 MiB). The requests come one at a time: once the buffers are full,
    // each answer is made while the ones before still wait, so its first send (the
    // iteration's batch) finds no room at all.
    constexpr uint64_t kScans = 48;
    for (uint64_t id = 1; id <= kScans; ++id) {
      ASSERT_TRUE(raw.SendMsg(
          Op::kScan, id,
          proto::ScanRequest{"store", "big", 0, 0, Direction::kForward, kMessages, 1u << 20}));
      std::this_thread::sleep_for(20ms);
    }
    for (uint64_t id = 1; id <= kScans; ++id) {
      auto f = raw.ReadFrame(10'000);
      ASSERT_TRUE(f) << "answer " << id << " did not arrive";
      ASSERT_FALSE(f->error()) << f->ErrorCode();
      EXPECT_EQ(f->header.request_id, id);
      std::vector<Message> msgs;
      ASSERT_TRUE(proto::DecodeMessages(f->body, &msgs));
      ASSERT_EQ(msgs.size(), static_cast<size_t>(kMessages));
      for (int i = 0; i < kMessages; ++i) {
        EXPECT_EQ(msgs[i].seq, static_cast<Seq>(i + 1));
        EXPECT_EQ(msgs[i].payload, std::string(3000, static_cast<char>('a' + i % 26)));
      }
    }
    EXPECT_TRUE(c->Ping().ok());
  }
}

TEST(ServerTest, SlowlorisAndIdleConnectionsAreClosed) {
  {
    // Only the frame deadline can close this connection within the (generous) wait: the idle
    // timeout is ten times longer than it.
    ServerConfig cfg;
    cfg.frame_deadline_ms = 200;
    cfg.idle_timeout_ms = 600'000;
    TestServer ts(cfg);
    RawConn partial(ts.port());
    ASSERT_TRUE(partial.Hello());
    ASSERT_TRUE(partial.Send(std::string("TL\x01", 3)));  // a frame that never completes
    auto f = partial.ReadFrame(60'000);
    ASSERT_TRUE(f) << "no close within 60 s of a 200 ms frame deadline";
    EXPECT_EQ(f->ErrorCode(), static_cast<uint16_t>(ErrorCode::kTimedOutConnection));
    EXPECT_TRUE(partial.WaitEof(60'000));
  }
  ServerConfig cfg;
  cfg.frame_deadline_ms = 200;
  cfg.idle_timeout_ms = 400;
  TestServer ts(cfg);
  RawConn idle(ts.port());
  ASSERT_TRUE(idle.Hello());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.WaitEof(60'000));
  EXPECT_GE(ElapsedMs(t0), 350);  // not before the idle timeout
  // A subscriber is not idle: after more than the idle timeout its connection is still the one
  // it subscribed on (no timeout disconnect counted, no new connection accepted).
  auto sub = ts.Connect();
  ASSERT_TRUE(sub);
  ASSERT_TRUE(sub->Subscribe("store", "q", 0, true, [](const SubscriptionEvent&) {}).ok());
  auto before = sub->Stats();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  std::this_thread::sleep_for(1000ms);  // 2.5 idle timeouts
  auto after = sub->Stats();
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->Get("disconnects_timeout"), before->Get("disconnects_timeout"));
  EXPECT_EQ(after->Get("connections_accepted"), before->Get("connections_accepted"));
}

// The server closes right after a FATAL frame (docs/protocol.md "Flags"): a frame ended after
// a fatal error was queued (the answer of a request in progress, say a WAIT that timed out) is
// dropped, whereas a non-fatal error lets later frames through.
TEST(ServerTest, ConnectionsAreSpreadOverTheLoops) {
  ServerConfig cfg;
  cfg.threads = 3;
  TestServer ts(cfg);
  // Connected one after another, as a pool at start-up: the listening socket wakes one loop
  // (EPOLLEXCLUSIVE), which hands each new connection to the loop with the fewest.
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 12; ++i) {
    auto c = ts.Connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->Ping().ok());  // served, on whichever loop took it
    clients.push_back(std::move(c));
  }
  auto st = clients.front()->Stats();
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->Get("loops"), 3u);
  EXPECT_EQ(st->Get("connections_open"), 12u);
  EXPECT_EQ(st->Get("connections_open_per_loop_min"), 4u);
  EXPECT_EQ(st->Get("connections_open_per_loop_max"), 4u);
  // Every one of them still works after the others connected.
  for (auto& c : clients) EXPECT_TRUE(c->Append("store", "t", "x").ok());
}

// A FATAL error frame queued behind answers the client has not read yet, with requests after
// it that the server never reads: a close() with unread input sends a reset, and the kernel
// drops what it still held to send, the FATAL frame with it. The server shuts its side down
// after the output instead and reads the rest away first (docs/design-server.md "Closing").
TEST(ServerTest, AFatalErrorReachesAClientThatReadsLate) {
  TestServer ts;
  auto good = ts.Connect();
  ASSERT_TRUE(good);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(good->Append("store", "big", std::string(4000, 'b')).ok());
  }
  RawConn r(ts.port(), /*rcvbuf_bytes=*/4096);
  ASSERT_TRUE(r.Hello());
  std::string body;
  proto::WireWriter w(&body);
  proto::Encode(proto::ScanRequest{"store", "big", 0, 0, Direction::kForward, 100, 0}, w);
  constexpr int kScans = 40;  // about 6.4 MB of answers
  std::string batch;
  for (int i = 0; i < kScans; ++i) {
    batch += proto::EncodeFrame(static_cast<uint8_t>(Op::kScan), 0, i + 1, body);
  }
  batch += proto::EncodeFrame(0x6F, 0, 1000, "");  // a reserved opcode: FATAL
  std::string ping_body;
  proto::WireWriter pw(&ping_body);
  proto::Encode(proto::PingRequest{""}, pw);
  for (int i = 0; i < 4000; ++i) {
    batch += proto::EncodeFrame(static_cast<uint8_t>(Op::kPing), 0, 2000 + i, ping_body);
  }
  // Sent from a thread: once the server stops reading, the send blocks until it closes.
  std::thread sender([&] { (void)r.Send(batch); });
  std::this_thread::sleep_for(300ms);  // the server answers until the client's window is full
  int scans = 0;
  std::optional<RawConn::Frame> last;
  while (auto f = r.ReadFrame(5000)) {
    if (!f->error() && f->header.op == static_cast<uint8_t>(Op::kScan)) ++scans;
    last = std::move(f);
  }
  EXPECT_TRUE(r.eof()) << "no close within 5 s";
  EXPECT_EQ(scans, kScans);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->header.request_id, 1000u);
  EXPECT_EQ(last->ErrorCode(), static_cast<uint16_t>(ErrorCode::kUnknownOpcode));
  EXPECT_TRUE(last->fatal());
  ::shutdown(r.fd(), SHUT_RDWR);
  sender.join();
}

// A client that neither closes after its FATAL error nor stops sending: the server reads its
// input away, and closes at the linger deadline all the same.
TEST(ServerTest, ALingeringConnectionIsClosedAtItsDeadline) {
  ServerConfig cfg;
  cfg.close_linger_ms = 300;
  TestServer ts(cfg);
  auto good = ts.Connect();
  ASSERT_TRUE(good);
  auto open_connections = [&] {
    auto st = good->Stats();
    EXPECT_TRUE(st.ok());
    return st.ok() ? st->Get("connections_open") : 0;
  };
  const uint64_t before = open_connections();
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  ASSERT_TRUE(r.SendFrame(static_cast<Op>(0x6F), 6, ""));
  auto f = r.ReadFrame(5000);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->fatal());
  EXPECT_FALSE(r.ReadFrame(5000)) << "nothing follows the FATAL frame";
  EXPECT_TRUE(r.eof()) << "the server shuts its sending side down after the FATAL frame";
  // Keep sending (the server reads it away) until the server has closed the connection.
  bool closed = false;
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (!closed && std::chrono::steady_clock::now() < give_up) {
    (void)r.SendSome(std::string(1000, 'z'));
    closed = open_connections() == before;
    if (!closed) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(closed) << "the lingering connection was never closed";
}

TEST(ConnectionTest, NothingIsQueuedAfterAFatalError) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  {
    server::Connection c(1, fds[0], "test", 0);
    c.Error(static_cast<uint8_t>(Op::kPing), 6, static_cast<uint16_t>(ErrorCode::kUnknownOpcode),
            "not fatal here", /*fatal=*/false);
    size_t start = c.Begin(Op::kPing, proto::kFlagResponse, 7);
    c.End(start);
    c.Error(static_cast<uint8_t>(Op::kPing), 8, static_cast<uint16_t>(ErrorCode::kMalformedFrame),
            "bad frame", /*fatal=*/true);
    start = c.Begin(Op::kPing, proto::kFlagResponse, 9);
    c.End(start);
    c.Error(static_cast<uint8_t>(Op::kPing), 10, static_cast<uint16_t>(ErrorCode::kMalformedFrame),
            "a second fatal error", /*fatal=*/true);
    std::vector<uint64_t> ids;
    std::string_view out = c.PendingOutput();
    while (!out.empty()) {
      proto::Frame f;
      const proto::ParseResult r = proto::ParseFrame(out.data(), out.size(), 1 << 20, &f);
      ASSERT_EQ(r.outcome, proto::ParseOutcome::kFrame);
      ids.push_back(f.header.request_id);
      out.remove_prefix(r.frame_bytes);
    }
    EXPECT_EQ(ids, (std::vector<uint64_t>{6, 7, 8})) << "nothing may follow the FATAL frame";
    EXPECT_TRUE(c.close_after_output());
  }
  ::close(fds[1]);
}

}  // namespace
}  // namespace tldb::testing
