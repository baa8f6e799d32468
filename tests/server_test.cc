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
  ASSERT_TRUE(c->SetCursor("phone", "store", long_key, 3).ok());
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
    ASSERT_TRUE(r.SendFrame(static_cast<Op>(0x60), 6, ""));
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
  ClientOptions o;
  o.server = ts.address();
  o.reconnect_attempts = 20;
  o.reconnect_backoff_ms = 20;
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  std::atomic<int> ok{0}, failed{0};
  constexpr int kN = 100;
  for (int i = 0; i < kN; ++i) {
    AppendOptions ao;
    std::string id = "retry-" + std::to_string(i);
    ao.client_msg_id = id;
    (*c)->AppendAsync("store", "retry", "p" + std::to_string(i), ao,
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
  auto last = (*c)->LastSeq("store", k);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ((*last)[0], static_cast<Seq>(kN));  // each applied exactly once
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

// Starts the tldb-server binary on port 0, reads "listening on", talks to it, stops it with
// SIGTERM and checks it exits cleanly and keeps the data.
TEST(CliTest, ServerBinaryStartsServesAndStopsOnSigterm) {
  TempDir dir;
  auto start = [&](std::string* address) -> pid_t {
    int out[2];
    if (pipe(out) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      close(out[0]);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 2);
      execl(TLDB_SERVER_PATH, TLDB_SERVER_PATH, "--data-dir", dir.path().c_str(), "--listen",
            "127.0.0.1:0", "--threads", "1", static_cast<char*>(nullptr));
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
  pid_t pid = start(&addr);
  ASSERT_GT(pid, 0);
  ASSERT_FALSE(addr.empty());
  std::string s = "--server " + addr + " --timeline conv:bin";
  EXPECT_EQ(RunCli("append " + s + " 'persisted'"), "conv:bin seq 1\n");
  EXPECT_NE(RunCli("ns list " + s).find("sync\tttl_ms=604800000"), std::string::npos);
  EXPECT_EQ(stop(pid), 0);
  pid = start(&addr);
  ASSERT_GT(pid, 0);
  s = "--server " + addr + " --timeline conv:bin";
  EXPECT_NE(RunCli("get " + s + " 1").find("persisted"), std::string::npos);
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
