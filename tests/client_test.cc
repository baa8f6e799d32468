// tldb::Client behaviour that does not depend on the engine: deadlines, callbacks, closing,
// lazy reconnection. A tiny fake server answers HELLO and then ignores requests.
#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "server_test_util.h"

namespace tldb::testing {
namespace {

using namespace std::chrono_literals;

// Accepts one connection on 127.0.0.1:<ephemeral>, answers HELLO, then reads and ignores (but
// keeps what it read, for tests that check what the client sent).
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd_, 4);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~SilentServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // The frames received after HELLO.
  std::vector<proto::Frame> Frames(std::string* storage) {
    {
      std::lock_guard lock(mu_);
      *storage = received_;
    }
    std::vector<proto::Frame> out;
    size_t off = 0;
    while (off < storage->size()) {
      proto::Frame f;
      auto r = proto::ParseFrame(storage->data() + off, storage->size() - off,
                                 proto::kFrameBodyBytesCeiling, &f);
      if (r.outcome != proto::ParseOutcome::kFrame) break;
      out.push_back(f);
      off += r.frame_bytes;
    }
    return out;
  }

 private:
  void Serve() {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    ssize_t n = ::recv(c, buf, sizeof(buf), 0);  // HELLO
    if (n > 0) {
      std::string body;
      proto::WireWriter w(&body);
      proto::HelloResponse h;
      h.server_name = "silent";
      proto::Encode(h, w);
      std::string f = proto::EncodeFrame(static_cast<uint8_t>(proto::Op::kHello),
                                         proto::kFlagResponse, 0, body);
      (void)::send(c, f.data(), f.size(), MSG_NOSIGNAL);
    }
    while (!stop_) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      std::lock_guard lock(mu_);
      received_.append(buf, static_cast<size_t>(n));
    }
    ::close(c);
  }
  int fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string received_;
  std::thread thread_;
};

TEST(ClientTest, EveryCallHasADeadline) {
  SilentServer s;
  ClientOptions o;
  o.server = s.address();
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->server_info().server_name, "silent");
  auto t0 = std::chrono::steady_clock::now();
  auto r = (*c)->Ping("x", CallOptions{100});
  EXPECT_EQ(r.status().code(), Status::Code::kTimedOut);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_GE(ms, 95);
  EXPECT_LT(ms, 1000);
}

TEST(ClientTest, CloseFailsOutstandingCallsAndLaterOnes) {
  SilentServer s;
  ClientOptions o;
  o.server = s.address();
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  std::promise<Status> p;
  (*c)->WaitAsync("store", "t", 0, 30'000, [&p](Result<WaitResult> r) { p.set_value(r.status()); });
  (*c)->Close();
  auto f = p.get_future();
  ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(f.get().code(), Status::Code::kClosed);
  EXPECT_EQ((*c)->Ping().status().code(), Status::Code::kClosed);
}

TEST(ClientTest, ConnectFailureIsReported) {
  ClientOptions o;
  o.server = "127.0.0.1:1";
  o.connect_timeout_ms = 500;
  EXPECT_FALSE(Client::Connect(o).ok());
  o.server = "not-an-address";
  EXPECT_EQ(Client::Connect(o).status().code(), Status::Code::kInvalidArgument);
}

TEST(ClientTest, BlockingCallFromACallbackIsRefusedNotDeadlocked) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  std::promise<Status> p;
  c->PingAsync("x", [&](Result<std::string>) { p.set_value(c->Ping().status()); });
  auto f = p.get_future();
  ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(f.get().code(), Status::Code::kInvalidArgument);
}

TEST(ClientTest, ReconnectsLazilyAfterTheServerClosedAnIdleConnection) {
  ServerConfig cfg;
  cfg.idle_timeout_ms = 200;
  TestServer ts(cfg);
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Append("store", "lazy", "1").ok());
  std::this_thread::sleep_for(600ms);  // the server closes the idle connection
  auto r = c->Append("store", "lazy", "2");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->seq, 2u);
}

// DeleteTimeline "through the last" must not go out as seq 0: a re-sent request would then
// delete messages appended after the first attempt. The client asks LAST_SEQ first.
TEST(ClientTest, DeleteTimelineResolvesItsThroughSeqBeforeSending) {
  SilentServer s;
  ClientOptions o;
  o.server = s.address();
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->DeleteTimeline("store", "t", 0, CallOptions{100}).status().code(),
            Status::Code::kTimedOut);
  EXPECT_EQ((*c)->DeleteTimeline("store", "t", 5, CallOptions{100}).status().code(),
            Status::Code::kTimedOut);
  std::string bytes;
  auto frames = s.Frames(&bytes);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].header.op, static_cast<uint8_t>(proto::Op::kLastSeq));
  ASSERT_EQ(frames[1].header.op, static_cast<uint8_t>(proto::Op::kMutate));
  proto::MutateRequest m;
  ASSERT_TRUE(proto::Decode(frames[1].body, &m));
  EXPECT_EQ(m.kind, MutationKind::kDeleteTimeline);
  EXPECT_EQ(m.seq, 5u);
}

// Mutations name explicit SeqIds and are idempotent, so the client re-sends them after a
// reconnection: every one succeeds, and each is applied once.
TEST(ClientTest, MutationsAreResentAfterAReconnection) {
  TestServer ts;
  ClientOptions o;
  o.server = ts.address();
  o.reconnect_attempts = 20;
  o.reconnect_backoff_ms = 20;
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  constexpr int kN = 100;
  for (int i = 0; i < kN; ++i) ASSERT_TRUE((*c)->Append("store", "rs", std::to_string(i)).ok());
  std::atomic<int> ok{0}, failed{0};
  for (Seq s = 1; s <= kN; ++s) {
    auto done = [&](Result<MutationResult> r) { (r.ok() ? ok : failed)++; };
    if (s % 2) {
      (*c)->RecallAsync("store", "rs", s, done);
    } else {
      (*c)->EditAsync("store", "rs", s, "edited", done);
    }
  }
  ts.server().Stop();  // some are done, the rest dropped with the connection
  std::this_thread::sleep_for(50ms);
  ts.StopServer();
  ts.StartServer();  // same port
  for (int i = 0; i < 500 && ok + failed < kN; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(ok.load(), kN);
  EXPECT_EQ(failed.load(), 0);
  ScanOptions all;
  all.limit = 1000;
  auto left = (*c)->Scan("store", "rs", all);
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  ASSERT_EQ(left->size(), static_cast<size_t>(kN / 2));  // the even ones, edited
  for (const auto& m : *left) {
    EXPECT_EQ(m.seq % 2, 0u);
    EXPECT_EQ(m.payload, "edited");
  }
}

}  // namespace
}  // namespace tldb::testing
