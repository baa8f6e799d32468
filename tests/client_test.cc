// tldb::Client behaviour that does not depend on the engine: deadlines, callbacks, closing,
// lazy reconnection. A tiny fake server answers HELLO and then ignores requests.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
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
  // A client of this server (null when the connection failed).
  std::unique_ptr<Client> Connect() const {
    ClientOptions o;
    o.server = address();
    auto c = Client::Connect(o);
    return c.ok() ? std::move(c).value() : nullptr;
  }
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

// The task id of this process's thread named `name`, or 0.
pid_t FindThread(const std::string& name) {
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(e.path() / "comm");
    std::string n;
    if (std::getline(comm, n) && n == name) return std::stoi(e.path().filename().string());
  }
  return 0;
}

// A field of /proc/self/task/<tid>/status ("State", "voluntary_ctxt_switches").
std::string TaskStatus(pid_t tid, const std::string& field) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0)
      return line.substr(line.find_first_not_of(" \t", field.size() + 1));
  }
  return {};
}

TEST(ClientTest, EveryCallHasADeadline) {
  SilentServer s;
  auto c = s.Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->server_info().server_name, "silent");
  auto t0 = std::chrono::steady_clock::now();
  auto r = c->Ping("x", CallOptions{100});
  EXPECT_EQ(r.status().code(), Status::Code::kTimedOut);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_GE(ms, 95);
  EXPECT_LT(ms, 1000);
}

TEST(ClientTest, CloseFailsOutstandingCallsAndLaterOnes) {
  SilentServer s;
  auto c = s.Connect();
  ASSERT_NE(c, nullptr);
  std::promise<Status> p;
  c->WaitAsync("store", "t", 0, 30'000, [&p](Result<WaitResult> r) { p.set_value(r.status()); });
  c->Close();
  auto f = p.get_future();
  ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(f.get().code(), Status::Code::kClosed);
  EXPECT_EQ(c->Ping().status().code(), Status::Code::kClosed);
}

// Close() while a blocking caller owns the read side and sleeps in poll() for a response that
// never comes (its deadline is ten minutes away): the caller is woken by an event to give the
// side to the I/O thread, which fails the call with Closed; nothing waits for a timeout.
TEST(ClientTest, CloseWakesACallerBlockedReadingItsResponse) {
  SilentServer s;
  auto c = s.Connect();
  ASSERT_NE(c, nullptr);
  auto call =
      std::async(std::launch::async, [&] { return c->Ping("x", CallOptions{600'000}).status(); });
  std::string bytes;
  for (int i = 0; i < 2000 && s.Frames(&bytes).empty(); ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(s.Frames(&bytes).size(), 1u);  // the PING is out: its caller reads the socket
  c->Close();
  ASSERT_EQ(call.wait_for(60s), std::future_status::ready);
  EXPECT_EQ(call.get().code(), Status::Code::kClosed);
}

// An idle client sleeps: its I/O thread waits on the socket, its eventfd and a timer armed at
// the next deadline (10 s away here), so it does not wake at all while nothing happens. (The
// old client woke every 10 ms.)
TEST(ClientTest, AnIdleClientsIoThreadDoesNotWakeUp) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Ping("x").ok());
  pid_t io = 0;  // the thread names itself once it runs: wait for that, with a generous bound
  for (int i = 0; i < 10'000 && (io = FindThread("tldb-client-io")) <= 0; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_GT(io, 0);
  for (int i = 0; i < 2000 && TaskStatus(io, "State").rfind("S", 0) != 0; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(TaskStatus(io, "State").substr(0, 1), "S");
  const std::string before = TaskStatus(io, "voluntary_ctxt_switches");
  ASSERT_FALSE(before.empty());
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(TaskStatus(io, "voluntary_ctxt_switches"), before);
  auto r = c->Ping("y");  // and it still answers
  ASSERT_TRUE(r.ok()) << StatusText(r.status());
  EXPECT_EQ(*r, "y");
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
  auto before = c->Stats();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  // The server closes the idle connection (waited for, with a generous bound).
  auto observer = ts.Connect();
  ASSERT_TRUE(observer);
  for (int i = 0; i < 1000; ++i) {
    std::this_thread::sleep_for(20ms);
    auto s = observer->Stats();  // the observer stays busy, so it is never idle
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    if (s->Get("disconnects_timeout") > before->Get("disconnects_timeout")) break;
  }
  // With a client_msg_id: the client may have written it just as the server closed the
  // connection (it had not read the close yet); then it is re-sent on the new connection, as the
  // client's contract says (without one, an append in flight at a close fails with IOError).
  AppendOptions ao;
  ao.client_msg_id = "lazy-2";
  auto r = c->Append("store", "lazy", "2", ao);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->seq, 2u);
  // The append went out on a new connection: the old one was closed for idleness.
  auto after = observer->Stats();
  ASSERT_TRUE(after.ok());
  EXPECT_GT(after->Get("disconnects_timeout"), before->Get("disconnects_timeout"));
  EXPECT_GE(after->Get("connections_accepted"), before->Get("connections_accepted") + 2)
      << "the observer and the client's reconnection";
}

// DeleteTimeline "through the last" must not go out as seq 0: a re-sent request would then
// delete messages appended after the first attempt. The client asks LAST_SEQ first.
TEST(ClientTest, DeleteTimelineResolvesItsThroughSeqBeforeSending) {
  SilentServer s;
  auto c = s.Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->DeleteTimeline("store", "t", 0, CallOptions{100}).status().code(),
            Status::Code::kTimedOut);
  EXPECT_EQ(c->DeleteTimeline("store", "t", 5, CallOptions{100}).status().code(),
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

// ReadMulti and WaitRead put every field on the wire (READ_MULTI; WAIT with its optional
// limit and bytes_max), and Wait still sends the short WAIT body.
TEST(ClientTest, ReadMultiAndWaitReadSendTheirFields) {
  SilentServer s;
  auto c = s.Connect();
  ASSERT_NE(c, nullptr);
  const TimelineAfter req[] = {{"g:1", 4}, {"g:2", 0}};
  EXPECT_EQ(c->ReadMulti("store", req, {.timeline_limit = 5, .limit = 7, .bytes_max = 9},
                         CallOptions{100})
                .status()
                .code(),
            Status::Code::kTimedOut);
  EXPECT_EQ(c->WaitRead("store", "w", 3, 0, {.limit = 2, .bytes_max = 11}, CallOptions{100})
                .status()
                .code(),
            Status::Code::kTimedOut);
  EXPECT_EQ(c->Wait("store", "w", 3, 0, CallOptions{100}).status().code(), Status::Code::kTimedOut);
  std::string bytes;
  auto frames = s.Frames(&bytes);
  ASSERT_EQ(frames.size(), 3u);
  ASSERT_EQ(frames[0].header.op, static_cast<uint8_t>(proto::Op::kReadMulti));
  proto::ReadMultiRequest rm;
  ASSERT_TRUE(proto::Decode(frames[0].body, &rm));
  EXPECT_EQ(rm.ns, "store");
  EXPECT_EQ(rm.timeline_limit, 5u);
  EXPECT_EQ(rm.limit, 7u);
  EXPECT_EQ(rm.bytes_max, 9u);
  ASSERT_EQ(rm.timelines.size(), 2u);
  EXPECT_EQ(rm.timelines[0].timeline, "g:1");
  EXPECT_EQ(rm.timelines[0].after_seq, 4u);
  EXPECT_EQ(rm.timelines[1].timeline, "g:2");
  ASSERT_EQ(frames[1].header.op, static_cast<uint8_t>(proto::Op::kWait));
  proto::WaitRequest w;
  ASSERT_TRUE(proto::Decode(frames[1].body, &w));
  EXPECT_TRUE(w.with_messages);
  EXPECT_EQ(w.after_seq, 3u);
  EXPECT_EQ(w.limit, 2u);
  EXPECT_EQ(w.bytes_max, 11u);
  ASSERT_TRUE(proto::Decode(frames[2].body, &w));
  EXPECT_FALSE(w.with_messages);
}

// Mutations name explicit SeqIds and are idempotent, so the client re-sends them after a
// reconnection: every one succeeds, and each is applied once.
TEST(ClientTest, MutationsAreResentAfterAReconnection) {
  TestServer ts;
  auto c = ts.ConnectRetrying();
  ASSERT_NE(c, nullptr);
  constexpr int kN = 100;
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(c->Append("store", "rs", std::to_string(i)).ok());
  std::atomic<int> ok{0}, failed{0};
  for (Seq s = 1; s <= kN; ++s) {
    auto done = [&](Result<MutationResult> r) { (r.ok() ? ok : failed)++; };
    if (s % 2) {
      c->RecallAsync("store", "rs", s, done);
    } else {
      c->EditAsync("store", "rs", s, "edited", done);
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
  auto left = c->Scan("store", "rs", all);
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  ASSERT_EQ(left->size(), static_cast<size_t>(kN / 2));  // the even ones, edited
  for (const auto& m : *left) {
    EXPECT_EQ(m.seq % 2, 0u);
    EXPECT_EQ(m.payload, "edited");
  }
}

// Blocking calls read their own responses (no hop to the I/O thread) while other threads share
// the client: eight threads append and read back, a subscription on the same connection gets
// pushes and asynchronous appends complete, all at once. Every response reaches its own caller,
// pushes arrive in order, and handlers and async callbacks still run on the I/O thread only.
TEST(ClientTest, ManyBlockingThreadsShareAClientWithPushesAndAsyncCalls) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  constexpr int kThreads = 8, kPerThread = 150, kPushed = 300;
  std::mutex mu;
  std::set<std::thread::id> workers;
  std::vector<Seq> pushed;
  bool callback_on_worker = false;
  auto on_worker = [&] { return workers.count(std::this_thread::get_id()) > 0; };
  auto sub = c->Subscribe("store", "pushed", 0, false, [&](const SubscriptionEvent& e) {
    std::lock_guard lock(mu);
    callback_on_worker |= on_worker();
    if (e.status.ok()) pushed.push_back(e.message.seq);
  });
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  std::atomic<int> bad{0}, async_ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      {
        std::lock_guard lock(mu);
        workers.insert(std::this_thread::get_id());
      }
      std::string tl = "blk:" + std::to_string(t);
      for (int i = 1; i <= kPerThread; ++i) {
        std::string payload = tl + "/" + std::to_string(i);
        auto a = c->Append("store", tl, payload);
        if (!a.ok() || a->seq != static_cast<Seq>(i)) ++bad;
        auto g = c->Get("store", tl, static_cast<Seq>(i));
        if (!g.ok() || g->payload != payload) ++bad;
        if (t == 0 && i * 2 <= kPushed) {  // async appends to the subscribed timeline
          for (int k = 0; k < 2; ++k) {
            c->AppendAsync("store", "pushed", "p", {}, [&](Result<AppendResult> r) {
              std::lock_guard lock(mu);
              callback_on_worker |= on_worker();
              if (r.ok()) ++async_ok;
            });
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mu);
      if (pushed.size() >= static_cast<size_t>(kPushed)) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(async_ok.load(), kPushed);
  std::lock_guard lock(mu);
  EXPECT_FALSE(callback_on_worker);
  ASSERT_EQ(pushed.size(), static_cast<size_t>(kPushed));
  for (size_t i = 0; i < pushed.size(); ++i) EXPECT_EQ(pushed[i], i + 1);
}

// Several threads block on a server that never answers: each call times out on its own deadline
// whether its thread holds the read role or waits for another reader.
TEST(ClientTest, BlockingCallsOnManyThreadsTimeOut) {
  SilentServer s;
  auto c = s.Connect();
  ASSERT_NE(c, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> timed_out{0}, in_time{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto t0 = std::chrono::steady_clock::now();
      auto r = c->Ping("x", CallOptions{static_cast<uint32_t>(100 + 50 * t)});
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
      if (r.status().code() == Status::Code::kTimedOut) ++timed_out;
      if (ms >= 95 + 50 * t && ms < 1000) ++in_time;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(timed_out.load(), 4);
  EXPECT_EQ(in_time.load(), 4);
}

// Blocking appends with a client_msg_id from several threads across a server restart: the
// reader that sees the connection drop hands it to the I/O thread, which reconnects and re-sends;
// every call succeeds and each message is stored once.
TEST(ClientTest, BlockingRetriedAppendsSurviveARestart) {
  TestServer ts;
  auto c = ts.ConnectRetrying();
  ASSERT_NE(c, nullptr);
  constexpr int kThreads = 4, kPerThread = 100;
  std::atomic<int> failed{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        AppendOptions ao;
        ao.client_msg_id = id;
        if (!c->Append("store", "restart", "m", ao).ok()) ++failed;
        ++done;
      }
    });
  }
  while (done < kThreads * kPerThread / 4) std::this_thread::sleep_for(1ms);
  ts.server().Stop();
  ts.StopServer();
  ts.StartServer();  // same port
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  std::string_view keys[] = {"restart"};
  auto last = c->LastSeq("store", keys);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ((*last)[0], static_cast<Seq>(kThreads * kPerThread));
}

}  // namespace
}  // namespace tldb::testing
