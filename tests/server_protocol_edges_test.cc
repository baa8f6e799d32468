// tldb-server end to end, the protocol's edge cases that docs/protocol.md defines: what a bad
// header's error carries, request_id 0, duplicate ids, the namespaces of a fresh server, option
// defaults, list and PING limits, pipelined SeqId order, WAIT with timeout 0, SUBSCRIBE edges,
// counter names, MUTATE answers, SCAN bytes_max and backward paging. Raw frames, so each test
// checks the decoded fields of what the server sent.
#include <set>

#include "server_test_util.h"

namespace tldb::testing {
namespace {

using proto::ErrorCode;
using proto::Op;
using Frame = RawConn::Frame;

constexpr uint16_t kErrorFatal = proto::kFlagResponse | proto::kFlagError | proto::kFlagFatal;

// Reads frames until the one answering `id` (pushes and other answers are skipped).
std::optional<Frame> ReadAnswer(RawConn& r, uint64_t id, Op op) {
  for (int i = 0; i < 1000; ++i) {
    auto f = r.ReadFrame(10'000);
    if (!f) return std::nullopt;
    if (f->header.request_id == id && f->header.op == static_cast<uint8_t>(op) &&
        (f->header.flags & proto::kFlagPush) == 0) {
      return f;
    }
  }
  return std::nullopt;
}

template <typename M>
std::optional<Frame> Call(RawConn& r, Op op, uint64_t id, const M& m) {
  if (!r.SendMsg(op, id, m)) return std::nullopt;
  return ReadAnswer(r, id, op);
}

std::string ErrorText(const Frame& f) {
  proto::ErrorBody e;
  return proto::Decode(f.body, &e) ? e.message : "<not an error body>";
}

TEST(ProtocolEdgesTest, BadHeaderErrorsCarryTheRequestsOpcodeAndId) {
  ServerConfig cfg;
  cfg.frame_body_bytes_max = 64 << 10;
  TestServer ts(cfg);
  struct Case {
    size_t offset;
    char value;
    ErrorCode want;
  } cases[] = {{0, 'X', ErrorCode::kMalformedFrame},    // magic
               {2, 2, ErrorCode::kUnsupportedVersion},  // version
               {5, 0x40, ErrorCode::kMalformedFrame},   // unknown flag bit
               {6, 1, ErrorCode::kMalformedFrame},      // reserved
               {18, 0x10, ErrorCode::kFrameTooLarge}};  // body_length 1 MiB
  for (const auto& c : cases) {
    RawConn r(ts.port());
    ASSERT_TRUE(r.Hello());
    std::string f = proto::EncodeFrame(static_cast<uint8_t>(Op::kAppend), 0, 42, "");
    f[c.offset] = c.value;
    ASSERT_TRUE(r.Send(f));
    auto e = r.ReadFrame(5'000);
    ASSERT_TRUE(e) << c.offset;
    EXPECT_EQ(e->header.op, static_cast<uint8_t>(Op::kAppend)) << c.offset;
    EXPECT_EQ(e->header.request_id, 42u) << c.offset;
    EXPECT_EQ(e->header.flags, kErrorFatal) << c.offset;
    EXPECT_EQ(e->ErrorCode(), static_cast<uint16_t>(c.want)) << c.offset;
    EXPECT_TRUE(r.WaitEof(5'000));
  }
}

TEST(ProtocolEdgesTest, RequestIdZeroIsReservedAfterHello) {
  TestServer ts;
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());  // HELLO itself may use id 0 (RawConn does)
  ASSERT_TRUE(r.SendMsg(Op::kPing, 0, proto::PingRequest{"x"}));
  auto e = r.ReadFrame(5'000);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->header.op, static_cast<uint8_t>(Op::kPing));
  EXPECT_EQ(e->header.request_id, 0u);
  EXPECT_EQ(e->header.flags, kErrorFatal);
  EXPECT_EQ(e->ErrorCode(), static_cast<uint16_t>(ErrorCode::kMalformedFrame));
  EXPECT_NE(ErrorText(*e).find("request_id 0 is reserved"), std::string::npos) << ErrorText(*e);
  EXPECT_TRUE(r.WaitEof(5'000));
}

TEST(ProtocolEdgesTest, TwoRequestsUnderOneIdAreBothAnsweredButWaitAndSubscribeRefuse) {
  TestServer ts;
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  // Two PINGs under id 5: both run, both answers carry 5 (in order, on one loop).
  ASSERT_TRUE(r.SendMsg(Op::kPing, 5, proto::PingRequest{"first"}));
  ASSERT_TRUE(r.SendMsg(Op::kPing, 5, proto::PingRequest{"second"}));
  for (std::string_view want : {"first", "second"}) {
    auto f = ReadAnswer(r, 5, Op::kPing);
    ASSERT_TRUE(f);
    proto::PingRequest p;
    ASSERT_TRUE(proto::Decode(f->body, &p));
    EXPECT_EQ(p.data, want);
  }
  // A second WAIT under the id of a parked one is refused (not fatal); the first stays parked.
  ASSERT_TRUE(r.SendMsg(Op::kWait, 6, proto::WaitRequest{"store", "w", 0, 60'000}));
  auto dup = Call(r, Op::kWait, 6, proto::WaitRequest{"store", "w", 0, 60'000});
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->ErrorCode(), static_cast<uint16_t>(Status::Code::kInvalidArgument));
  EXPECT_FALSE(dup->fatal());
  auto c = ts.Connect();
  ASSERT_TRUE(c && c->Append("store", "w", "wake").ok());
  auto woken = ReadAnswer(r, 6, Op::kWait);
  ASSERT_TRUE(woken);
  proto::WaitResponse w;
  ASSERT_TRUE(proto::Decode(woken->body, &w));
  EXPECT_TRUE(w.ready);
  EXPECT_EQ(w.last_seq, 1u);
  // A SUBSCRIBE under the id of a live subscription is refused too.
  ASSERT_TRUE(Call(r, Op::kSubscribe, 7, proto::SubscribeRequest{"store", "w", 1, 0}));
  auto sub2 = Call(r, Op::kSubscribe, 7, proto::SubscribeRequest{"store", "x", 0, 0});
  ASSERT_TRUE(sub2);
  EXPECT_EQ(sub2->ErrorCode(), static_cast<uint16_t>(Status::Code::kInvalidArgument));
}

TEST(ProtocolEdgesTest, AFreshServerHasStoreAndSyncWithDefaults) {
  TestServer ts;
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  auto f = r.SendFrame(Op::kNsList, 1, "") ? ReadAnswer(r, 1, Op::kNsList) : std::nullopt;
  ASSERT_TRUE(f);
  std::vector<NamespaceInfo> list;
  ASSERT_TRUE(proto::DecodeNamespaceInfos(f->body, &list));
  ASSERT_EQ(list.size(), 2u);
  std::map<std::string, NamespaceOptions> by_name;
  for (const auto& i : list) by_name[i.name] = i.options;
  ASSERT_TRUE(by_name.contains("store") && by_name.contains("sync"));
  NamespaceOptions defaults;
  EXPECT_EQ(by_name["store"], defaults);
  EXPECT_EQ(by_name["sync"].ttl_ms, 7ull * 24 * 3600 * 1000);
  NamespaceOptions sync_want = defaults;
  sync_want.ttl_ms = by_name["sync"].ttl_ms;
  EXPECT_EQ(by_name["sync"], sync_want);
}

TEST(ProtocolEdgesTest, ZeroOptionsMeanTheDefaults) {
  TestServer ts;
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  NamespaceOptions zeros;  // every field 0: "the default" for each
  zeros.compact_live_pct = 0;
  zeros.compress_block_bytes = 0;
  zeros.compress_level = 0;
  zeros.segment_bytes_max = 0;
  zeros.durability = Durability::kDefault;
  // Create-if-missing of `store` with zeros: it exists with the defaults, so this succeeds.
  auto again = Call(r, Op::kNsCreate, 1, proto::NsCreateRequest{"store", zeros});
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->error()) << ErrorText(*again);
  EXPECT_TRUE(again->body.empty());
  ASSERT_TRUE(Call(r, Op::kNsCreate, 2, proto::NsCreateRequest{"fresh", zeros}));
  auto d = Call(r, Op::kNsDescribe, 3, proto::NsDescribeRequest{"fresh"});
  ASSERT_TRUE(d);
  NamespaceInfo info;
  ASSERT_TRUE(proto::DecodeNamespaceInfo(d->body, &info));
  EXPECT_EQ(info.options, NamespaceOptions{});
  EXPECT_EQ(info.options.compact_live_pct, 50u);
  // NS_SET_OPTIONS: 30, then 0 = back to the default.
  NamespaceOptions thirty = zeros;
  thirty.compact_live_pct = 30;
  auto s1 = Call(r, Op::kNsSetOptions, 4,
                 proto::NsSetOptionsRequest{"fresh", proto::kOptCompactLivePct, thirty});
  ASSERT_TRUE(s1 && proto::DecodeNamespaceInfo(s1->body, &info));
  EXPECT_EQ(info.options.compact_live_pct, 30u);
  auto s2 = Call(r, Op::kNsSetOptions, 5,
                 proto::NsSetOptionsRequest{"fresh", proto::kOptCompactLivePct, zeros});
  ASSERT_TRUE(s2 && proto::DecodeNamespaceInfo(s2->body, &info));
  EXPECT_EQ(info.options.compact_live_pct, 50u);
}

TEST(ProtocolEdgesTest, ListAndPingLimits) {
  ServerConfig cfg;
  cfg.frame_body_bytes_max = 64 << 10;
  cfg.fanout_timelines_max = 3;
  TestServer ts(cfg);
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  std::vector<std::string_view> three = {"a", "b", "c"}, four = {"a", "b", "c", "d"};
  auto ok = Call(r, Op::kLastSeq, 1, proto::LastSeqRequest{"store", three});
  ASSERT_TRUE(ok);
  std::vector<Seq> seqs;
  ASSERT_TRUE(proto::DecodeSeqs(ok->body, &seqs));
  EXPECT_EQ(seqs, (std::vector<Seq>{0, 0, 0}));
  auto over = Call(r, Op::kLastSeq, 2, proto::LastSeqRequest{"store", four});
  ASSERT_TRUE(over);
  EXPECT_EQ(over->ErrorCode(), static_cast<uint16_t>(Status::Code::kInvalidArgument));
  EXPECT_FALSE(over->fatal());
  auto cur = Call(r, Op::kCursorGet, 3, proto::CursorGetRequest{"dev", "store", four});
  ASSERT_TRUE(cur);
  EXPECT_EQ(cur->ErrorCode(), static_cast<uint16_t>(Status::Code::kInvalidArgument));
  // The largest PING: data of frame_body_bytes_max - 4 bytes, echoed whole.
  const std::string big((64 << 10) - 4, 'p');
  auto ping = Call(r, Op::kPing, 4, proto::PingRequest{big});
  ASSERT_TRUE(ping);
  proto::PingRequest echo;
  ASSERT_TRUE(proto::Decode(ping->body, &echo));
  EXPECT_EQ(echo.data, big);
  ASSERT_TRUE(r.SendMsg(Op::kPing, 5, proto::PingRequest{big + "!"}));
  auto too_big = r.ReadFrame(5'000);
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->ErrorCode(), static_cast<uint16_t>(ErrorCode::kFrameTooLarge));
  EXPECT_EQ(too_big->header.request_id, 5u);
}

TEST(ProtocolEdgesTest, PipelinedAppendsToOneTimelineGetSeqIdsInRequestOrder) {
  TestServer ts;
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  constexpr int kCount = 200;
  std::string batch;
  for (int i = 1; i <= kCount; ++i) {
    std::string body;
    proto::WireWriter w(&body);
    // Alternating durability: buffered answers may overtake synced ones, SeqIds may not.
    proto::Encode(proto::AppendRequest{"store", "order", "", false, 0,
                                       i % 2 ? Durability::kSync : Durability::kBuffered, "m"},
                  w);
    batch += proto::EncodeFrame(static_cast<uint8_t>(Op::kAppend), 0, 1000 + i, body);
  }
  ASSERT_TRUE(r.Send(batch));
  std::set<uint64_t> seen;
  for (int n = 0; n < kCount; ++n) {
    auto f = r.ReadFrame(10'000);
    ASSERT_TRUE(f);
    ASSERT_FALSE(f->error()) << ErrorText(*f);
    AppendResult a;
    ASSERT_TRUE(proto::DecodeAppendResult(f->body, &a));
    EXPECT_EQ(a.seq, f->header.request_id - 1000);
    seen.insert(f->header.request_id);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kCount));
}

TEST(ProtocolEdgesTest, WaitWithTimeoutZeroAnswersAtOnce) {
  TestServer ts;
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  auto empty = Call(r, Op::kWait, 1, proto::WaitRequest{"store", "w0", 0, 0});
  ASSERT_TRUE(empty);
  proto::WaitResponse w;
  ASSERT_TRUE(proto::Decode(empty->body, &w));
  EXPECT_FALSE(w.ready);
  EXPECT_EQ(w.last_seq, 0u);
  auto c = ts.Connect();
  ASSERT_TRUE(c && c->Append("store", "w0", "x").ok());
  auto ready = Call(r, Op::kWait, 2, proto::WaitRequest{"store", "w0", 0, 0});
  ASSERT_TRUE(ready && proto::Decode(ready->body, &w));
  EXPECT_TRUE(w.ready);
  EXPECT_EQ(w.last_seq, 1u);
}

TEST(ProtocolEdgesTest, SubscribeAboveTheLastSeqAndTwiceToOneTimeline) {
  ServerConfig cfg;
  cfg.inflight_requests_max = 2;  // subscriptions do not count toward it
  TestServer ts(cfg);
  auto c = ts.Connect();
  ASSERT_TRUE(c && c->Append("store", "s", "1").ok());
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  auto above = Call(r, Op::kSubscribe, 10, proto::SubscribeRequest{"store", "s", 3, 0});
  ASSERT_TRUE(above);
  proto::SubscribeResponse sr;
  ASSERT_TRUE(proto::Decode(above->body, &sr));
  EXPECT_EQ(sr.start_after, 3u);
  EXPECT_EQ(sr.last_seq, 1u);
  auto twice = Call(r, Op::kSubscribe, 11, proto::SubscribeRequest{"store", "s", 1, 0});
  ASSERT_TRUE(twice && proto::Decode(twice->body, &sr));
  EXPECT_EQ(sr.start_after, 1u);
  ASSERT_TRUE(Call(r, Op::kSubscribe, 12, proto::SubscribeRequest{"store", "other", 0, 0}));
  // Three live subscriptions with inflight_requests_max 2: requests are still read.
  auto ping = Call(r, Op::kPing, 13, proto::PingRequest{"p"});
  ASSERT_TRUE(ping);
  EXPECT_FALSE(ping->error());
  for (int i = 2; i <= 4; ++i) ASSERT_TRUE(c->Append("store", "s", std::to_string(i)).ok());
  // Subscription 11 gets seqs 2, 3, 4; subscription 10 only 4 (2 and 3 are at or below 3).
  std::map<uint64_t, std::vector<Seq>> pushed;
  while (pushed[11].size() < 3 || pushed[10].size() < 1) {
    auto f = r.ReadFrame(10'000);
    ASSERT_TRUE(f);
    ASSERT_EQ(f->header.flags, proto::kFlagPush);
    proto::PushMessage p;
    ASSERT_TRUE(proto::Decode(f->body, &p));
    pushed[f->header.request_id].push_back(p.message.seq);
  }
  EXPECT_EQ(pushed[11], (std::vector<Seq>{2, 3, 4}));
  EXPECT_EQ(pushed[10], (std::vector<Seq>{4}));
  EXPECT_TRUE(pushed[12].empty());
}

TEST(ProtocolEdgesTest, OpCountersAreLowerCase) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  std::vector<std::string_view> t = {"a", "b"};
  ASSERT_TRUE(c->AppendFanout("store", t, "x").ok());
  auto st = c->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->Get("ops_append_fanout"), 1u);
  EXPECT_GE(st->Get("ops_hello"), 1u);
  for (const auto& [name, value] : st->counters) {
    if (!name.starts_with("ops_")) continue;
    for (char ch : name) EXPECT_FALSE(ch >= 'A' && ch <= 'Z') << name;
  }
}

TEST(ProtocolEdgesTest, UnknownNamespaceIsPermissionDeniedWithoutAGrant) {
  ServerConfig cfg;
  cfg.tokens = {*ParseServerToken("w:secret-w-123:rw=store"),
                *ParseServerToken("all:secret-a-123:rw=*")};
  TestServer ts(cfg);
  auto w = ts.Connect("secret-w-123");
  auto all = ts.Connect("secret-a-123");
  ASSERT_TRUE(w && all);
  EXPECT_EQ(w->Append("nope", "t", "x").status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(all->Append("nope", "t", "x").status().code(), Status::Code::kNotFound);
}

TEST(ProtocolEdgesTest, GetOfAMissingSeqSaysWhichTimelineAndSeq) {
  TestServer ts;
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  ASSERT_TRUE(
      Call(r, Op::kAppend, 1,
           proto::AppendRequest{"store", "conv:1", "", false, 0, Durability::kDefault, "hello"}));
  auto e = Call(r, Op::kGet, 3, proto::GetRequest{"store", "conv:1", 9});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->header.flags, proto::kFlagResponse | proto::kFlagError);
  EXPECT_EQ(e->ErrorCode(), static_cast<uint16_t>(Status::Code::kNotFound));
  // The text docs/protocol.md 8 shows.
  EXPECT_EQ(ErrorText(*e), "timeline 'conv:1' has no seq 9");
}

MutationResult Mutate(RawConn& r, uint64_t id, MutationKind kind, std::string_view tl, Seq seq,
                      uint16_t* error = nullptr) {
  auto f = Call(r, Op::kMutate, id,
                proto::MutateRequest{kind, "store", tl, seq, Durability::kDefault, ""});
  MutationResult m;
  EXPECT_TRUE(f);
  if (!f) return m;
  if (error) *error = f->ErrorCode();
  if (!f->error()) {
    EXPECT_TRUE(proto::DecodeMutationResult(f->body, &m));
  }
  return m;
}

std::vector<Seq> ScanSeqs(RawConn& r, uint64_t id, const proto::ScanRequest& req,
                          uint16_t* error = nullptr) {
  auto f = Call(r, Op::kScan, id, req);
  std::vector<Seq> out;
  EXPECT_TRUE(f);
  if (!f) return out;
  if (error) *error = f->ErrorCode();
  std::vector<Message> msgs;
  if (!f->error() && proto::DecodeMessages(f->body, &msgs)) {
    for (const Message& m : msgs) out.push_back(m.seq);
  }
  return out;
}

TEST(ProtocolEdgesTest, MutateAnswersWhatIsInEffect) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  for (int i = 1; i <= 6; ++i) ASSERT_TRUE(c->Append("store", "m", "x").ok());
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  MutationResult m = Mutate(r, 1, MutationKind::kTrim, "m", 5);
  EXPECT_EQ(m.seq, 5u);
  EXPECT_FALSE(m.noop);
  m = Mutate(r, 2, MutationKind::kTrim, "m", 3);  // below the trim: the first seq kept is 5
  EXPECT_EQ(m.seq, 5u);
  EXPECT_TRUE(m.noop);
  m = Mutate(r, 3, MutationKind::kDeleteTimeline, "m", 2);  // already gone through 4
  EXPECT_EQ(m.seq, 4u);
  EXPECT_TRUE(m.noop);
  m = Mutate(r, 4, MutationKind::kDeleteTimeline, "m", 6);
  EXPECT_EQ(m.seq, 6u);
  EXPECT_FALSE(m.noop);
  m = Mutate(r, 5, MutationKind::kTrim, "m", 7);  // trim up to last + 1: what a delete did
  EXPECT_EQ(m.seq, 7u);
  EXPECT_TRUE(m.noop);
  // A timeline that never had a message: NOT_FOUND for every kind.
  for (MutationKind k :
       {MutationKind::kRecall, MutationKind::kTrim, MutationKind::kDeleteTimeline}) {
    uint16_t err = 0;
    Mutate(r, 10 + static_cast<int>(k), k, "never", k == MutationKind::kDeleteTimeline ? 0 : 1,
           &err);
    EXPECT_EQ(err, static_cast<uint16_t>(Status::Code::kNotFound)) << static_cast<int>(k);
  }
}

TEST(ProtocolEdgesTest, ScanBytesMaxCountsPayloadsAndKeepsTheMessageThatCrossesIt) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(c->Append("store", "b", std::string(10, 'p')).ok());
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  using S = proto::ScanRequest;
  const auto fwd = Direction::kForward;
  EXPECT_EQ(ScanSeqs(r, 1, S{"store", "b", 0, 0, fwd, 0, 25}), (std::vector<Seq>{1, 2, 3}));
  EXPECT_EQ(ScanSeqs(r, 2, S{"store", "b", 0, 0, fwd, 0, 30}), (std::vector<Seq>{1, 2, 3}));
  EXPECT_EQ(ScanSeqs(r, 3, S{"store", "b", 0, 0, fwd, 0, 31}), (std::vector<Seq>{1, 2, 3, 4}));
  EXPECT_EQ(ScanSeqs(r, 4, S{"store", "b", 0, 0, fwd, 0, 1}), (std::vector<Seq>{1}));
  uint16_t err = 0;
  EXPECT_TRUE(ScanSeqs(r, 5, S{"store", "b", 4, 2, fwd, 0, 0}, &err).empty());
  EXPECT_EQ(err, static_cast<uint16_t>(Status::Code::kInvalidArgument));
}

// docs/protocol.md SCAN "Paging": backward, continue with to_seq = last.seq - 1 while last.seq
// is above 1; an empty page or last.seq = 1 is the end.
std::vector<Seq> PageBackward(RawConn& r, uint64_t first_id) {
  std::vector<Seq> all;
  Seq to = 0;
  for (uint64_t id = first_id; id < first_id + 100; ++id) {
    std::vector<Seq> page =
        ScanSeqs(r, id, proto::ScanRequest{"store", "p", 0, to, Direction::kBackward, 2, 0});
    all.insert(all.end(), page.begin(), page.end());
    if (page.empty() || page.back() == 1) return all;
    to = page.back() - 1;
  }
  ADD_FAILURE() << "paging did not end";
  return all;
}

TEST(ProtocolEdgesTest, BackwardPagingEnds) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(c->Append("store", "p", "x").ok());
  RawConn r(ts.port());
  ASSERT_TRUE(r.Hello());
  EXPECT_EQ(PageBackward(r, 1), (std::vector<Seq>{5, 4, 3, 2, 1}));
  ASSERT_TRUE(c->Recall("store", "p", 1).ok());  // the last page is then empty
  EXPECT_EQ(PageBackward(r, 200), (std::vector<Seq>{5, 4, 3, 2}));
}

}  // namespace
}  // namespace tldb::testing
