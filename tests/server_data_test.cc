// tldb-server end to end, the data path: every operation through the client, pipelining,
// recall/edit/trim/delete and namespace options, against the real server on an ephemeral
// loopback port.
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
  // The id reused for another payload: CLIENT_MSG_ID_REUSED reaches the C++ client as its code.
  auto reused = c->Append("store", "conv:1", "world, edited", ao);
  EXPECT_EQ(reused.status().code(), Status::Code::kClientMsgIdReused) << reused.status().ToString();
  EXPECT_NE(reused.status().message().find("at seq 2"), std::string::npos);
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

}  // namespace
}  // namespace tldb::testing
