// tldb-server end to end: the real server on an ephemeral loopback port, driven through the
// client library, raw sockets (for misbehaving clients) and the `tldb` / `tldb-server` binaries.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "server_test_util.h"

namespace tldb::testing {
namespace {

using namespace std::chrono_literals;
using proto::ErrorCode;
using proto::Op;

int64_t ElapsedMs(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

TEST(ServerTest, EveryOperationThroughTheClient) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->server_info().frame_body_bytes_max, 4u << 20);

  // APPEND, with dedupe and expected_last_seq.
  auto a1 = c->Append("store", "conv:1", "hello");
  ASSERT_TRUE(a1.ok()) << a1.status().ToString();
  EXPECT_EQ(a1->seq, 1u);
  AppendOptions ao;
  ao.client_msg_id = "m-2";
  auto a2 = c->Append("store", "conv:1", "world", ao);
  ASSERT_TRUE(a2.ok());
  auto a2again = c->Append("store", "conv:1", "world", ao);
  ASSERT_TRUE(a2again.ok());
  EXPECT_EQ(a2again->seq, 2u);
  EXPECT_TRUE(a2again->deduplicated);
  AppendOptions stale;
  stale.expected_last_seq = 1;
  EXPECT_EQ(c->Append("store", "conv:1", "x", stale).status().code(), Status::Code::kConflict);

  // APPEND_FANOUT.
  std::string_view members[] = {"inbox:a", "inbox:b"};
  auto fan = c->AppendFanout("store", members, "group hi");
  ASSERT_TRUE(fan.ok()) << fan.status().ToString();
  ASSERT_EQ(fan->size(), 2u);
  EXPECT_EQ((*fan)[1].seq, 1u);

  // GET, SCAN both ways, latest N, LAST_SEQ of many.
  auto g = c->Get("store", "conv:1", 2);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->payload, "world");
  EXPECT_EQ(g->client_msg_id, "m-2");
  EXPECT_TRUE(c->Get("store", "conv:1", 99).status().IsNotFound());
  for (int i = 3; i <= 30; ++i) ASSERT_TRUE(c->Append("store", "conv:1", std::to_string(i)).ok());
  ScanOptions fwd;
  fwd.from_seq = 5;
  fwd.limit = 3;
  auto s = c->Scan("store", "conv:1", fwd);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ((*s)[0].seq, 5u);
  auto latest = c->Latest("store", "conv:1", 20);
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 20u);
  EXPECT_EQ(latest->front().seq, 11u);
  EXPECT_EQ(latest->back().seq, 30u);
  std::string_view keys[] = {"conv:1", "inbox:a", "nobody"};
  auto last = c->LastSeq("store", keys);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, (std::vector<Seq>{30, 1, 0}));

  // Namespaces.
  NamespaceOptions no;
  no.ttl_ms = 1000;
  ASSERT_TRUE(c->CreateNamespace("chat", no).ok());
  auto d = c->DescribeNamespace("chat");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->options.ttl_ms, 1000u);
  auto list = c->ListNamespaces();
  ASSERT_TRUE(list.ok());
  std::set<std::string> names;
  for (const auto& n : *list) names.insert(n.name);
  EXPECT_TRUE(names.count("store") && names.count("sync") && names.count("chat"));
  EXPECT_FALSE(names.count(std::string(kCursorNamespace)));  // system namespaces are hidden
  EXPECT_EQ(c->DescribeNamespace("sync")->options.ttl_ms, kSyncNamespaceTtlMs);

  // PING, STATS.
  auto p = c->Ping("abc");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "abc");
  auto st = c->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_GE(st->Get("ops_append"), 31u);
  EXPECT_GE(st->Get("db_appends"), 30u);
  EXPECT_EQ(st->Get("connections_open"), 1u);
  EXPECT_GT(st->Get("append_latency_p99_us"), 0u);

  // Cursors: forward only unless reset; unread for many timelines.
  auto cs = c->SetCursor("phone", "store", "conv:1", 10);
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  EXPECT_TRUE(cs->moved);
  auto back = c->SetCursor("phone", "store", "conv:1", 5);
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->moved);
  EXPECT_EQ(back->cursor, 10u);
  std::string_view ck[] = {"conv:1", "inbox:a"};
  auto cg = c->GetCursors("phone", "store", ck);
  ASSERT_TRUE(cg.ok());
  EXPECT_EQ((*cg)[0].cursor, 10u);
  EXPECT_EQ((*cg)[0].unread, 20u);
  EXPECT_EQ((*cg)[1].unread, 1u);
  auto reset = c->SetCursor("phone", "store", "conv:1", 5, /*reset=*/true);
  ASSERT_TRUE(reset.ok());
  EXPECT_TRUE(reset->moved);
  EXPECT_EQ((*c->GetCursors("phone", "store", ck))[0].cursor, 5u);
  // Long timeline keys still get a cursor (hashed cursor key).
  std::string long_key(250, 'k');
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c->Append("store", long_key, "m").ok());
  ASSERT_TRUE(c->SetCursor("phone", "store", long_key, 3).ok());
  // A cursor beyond the last message is refused, and nothing is stored.
  auto beyond = c->SetCursor("phone", "store", long_key, 4);
  EXPECT_EQ(beyond.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(c->SetCursor("phone", "store", "no-such-timeline", 1).status().code(),
            Status::Code::kInvalidArgument);
  std::string_view lk[] = {long_key};
  EXPECT_EQ((*c->GetCursors("phone", "store", lk))[0].cursor, 3u);
}

TEST(ServerTest, PipelinedRequestsAreMatchedById) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  constexpr int kN = 300;
  std::vector<std::promise<Result<AppendResult>>> appends(kN);
  for (int i = 0; i < kN; ++i) {
    c->AppendAsync("store", "pipe:" + std::to_string(i % 3), "m" + std::to_string(i), {},
                   [&appends, i](Result<AppendResult> r) { appends[i].set_value(std::move(r)); });
  }
  std::map<int, std::set<Seq>> seqs;
  for (int i = 0; i < kN; ++i) {
    auto r = appends[i].get_future().get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    seqs[i % 3].insert(r->seq);
  }
  for (auto& [t, set] : seqs) EXPECT_EQ(set.size(), kN / 3u);  // distinct 1..100 each
  // Interleaved GETs: each answer must carry the payload of the seq it asked for.
  std::vector<std::promise<Result<Message>>> gets(kN / 3);
  for (int i = 0; i < kN / 3; ++i) {
    c->GetAsync("store", "pipe:0", static_cast<Seq>(i + 1),
                [&gets, i](Result<Message> r) { gets[i].set_value(std::move(r)); });
  }
  for (int i = 0; i < kN / 3; ++i) {
    auto m = gets[i].get_future().get();
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->seq, static_cast<Seq>(i + 1));
  }
  // Raw: three frames in one write, answered with their own ids.
  RawConn raw(ts.port());
  ASSERT_TRUE(raw.Hello());
  std::string batch;
  for (uint64_t id : {1001, 1002, 1003}) {
    std::string body;
    proto::WireWriter w(&body);
    proto::Encode(proto::PingRequest{std::to_string(id)}, w);
    batch += proto::EncodeFrame(static_cast<uint8_t>(Op::kPing), 0, id, body);
  }
  ASSERT_TRUE(raw.Send(batch));
  for (uint64_t id : {1001, 1002, 1003}) {
    auto f = raw.ReadFrame(2000);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->header.request_id, id);
    proto::PingRequest echo;
    ASSERT_TRUE(proto::Decode(f->body, &echo));
    EXPECT_EQ(echo.data, std::to_string(id));
  }
}

TEST(ServerTest, WaitWakesWhenAnotherConnectionAppends) {
  TestServer ts;
  auto waiter = ts.Connect();
  auto writer = ts.Connect();
  ASSERT_TRUE(waiter && writer);
  ASSERT_TRUE(writer->Append("store", "w:1", "first").ok());
  // Already satisfied: returns at once.
  auto now = waiter->Wait("store", "w:1", 0, 5000);
  ASSERT_TRUE(now.ok());
  EXPECT_TRUE(now->ready);
  // Times out without a message.
  auto t0 = std::chrono::steady_clock::now();
  auto timeout = waiter->Wait("store", "w:1", 1, 200);
  ASSERT_TRUE(timeout.ok());
  EXPECT_FALSE(timeout->ready);
  EXPECT_GE(ElapsedMs(t0), 190);
  // Woken by an append on the other connection.
  std::promise<Result<WaitResult>> woke;
  std::chrono::steady_clock::time_point woke_at;
  waiter->WaitAsync("store", "w:1", 1, 10'000, [&](Result<WaitResult> r) {
    woke_at = std::chrono::steady_clock::now();
    woke.set_value(std::move(r));
  });
  std::this_thread::sleep_for(50ms);
  auto appended_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(writer->Append("store", "w:1", "second").ok());
  auto fut = woke.get_future();
  ASSERT_EQ(fut.wait_for(3s), std::future_status::ready);
  auto r = fut.get();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ready);
  EXPECT_EQ(r->last_seq, 2u);
  EXPECT_LT(ElapsedMs(appended_at), 1000);
  (void)woke_at;
  // Limits: at most 60 s.
  EXPECT_EQ(waiter->Wait("store", "w:1", 5, 60'001).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(ServerTest, SubscribePushesEachAcknowledgedMessageInOrder) {
  TestServer ts;
  auto sub = ts.Connect();
  auto writer = ts.Connect();
  ASSERT_TRUE(sub && writer);
  ASSERT_TRUE(writer->Append("store", "s:1", "old-1").ok());
  ASSERT_TRUE(writer->Append("store", "s:1", "old-2").ok());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Message> got_all, got_new;
  auto from_start = sub->Subscribe("store", "s:1", 0, false, [&](const SubscriptionEvent& e) {
    std::lock_guard lock(mu);
    got_all.push_back(e.message);
    cv.notify_all();
  });
  ASSERT_TRUE(from_start.ok()) << from_start.status().ToString();
  auto from_now = sub->Subscribe("store", "s:1", 0, true, [&](const SubscriptionEvent& e) {
    std::lock_guard lock(mu);
    got_new.push_back(e.message);
    cv.notify_all();
  });
  ASSERT_TRUE(from_now.ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(writer->Append("store", "s:1", "new").ok());
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 3s, [&] { return got_all.size() == 7 && got_new.size() == 5; }))
        << got_all.size() << " " << got_new.size();
    for (size_t i = 0; i < got_all.size(); ++i) EXPECT_EQ(got_all[i].seq, i + 1);
    EXPECT_EQ(got_all[0].payload, "old-1");
    EXPECT_EQ(got_new.front().seq, 3u);
  }
  ASSERT_TRUE(sub->Unsubscribe(*from_start).ok());
  ASSERT_TRUE(writer->Append("store", "s:1", "after").ok());
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 3s, [&] { return got_new.size() == 6; }));
    EXPECT_EQ(got_all.size(), 7u);
  }
  // Fan-out appends reach subscribers of every target timeline.
  std::atomic<int> fan_pushes{0};
  auto fs =
      sub->Subscribe("store", "f:2", 0, true, [&](const SubscriptionEvent&) { ++fan_pushes; });
  ASSERT_TRUE(fs.ok());
  std::string_view targets[] = {"f:1", "f:2"};
  ASSERT_TRUE(writer->AppendFanout("store", targets, "x").ok());
  for (int i = 0; i < 100 && fan_pushes == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(fan_pushes.load(), 1);
}

TEST(ServerTest, TokensAndNamespaceRights) {
  ServerConfig cfg;
  cfg.tokens = {*ParseServerToken("writer:secret-w-123:rw=store"),
                *ParseServerToken("reader:secret-r-123:r=store,sync"),
                *ParseServerToken("admin:secret-a-123:rw=*")};
  TestServer ts(cfg);
  ClientOptions o;
  o.server = ts.address();
  o.token = "wrong-secret";
  auto bad = Client::Connect(o);
  EXPECT_EQ(bad.status().code(), Status::Code::kPermissionDenied) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("AUTH_FAILED"), std::string::npos);
  o.token = "";
  EXPECT_EQ(Client::Connect(o).status().code(), Status::Code::kPermissionDenied);

  auto writer = ts.Connect("secret-w-123");
  auto reader = ts.Connect("secret-r-123");
  auto admin = ts.Connect("secret-a-123");
  ASSERT_TRUE(writer && reader && admin);
  EXPECT_TRUE(writer->Append("store", "a:1", "x").ok());
  EXPECT_EQ(writer->Append("sync", "a:1", "x").status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(reader->Append("store", "a:1", "x").status().code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(reader->Get("store", "a:1", 1).ok());
  EXPECT_EQ(writer->Scan("__cursors", "x", {}).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(admin->Append("__cursors", "x", "forged").status().code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(reader->CreateNamespace("newns", {}).code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(admin->CreateNamespace("newns", {}).ok());
  auto visible = reader->ListNamespaces();
  ASSERT_TRUE(visible.ok());
  EXPECT_EQ(visible->size(), 2u);  // store, sync
  // Handshake grants are announced.
  EXPECT_EQ(reader->server_info().grants.size(), 2u);
  // Nothing was written by the denied requests.
  std::string_view k[] = {"a:1"};
  EXPECT_EQ((*admin->LastSeq("store", k))[0], 1u);
}

TEST(ServerTest, ProtectedModeRefusesNonLoopbackWithoutToken) {
  ServerConfig cfg;
  cfg.listen = "0.0.0.0:0";
  Status s = ValidateServerConfig(cfg);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(s.message().find("protected mode"), std::string::npos);
  cfg.tokens = {*ParseServerToken("t:longenoughsecret:rw=*")};
  EXPECT_TRUE(ValidateServerConfig(cfg).ok());
  EXPECT_TRUE(IsLoopbackListen("127.0.0.1:7070"));
  EXPECT_TRUE(IsLoopbackListen("[::1]:7070"));
  EXPECT_TRUE(IsLoopbackListen("localhost:7070"));
  EXPECT_FALSE(IsLoopbackListen("0.0.0.0:7070"));
  EXPECT_FALSE(ParseServerToken("nosecret").ok());
  EXPECT_FALSE(ParseServerToken("n:short").ok());
  EXPECT_FALSE(ParseServerToken("n:longenoughsecret:x=ns").ok());
}

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
  bool disconnected = false;
  for (int i = 0; i < 60 && !disconnected; ++i) {
    EXPECT_TRUE(good->Ping().ok());  // others keep working meanwhile
    auto st = good->Stats();
    ASSERT_TRUE(st.ok());
    disconnected = st->Get("disconnects_slow_consumer") >= 1;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(disconnected);
  ::shutdown(slow.fd(), SHUT_RDWR);
  sender.join();
  EXPECT_TRUE(good->Append("store", "x", "y").ok());
}

TEST(ServerTest, SlowlorisAndIdleConnectionsAreClosed) {
  ServerConfig cfg;
  cfg.frame_deadline_ms = 200;
  cfg.idle_timeout_ms = 400;
  TestServer ts(cfg);
  RawConn partial(ts.port());
  ASSERT_TRUE(partial.Hello());
  ASSERT_TRUE(partial.Send(std::string("TL\x01", 3)));  // a frame that never completes
  auto t0 = std::chrono::steady_clock::now();
  auto f = partial.ReadFrame(3000);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->ErrorCode(), static_cast<uint16_t>(ErrorCode::kTimedOutConnection));
  EXPECT_LT(ElapsedMs(t0), 1500);
  EXPECT_TRUE(partial.WaitEof(2000));

  RawConn idle(ts.port());
  ASSERT_TRUE(idle.Hello());
  t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.WaitEof(3000));
  EXPECT_GE(ElapsedMs(t0), 350);
  // A subscriber is not idle.
  auto sub = ts.Connect();
  ASSERT_TRUE(sub);
  ASSERT_TRUE(sub->Subscribe("store", "q", 0, true, [](const SubscriptionEvent&) {}).ok());
  std::this_thread::sleep_for(700ms);
  EXPECT_TRUE(sub->Ping().ok());
}

TEST(ServerTest, GracefulShutdownAndRestartLoseNothing) {
  TestServer ts;
  std::map<Seq, std::string> acked;
  std::mutex mu;
  {
    auto c = ts.Connect();
    ASSERT_TRUE(c);
    std::atomic<int> done{0};
    constexpr int kN = 200;
    for (int i = 0; i < kN; ++i) {
      std::string payload = "msg-" + std::to_string(i);
      c->AppendAsync("store", "durable", payload, {}, [&, payload](Result<AppendResult> r) {
        if (r.ok()) {
          std::lock_guard lock(mu);
          acked[r->seq] = payload;
        }
        ++done;
      });
    }
    ts.server().Stop();  // finishes what it accepted
    for (int i = 0; i < 500 && done < kN; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(done.load(), kN);
  }
  EXPECT_FALSE(acked.empty());
  ts.Restart();
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  for (const auto& [seq, payload] : acked) {
    auto m = c->Get("store", "durable", seq);
    ASSERT_TRUE(m.ok()) << seq << ": " << m.status().ToString();
    EXPECT_EQ(m->payload, payload);
  }
}

TEST(ServerTest, ClientReconnectsAndRetriesAppendsWithClientMsgId) {
  TestServer ts;
  auto c = ts.ConnectRetrying();
  ASSERT_NE(c, nullptr);
  std::atomic<int> ok{0}, failed{0};
  constexpr int kN = 100;
  for (int i = 0; i < kN; ++i) {
    AppendOptions ao;
    std::string id = "retry-" + std::to_string(i);
    ao.client_msg_id = id;
    c->AppendAsync("store", "retry", "p" + std::to_string(i), ao,
                   [&](Result<AppendResult> r) { (r.ok() ? ok : failed)++; });
  }
  ts.server().Stop();  // some appends done, the rest dropped with the connection
  std::this_thread::sleep_for(50ms);
  ts.StopServer();
  ts.StartServer();  // same port
  for (int i = 0; i < 500 && ok + failed < kN; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(ok.load(), kN);
  EXPECT_EQ(failed.load(), 0);
  std::string_view k[] = {"retry"};
  auto last = c->LastSeq("store", k);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ((*last)[0], static_cast<Seq>(kN));  // each applied exactly once
}

// ---------------------------------------------------------------- maintenance (issue 4)

TEST(ServerTest, RecallEditTrimAndDeleteTimeline) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  for (int i = 1; i <= 5; ++i)
    ASSERT_TRUE(c->Append("store", "conv:m", "m" + std::to_string(i)).ok());

  // Recall: GET answers DELETED (code 8 on the wire), distinct from NOT_FOUND.
  auto r = c->Recall("store", "conv:m", 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->seq, 2u);
  EXPECT_FALSE(r->noop);
  EXPECT_EQ(c->Get("store", "conv:m", 2).status().code(), Status::Code::kDeleted);
  EXPECT_EQ(c->Get("store", "conv:m", 99).status().code(), Status::Code::kNotFound);
  auto again = c->Recall("store", "conv:m", 2);  // a retry changes nothing
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->noop);

  // Edit: the new payload, same SeqId.
  auto e = c->Edit("store", "conv:m", 3, "m3 (edited)");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto g = c->Get("store", "conv:m", 3);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->payload, "m3 (edited)");
  EXPECT_EQ(g->seq, 3u);

  // Trim: everything below 4 goes; scans skip it.
  auto t = c->Trim("store", "conv:m", 4);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->seq, 4u);
  auto scan = c->Scan("store", "conv:m", {});
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->size(), 2u);
  EXPECT_EQ((*scan)[0].seq, 4u);
  EXPECT_EQ((*scan)[1].payload, "m5");
  EXPECT_EQ(c->Get("store", "conv:m", 3).status().code(), Status::Code::kDeleted);

  // Delete-timeline through its last (resolved by the client to seq 5); SeqIds are not reused.
  auto d = c->DeleteTimeline("store", "conv:m");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->seq, 5u);
  EXPECT_TRUE(c->Scan("store", "conv:m", {})->empty());
  auto after = c->Append("store", "conv:m", "m6");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->seq, 6u);
  // A retried delete names the through-seq it got back: the new message survives.
  auto retry = c->DeleteTimeline("store", "conv:m", d->seq);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_TRUE(retry->noop);
  auto left = c->Scan("store", "conv:m", {});
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].payload, "m6");

  // The asynchronous form.
  std::promise<Result<MutationResult>> p;
  c->RecallAsync("store", "conv:m", 6, [&p](Result<MutationResult> res) { p.set_value(res); });
  auto ar = p.get_future().get();
  ASSERT_TRUE(ar.ok()) << ar.status().ToString();
  EXPECT_EQ(c->Get("store", "conv:m", 6).status().code(), Status::Code::kDeleted);

  // Only an edit carries a payload; the server refuses the rest before the engine.
  EXPECT_EQ(c->Mutate("store", {MutationKind::kRecall, "conv:m", 1, "x", Durability::kDefault})
                .status()
                .code(),
            Status::Code::kInvalidArgument);

  auto st = c->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->Get("recalls"), 3u);  // seq 2, its retry, seq 6
  EXPECT_EQ(st->Get("edits"), 1u);
  EXPECT_EQ(st->Get("trims"), 1u);
  EXPECT_EQ(st->Get("timeline_deletes"), 2u);
  EXPECT_EQ(st->Get("mutations_noop"), 2u);
  EXPECT_EQ(st->Get("ops_mutate"), 8u);  // the refused one is counted as a request too
}

TEST(ServerTest, MalformedMutateIsFatal) {
  TestServer ts;
  RawConn raw(ts.port());
  ASSERT_TRUE(raw.Hello());
  std::string body;
  proto::WireWriter w(&body);
  proto::Encode(
      proto::MutateRequest{MutationKind::kRecall, "store", "t", 1, Durability::kDefault, ""}, w);
  body[0] = 9;  // no such mutation kind
  ASSERT_TRUE(raw.SendFrame(Op::kMutate, 1, body));
  auto f = raw.ReadFrame(2'000);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->header.flags & proto::kFlagFatal);
  EXPECT_EQ(f->ErrorCode(), static_cast<uint16_t>(ErrorCode::kMalformedFrame));
  EXPECT_TRUE(raw.WaitEof(2'000));
}

TEST(ServerTest, NamespaceOptionsTravelAndChange) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  NamespaceOptions o;
  o.messages_per_timeline_max = 100;
  o.compact_live_pct = 40;
  o.compress_block_bytes = 32 << 10;
  o.compress_level = 3;
  o.durability = Durability::kBuffered;
  ASSERT_TRUE(c->CreateNamespace("chat", o).ok());
  auto info = c->DescribeNamespace("chat");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->options.messages_per_timeline_max, 100u);
  EXPECT_EQ(info->options.compact_live_pct, 40u);
  EXPECT_EQ(info->options.compress_block_bytes, 32u << 10);
  EXPECT_EQ(info->options.compress_level, 3);
  EXPECT_EQ(info->options.durability, Durability::kBuffered);
  // Zeros on the wire mean the engine's defaults for segment size, block size, level.
  NamespaceOptions zeros;
  zeros.segment_bytes_max = 0;
  zeros.compress_block_bytes = 0;
  zeros.compress_level = 0;
  ASSERT_TRUE(c->CreateNamespace("zeros", zeros).ok());
  EXPECT_EQ(c->DescribeNamespace("zeros")->options, NamespaceOptions{});

  // Only the fields given change.
  NamespaceOptionsUpdate u;
  u.messages_per_timeline_max = 2;
  auto changed = c->SetNamespaceOptions("chat", u);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(changed->options.messages_per_timeline_max, 2u);
  EXPECT_EQ(changed->options.compact_live_pct, 40u);
  EXPECT_EQ(changed->options.durability, Durability::kBuffered);
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(c->Append("chat", "t", std::to_string(i)).ok());
  auto kept = c->Scan("chat", "t", {});
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->size(), 2u);  // only the newest two are visible
  EXPECT_EQ((*kept)[0].seq, 3u);
  EXPECT_EQ(c->Get("chat", "t", 1).status().code(), Status::Code::kDeleted);

  // TTL set at run time: older messages read as deleted at once.
  u = {};
  u.ttl_ms = 1;
  ASSERT_TRUE(c->SetNamespaceOptions("chat", u).ok());
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(c->Get("chat", "t", 4).status().code(), Status::Code::kDeleted);
  EXPECT_TRUE(c->Scan("chat", "t", {})->empty());
  EXPECT_EQ(c->DescribeNamespace("chat")->options.ttl_ms, 1u);

  // The engine's validation reaches the client; unknown namespaces are NOT_FOUND.
  u = {};
  u.compress_level = 42;
  EXPECT_EQ(c->SetNamespaceOptions("chat", u).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(c->SetNamespaceOptions("nope", u).status().code(), Status::Code::kNotFound);
  std::promise<Result<NamespaceInfo>> p;
  u = {};
  u.compact_live_pct = 60;
  c->SetNamespaceOptionsAsync("chat", u, [&p](Result<NamespaceInfo> r) { p.set_value(r); });
  auto ar = p.get_future().get();
  ASSERT_TRUE(ar.ok()) << ar.status().ToString();
  EXPECT_EQ(ar->options.compact_live_pct, 60u);
}

TEST(ServerTest, CompactionRunsOnTheServerWithProgress) {
  Options db_options;
  db_options.background_maintenance = false;  // only the COMPACT below compacts
  TestServer ts({}, db_options);
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  NamespaceOptions o;
  o.segment_bytes_max = 64 << 10;  // the minimum: a few hundred KiB make several segments
  o.durability = Durability::kBuffered;
  ASSERT_TRUE(c->CreateNamespace("cmp", o).ok());
  const std::string payload(1000, 'p');
  constexpr int kN = 400, kBatch = 40;
  // Batches of 40 KiB: a group commit goes whole into one segment, so each batch rolls to a
  // new 64 KiB segment and the namespace ends up with about ten of them.
  for (int b = 0; b < kN / kBatch; ++b) {
    std::atomic<int> done{0}, failed{0};
    for (int i = b * kBatch; i < (b + 1) * kBatch; ++i) {
      c->AppendAsync("cmp", "t", payload + std::to_string(i), {},
                     [&](Result<AppendResult> r) { (r.ok() ? done : failed)++; });
    }
    for (int i = 0; i < 1000 && done + failed < kBatch; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(done.load(), kBatch);
  }
  ASSERT_TRUE(c->Trim("cmp", "t", 351).ok());  // 350 of 400 records are dead
  auto before = c->DescribeNamespace("cmp");
  ASSERT_TRUE(before.ok());
  ASSERT_GT(before->segments, 2u) << before->bytes_on_disk;

  std::vector<CompactionStatus> seen;
  auto r = c->Compact(
      "cmp", /*full=*/false, [&seen](const CompactionStatus& s) { seen.push_back(s); }, 5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->state, CompactionStatus::State::kDone);
  EXPECT_EQ(r->ns, "cmp");
  EXPECT_GT(r->progress.segments_total, 0u);
  EXPECT_EQ(r->progress.segments_done, r->progress.segments_total);
  EXPECT_GE(r->progress.records_dropped, 300u);
  EXPECT_GT(r->progress.bytes_read, r->progress.bytes_written);
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(seen.back().finished());
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GE(seen[i].progress.segments_done, seen[i - 1].progress.segments_done);
  }
  auto after = c->DescribeNamespace("cmp");
  ASSERT_TRUE(after.ok());
  EXPECT_LT(after->bytes_on_disk, before->bytes_on_disk);
  // The data survived the rewrite; the trimmed messages stay deleted.
  auto kept = c->Scan("cmp", "t", {});
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  ASSERT_EQ(kept->size(), 50u);
  EXPECT_EQ(kept->front().seq, 351u);
  EXPECT_EQ(kept->front().payload, payload + "350");
  EXPECT_EQ(c->Get("cmp", "t", 10).status().code(), Status::Code::kDeleted);

  // The job can be looked up by id and as "the newest"; the counters moved.
  auto byid = c->GetCompaction(r->job_id);
  ASSERT_TRUE(byid.ok());
  EXPECT_EQ(byid->state, CompactionStatus::State::kDone);
  EXPECT_EQ(c->GetCompaction(0)->job_id, r->job_id);
  EXPECT_EQ(c->GetCompaction(r->job_id + 100).status().code(), Status::Code::kNotFound);
  auto st = c->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->Get("compactions_done"), 1u);
  EXPECT_EQ(st->Get("compaction_records_dropped"), r->progress.records_dropped);
  EXPECT_GE(st->Get("db_compactions"), 1u);  // the engine's own count of committed runs
  EXPECT_GE(st->Get("db_compaction_bytes_read"), r->progress.bytes_read);
  EXPECT_GE(st->Get("db_mutations"), 1u);  // the trim
  // An unknown namespace fails at once, not in the job.
  EXPECT_EQ(c->StartCompaction("nope", false).status().code(), Status::Code::kNotFound);
  // Every namespace (admin on "*": the anonymous server grants it).
  auto all = c->Compact("", true, nullptr, 5);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->ns, "");
}

TEST(ServerTest, MaintenanceNeedsTheRightRights) {
  ServerConfig cfg;
  cfg.tokens = {*ParseServerToken("writer:secret-w-123:rw=store"),
                *ParseServerToken("reader:secret-r-123:r=store"),
                *ParseServerToken("nsadmin:secret-n-123:admin=store"),
                *ParseServerToken("root:secret-a-123:admin=*")};
  TestServer ts(cfg);
  auto writer = ts.Connect("secret-w-123");
  auto reader = ts.Connect("secret-r-123");
  auto nsadmin = ts.Connect("secret-n-123");
  auto root = ts.Connect("secret-a-123");
  ASSERT_TRUE(writer && reader && nsadmin && root);
  ASSERT_TRUE(writer->Append("store", "t", "a").ok());
  ASSERT_TRUE(writer->Append("store", "t", "b").ok());
  const auto denied = Status::Code::kPermissionDenied;

  // Mutations need write.
  EXPECT_EQ(reader->Recall("store", "t", 1).status().code(), denied);
  EXPECT_EQ(reader->Edit("store", "t", 1, "x").status().code(), denied);
  EXPECT_EQ(reader->Trim("store", "t", 2).status().code(), denied);
  EXPECT_EQ(reader->DeleteTimeline("store", "t", 2).status().code(), denied);
  EXPECT_EQ(writer->Recall("sync", "t", 1).status().code(), denied);
  EXPECT_EQ(root->Recall("__cursors", "t", 1).status().code(), denied);
  auto m1 = reader->Get("store", "t", 1);  // nothing was changed by the refused requests
  ASSERT_TRUE(m1.ok());
  EXPECT_EQ(m1->payload, "a");
  EXPECT_TRUE(writer->Edit("store", "t", 1, "a2").ok());

  // Options and compaction need admin: on the namespace, or on "*" for every namespace.
  NamespaceOptionsUpdate u;
  u.ttl_ms = 3'600'000;
  EXPECT_EQ(writer->SetNamespaceOptions("store", u).status().code(), denied);
  EXPECT_EQ(nsadmin->SetNamespaceOptions("sync", u).status().code(), denied);
  EXPECT_EQ(root->SetNamespaceOptions("__cursors", u).status().code(), denied);
  EXPECT_EQ(writer->StartCompaction("store", false).status().code(), denied);
  EXPECT_EQ(nsadmin->StartCompaction("", false).status().code(), denied);
  EXPECT_EQ(reader->DescribeNamespace("store")->options.ttl_ms, 0u);  // unchanged
  auto set = nsadmin->SetNamespaceOptions("store", u);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->options.ttl_ms, 3'600'000u);
  auto job = nsadmin->StartCompaction("store", false);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  auto all = root->StartCompaction("", false);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_TRUE(nsadmin->GetCompaction(*job).ok());
  EXPECT_EQ(nsadmin->GetCompaction(*all).status().code(), denied);
  EXPECT_EQ(writer->GetCompaction(*job).status().code(), denied);
  EXPECT_TRUE(root->GetCompaction(*job).ok());
  // HELLO announces the admin bit (4), which includes read and write (1|2).
  ASSERT_EQ(nsadmin->server_info().grants.size(), 1u);
  EXPECT_EQ(nsadmin->server_info().grants[0].second, 7);
}

TEST(ServerTest, CursorNamespaceKeepsOneRecordPerCursor) {
  Options db_options;
  db_options.background_maintenance = false;  // only the Compact below compacts
  TestServer ts({}, db_options);
  auto info = ts.db().DescribeNamespace(kCursorNamespace);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->options.messages_per_timeline_max, 1u);
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  constexpr Seq kMoves = 200;
  for (Seq s = 1; s <= kMoves; ++s) ASSERT_TRUE(c->Append("store", "conv:c", "m").ok());
  for (Seq s = 1; s <= kMoves; ++s) {
    auto r = c->SetCursor("dev1", "store", "conv:c", s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->moved);
  }
  // Backward moves still need reset, and the stored value is the newest record.
  EXPECT_FALSE(c->SetCursor("dev1", "store", "conv:c", 5)->moved);
  std::string_view k[] = {"conv:c"};
  EXPECT_EQ((*c->GetCursors("dev1", "store", k))[0].cursor, kMoves);
  ASSERT_TRUE(c->SetCursor("dev1", "store", "conv:c", 7, /*reset=*/true)->moved);
  EXPECT_EQ((*c->GetCursors("dev1", "store", k))[0].cursor, 7u);
  // Only one record of the 201 written is live.
  ScanOptions all;
  all.limit = 1000;
  auto records = ts.db().Scan(kCursorNamespace, "dev1|store|conv:c", all);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().seq, kMoves + 1);
  // Compaction reclaims the hidden records; the newest stays, also across a restart.
  auto before = ts.db().DescribeNamespace(kCursorNamespace);
  CompactOptions full;
  full.full = true;
  auto compacted = ts.db().Compact(kCursorNamespace, full);
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  EXPECT_EQ(compacted->records_dropped, kMoves)  // 200 of the 201 records were dead
      << compacted->segments_total << " segments, read " << compacted->bytes_read << ", kept "
      << compacted->records_kept;
  EXPECT_LT(ts.db().DescribeNamespace(kCursorNamespace)->bytes_on_disk, before->bytes_on_disk);
  EXPECT_EQ((*c->GetCursors("dev1", "store", k))[0].cursor, 7u);
  ts.Restart();
  c = ts.Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ((*c->GetCursors("dev1", "store", k))[0].cursor, 7u);
  ASSERT_TRUE(c->SetCursor("dev1", "store", "conv:c", 9)->moved);
  EXPECT_EQ((*c->GetCursors("dev1", "store", k))[0].cursor, 9u);
}

TEST(ServerTest, OlderCursorNamespaceIsBoundedOnStart) {
  TempDir dir;
  auto db = Db::Open(dir.path(), Options{});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->CreateNamespace(kCursorNamespace, NamespaceOptions{}).ok());  // as before
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*db)->Append(kCursorNamespace, "d|store|t", "x").ok());
  ASSERT_TRUE(CreateDefaultNamespaces(**db).ok());
  EXPECT_EQ((*db)->DescribeNamespace(kCursorNamespace)->options.messages_per_timeline_max, 1u);
  auto left = (*db)->Scan(kCursorNamespace, "d|store|t", {});
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().seq, 3u);
  ASSERT_TRUE((*db)->Close().ok());
}

// ---------------------------------------------------------------- binaries

std::string RunCli(const std::string& args, int* rc = nullptr) {
  std::string cmd = std::string(TLDB_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(CliTest, SubcommandsAgainstARunningServer) {
  TestServer ts;
  std::string s = "--server " + ts.address() + " --ns store --timeline conv:cli";
  int rc = 0;
  EXPECT_EQ(RunCli("append " + s + " 'hello'", &rc), "conv:cli seq 1\n");
  EXPECT_EQ(rc, 0);
  EXPECT_NE(RunCli("append " + s + " --json --id abc 'world'").find("\"seq\":2"),
            std::string::npos);
  EXPECT_NE(RunCli("append " + s + " --id abc 'world'").find("deduplicated"), std::string::npos);
  EXPECT_NE(RunCli("get " + s + " 1").find("hello"), std::string::npos);
  std::string scan = RunCli("scan " + s + " --latest 20 --json");
  EXPECT_NE(scan.find("{\"seq\":1,"), std::string::npos);
  EXPECT_NE(scan.find("\"client_msg_id\":\"abc\",\"payload\":\"world\""), std::string::npos);
  EXPECT_EQ(RunCli("last " + s), "conv:cli\t2\n");
  EXPECT_NE(RunCli("ping " + s).find("PONG"), std::string::npos);
  EXPECT_NE(RunCli("stats " + s).find("ops_append"), std::string::npos);
  EXPECT_NE(RunCli("ns create clins " + s + " --ttl-ms 5000").find("created"), std::string::npos);
  EXPECT_NE(RunCli("ns list " + s).find("clins"), std::string::npos);
  EXPECT_NE(RunCli("ns describe clins " + s + " --json").find("\"ttl_ms\":5000"),
            std::string::npos);
  EXPECT_EQ(RunCli("cursor set --device d1 " + s + " 1"), "cursor 1\n");
  EXPECT_NE(RunCli("cursor get --device d1 " + s + " --json").find("\"unread\":1"),
            std::string::npos);
  // tail -f: follows a message appended after it started.
  std::thread appender([&] {
    std::this_thread::sleep_for(300ms);
    RunCli("append " + s + " 'live'");
  });
  std::string tail = RunCli("tail -f -n 1 --exit-after 1 --duration-ms 5000 " + s);
  appender.join();
  EXPECT_NE(tail.find("world"), std::string::npos);
  EXPECT_NE(tail.find("live"), std::string::npos);
  // Errors: non-zero exit and a message.
  std::string err = RunCli("get " + s + " 99", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.find("NotFound"), std::string::npos);
}

TEST(CliTest, MaintenanceSubcommands) {
  TestServer ts;
  std::string s = "--server " + ts.address() + " --ns store --timeline conv:mc";
  for (int i = 1; i <= 4; ++i) RunCli("append " + s + " 'm" + std::to_string(i) + "'");
  int rc = 0;
  EXPECT_EQ(RunCli("recall " + s + " 1", &rc), "recall: seq 1\n");
  EXPECT_EQ(rc, 0);
  std::string err = RunCli("get " + s + " 1", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.find("Deleted"), std::string::npos) << err;
  EXPECT_NE(RunCli("recall " + s + " 1").find("already in effect"), std::string::npos);
  EXPECT_EQ(RunCli("edit " + s + " 2 'm2 fixed' --json"),
            "{\"op\":\"edit\",\"seq\":2,\"noop\":false}\n");
  EXPECT_NE(RunCli("get " + s + " 2").find("m2 fixed"), std::string::npos);
  EXPECT_EQ(RunCli("trim " + s + " 3"), "trim: first kept seq 3\n");
  EXPECT_EQ(RunCli("delete-timeline " + s), "delete-timeline: deleted through seq 4\n");
  EXPECT_EQ(RunCli("scan " + s), "");
  std::string set = RunCli("ns set " + s + " --messages-per-timeline-max 10 --compress-level 3");
  EXPECT_NE(set.find("messages_per_timeline_max=10"), std::string::npos) << set;
  EXPECT_NE(set.find("compress_level=3"), std::string::npos) << set;
  EXPECT_NE(set.find("ttl_ms=0"), std::string::npos) << set;  // untouched
  // Not a terminal: progress comes as plain lines, then the summary on stdout.
  std::string compact = RunCli("compact " + s + " --full --poll-ms 5", &rc);
  EXPECT_EQ(rc, 0) << compact;
  EXPECT_NE(compact.find("compaction 1 (store) done"), std::string::npos) << compact;
  std::string all = RunCli("compact --server " + ts.address() + " --json", &rc);
  EXPECT_EQ(rc, 0) << all;
  EXPECT_NE(all.find("\"job_id\":2,\"ns\":\"\""), std::string::npos) << all;
  std::string stats = RunCli("stats " + s);
  EXPECT_NE(stats.find("compactions_done"), std::string::npos);
  EXPECT_NE(stats.find("recalls"), std::string::npos);
}

// Starts the tldb-server binary on port 0, reads "listening on", talks to it, stops it with
// SIGTERM and checks it exits cleanly and keeps the data.
TEST(CliTest, ServerBinaryStartsServesAndStopsOnSigterm) {
  TempDir dir;
  // `cache_mb`: the server's --block-cache-mb.
  auto start = [&](std::string* address, const char* cache_mb) -> pid_t {
    int out[2];
    if (pipe(out) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      close(out[0]);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 2);
      execl(TLDB_SERVER_PATH, TLDB_SERVER_PATH, "--data-dir", dir.path().c_str(), "--listen",
            "127.0.0.1:0", "--threads", "1", "--block-cache-mb", cache_mb,
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char line[256] = {};
    if (fgets(line, sizeof(line), f)) {
      std::string l(line);
      size_t at = l.find("listening on ");
      if (at != std::string::npos) *address = l.substr(at + 13, l.size() - at - 14);
    }
    fclose(f);
    return pid;
  };
  auto stop = [](pid_t pid) {
    kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid, &status, WNOHANG) == pid)
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      std::this_thread::sleep_for(10ms);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -2;
  };
  std::string addr;
  pid_t pid = start(&addr, "64");
  ASSERT_GT(pid, 0);
  ASSERT_FALSE(addr.empty());
  std::string s = "--server " + addr + " --timeline conv:bin";
  EXPECT_EQ(RunCli("append " + s + " 'persisted'"), "conv:bin seq 1\n");
  EXPECT_NE(RunCli("ns list " + s).find("sync\tttl_ms=604800000"), std::string::npos);
  EXPECT_EQ(stop(pid), 0);
  pid = start(&addr, "32");
  ASSERT_GT(pid, 0);
  s = "--server " + addr + " --timeline conv:bin";
  EXPECT_NE(RunCli("get " + s + " 1").find("persisted"), std::string::npos);
  // --block-cache-mb reaches the engine (STATS reports its budget).
  std::string stats = RunCli("stats --server " + addr);
  size_t at = stats.find("db_block_cache_bytes ");
  ASSERT_NE(at, std::string::npos) << stats;
  std::string line = stats.substr(at, stats.find('\n', at) - at);
  EXPECT_TRUE(line.ends_with(" 33554432")) << line;
  EXPECT_EQ(stop(pid), 0);
  // Protected mode: the binary refuses a non-loopback address without a token.
  std::string cmd =
      std::string(TLDB_SERVER_PATH) + " --data-dir " + dir.path() + " --listen 0.0.0.0:0 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[1024] = {};
  size_t n = fread(buf, 1, sizeof(buf) - 1, p);
  int status = pclose(p);
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(std::string(buf, n).find("protected mode"), std::string::npos);
}

}  // namespace
}  // namespace tldb::testing
