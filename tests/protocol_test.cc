// Wire codec: round trips of every message, and strict rejection of malformed, truncated,
// oversized and trailing input (the decoder must never crash or over-allocate).
#include <dirent.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "protocol/codes.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace tldb::proto {
namespace {

template <typename M>
std::string Body(const M& m) {
  std::string s;
  WireWriter w(&s);
  Encode(m, w);
  return s;
}

// Every strict prefix of a valid body must be rejected, and so must one trailing byte.
template <typename M>
void ExpectStrict(const std::string& body) {
  for (size_t n = 0; n < body.size(); ++n) {
    M m;
    EXPECT_FALSE(Decode(std::string_view(body).substr(0, n), &m)) << "prefix " << n;
  }
  M m;
  EXPECT_FALSE(Decode(body + "x", &m));
  EXPECT_TRUE(Decode(body, &m));
}

TEST(FrameTest, HeaderRoundTripAndLayout) {
  std::string f = EncodeFrame(static_cast<uint8_t>(Op::kPing), 0, 0x0102030405060708ull, "abc");
  ASSERT_EQ(f.size(), kHeaderBytes + 3);
  EXPECT_EQ(static_cast<uint8_t>(f[0]), 0x54);  // 'T'
  EXPECT_EQ(static_cast<uint8_t>(f[1]), 0x4C);  // 'L'
  EXPECT_EQ(f[2], 1);
  EXPECT_EQ(static_cast<uint8_t>(f[3]), 0x02);
  EXPECT_EQ(static_cast<uint8_t>(f[8]), 0x08);  // little-endian request id
  EXPECT_EQ(static_cast<uint8_t>(f[16]), 3);
  Frame fr;
  ParseResult r = ParseFrame(f.data(), f.size(), 1024, &fr);
  ASSERT_EQ(r.outcome, ParseOutcome::kFrame);
  EXPECT_EQ(r.frame_bytes, f.size());
  EXPECT_EQ(fr.header.request_id, 0x0102030405060708ull);
  EXPECT_EQ(fr.body, "abc");
}

TEST(FrameTest, TruncatedFramesNeedMore) {
  std::string f = EncodeFrame(static_cast<uint8_t>(Op::kPing), 0, 7, std::string(100, 'x'));
  for (size_t n = 0; n < f.size(); ++n) {
    Frame fr;
    EXPECT_EQ(ParseFrame(f.data(), n, 1024, &fr).outcome, ParseOutcome::kNeedMore) << n;
  }
}

TEST(FrameTest, MalformedHeadersAreErrors) {
  std::string good = EncodeFrame(static_cast<uint8_t>(Op::kPing), 0, 9, "");
  struct Case {
    size_t offset;
    char value;
    ErrorCode want;
  } cases[] = {{0, 'X', ErrorCode::kMalformedFrame},    // magic
               {2, 2, ErrorCode::kUnsupportedVersion},  // version
               {5, 0x40, ErrorCode::kMalformedFrame},   // unknown flag bit
               {6, 1, ErrorCode::kMalformedFrame}};     // reserved
  for (const auto& c : cases) {
    std::string f = good;
    f[c.offset] = c.value;
    Frame fr;
    ParseResult r = ParseFrame(f.data(), f.size(), 1024, &fr);
    EXPECT_EQ(r.outcome, ParseOutcome::kError) << c.offset;
    EXPECT_EQ(r.error, c.want) << c.offset;
    // The error answer carries the header's opcode and id as received.
    EXPECT_EQ(r.op, static_cast<uint8_t>(Op::kPing)) << c.offset;
    EXPECT_EQ(r.request_id, 9u) << c.offset;
  }
}

TEST(FrameTest, OversizedBodyIsRefusedFromTheHeaderAlone) {
  std::string f = EncodeFrame(static_cast<uint8_t>(Op::kAppend), 0, 5, std::string(2048, 'x'));
  Frame fr;
  ParseResult r = ParseFrame(f.data(), kHeaderBytes, 1024, &fr);  // body not even sent
  EXPECT_EQ(r.outcome, ParseOutcome::kError);
  EXPECT_EQ(r.error, ErrorCode::kFrameTooLarge);
  EXPECT_EQ(r.request_id, 5u);
  EXPECT_EQ(r.op, static_cast<uint8_t>(Op::kAppend));
  // A header claiming 4 GiB is refused the same way.
  f[16] = f[17] = f[18] = f[19] = static_cast<char>(0xFF);
  EXPECT_EQ(ParseFrame(f.data(), f.size(), kFrameBodyBytesCeiling, &fr).error,
            ErrorCode::kFrameTooLarge);
}

TEST(CodesTest, EngineCodesKeepTheirNumbersOnTheWire) {
  EXPECT_EQ(static_cast<uint16_t>(Status::Code::kClientMsgIdReused), 15u);
  EXPECT_EQ(ErrorName(15), "CLIENT_MSG_ID_REUSED");
  EXPECT_EQ(ErrorName(14), "NOT_PRIMARY");
}

TEST(MessagesTest, AppendRoundTripAndStrictness) {
  AppendRequest a{"store", "conv:1", "id-1", true, 41, Durability::kBuffered, "hello"};
  std::string b = Body(a);
  AppendRequest d;
  ASSERT_TRUE(Decode(b, &d));
  EXPECT_EQ(d.ns, "store");
  EXPECT_EQ(d.timeline, "conv:1");
  EXPECT_EQ(d.client_msg_id, "id-1");
  EXPECT_TRUE(d.has_expected_last_seq);
  EXPECT_EQ(d.expected_last_seq, 41u);
  EXPECT_EQ(d.durability, Durability::kBuffered);
  EXPECT_EQ(d.payload, "hello");
  ExpectStrict<AppendRequest>(b);
  // Out-of-range enum and bool values are malformed.
  std::string bad = b;
  bad[2 + 5 + 2 + 6 + 2 + 4 + 1 + 8] = 7;  // durability byte
  EXPECT_FALSE(Decode(bad, &d));
  bad = b;
  bad[2 + 5 + 2 + 6 + 2 + 4] = 2;  // has_expected_last_seq
  EXPECT_FALSE(Decode(bad, &d));
}

// The fields of each request, for comparing a decoded request with the one encoded.
auto Fields(const HelloRequest& m) {
  return std::tie(m.version, m.client_name, m.token);
}
auto Fields(const AppendRequest& m) {
  return std::tie(m.ns, m.timeline, m.client_msg_id, m.has_expected_last_seq, m.expected_last_seq,
                  m.durability, m.payload);
}
auto Fields(const AppendFanoutRequest& m) {
  return std::tie(m.ns, m.timelines, m.client_msg_id, m.durability, m.payload);
}
auto Fields(const GetRequest& m) {
  return std::tie(m.ns, m.timeline, m.seq);
}
auto Fields(const ScanRequest& m) {
  return std::tie(m.ns, m.timeline, m.from_seq, m.to_seq, m.direction, m.limit, m.bytes_max);
}
auto Fields(const LastSeqRequest& m) {
  return std::tie(m.ns, m.timelines);
}
auto Fields(const WaitRequest& m) {
  return std::tie(m.ns, m.timeline, m.after_seq, m.timeout_ms, m.with_messages, m.limit,
                  m.bytes_max);
}
auto Fields(const SubscribeRequest& m) {
  return std::tie(m.ns, m.timeline, m.after_seq, m.flags);
}
auto Fields(const UnsubscribeRequest& m) {
  return std::tie(m.subscription_id);
}
auto Fields(const NsCreateRequest& m) {
  return std::tie(m.name, m.options);
}
auto Fields(const NsDescribeRequest& m) {
  return std::tie(m.name);
}
auto Fields(const PingRequest& m) {
  return std::tie(m.data);
}
auto Fields(const CursorSetRequest& m) {
  return std::tie(m.device, m.ns, m.timeline, m.seq, m.reset);
}
auto Fields(const CursorGetRequest& m) {
  return std::tie(m.device, m.ns, m.timelines);
}
auto Fields(const MutateRequest& m) {
  return std::tie(m.kind, m.ns, m.timeline, m.seq, m.durability, m.payload);
}
auto Fields(const NsSetOptionsRequest& m) {
  return std::tie(m.name, m.mask, m.options);
}
auto Fields(const CompactRequest& m) {
  return std::tie(m.ns, m.full);
}
auto Fields(const CompactStatusRequest& m) {
  return std::tie(m.job_id);
}

// Encodes `in`, checks that the body is strict, decodes it and compares every field. The
// values given differ from the defaults, so a decoder that skips or swaps a field fails.
template <typename M>
void ExpectRoundTrip(const M& in) {
  const std::string body = Body(in);
  ExpectStrict<M>(body);
  M out;
  ASSERT_TRUE(Decode(body, &out));
  EXPECT_TRUE(Fields(out) == Fields(in))
      << ::testing::PrintToString(Fields(out)) << " vs " << ::testing::PrintToString(Fields(in));
  EXPECT_EQ(Body(out), body);
}

TEST(MessagesTest, EveryRequestRoundTrips) {
  ExpectRoundTrip(HelloRequest{2, "cli", "secret"});
  ExpectRoundTrip(AppendRequest{"store", "conv:1", "m-1", true, 41, Durability::kBuffered, "hi"});
  ExpectRoundTrip(AppendFanoutRequest{"store", {"a", "bb", "ccc"}, "id", Durability::kSync, "p"});
  ExpectRoundTrip(GetRequest{"store", "t", 3});
  ExpectRoundTrip(ScanRequest{"store", "t", 1, 9, Direction::kBackward, 20, 4096});
  ExpectRoundTrip(LastSeqRequest{"store", {"a", "b"}});
  ExpectRoundTrip(WaitRequest{"store", "t", 5, 1000});  // with messages: protocol_read_test
  ExpectRoundTrip(SubscribeRequest{"store", "t", 5, kSubscribeFromLatest});
  ExpectRoundTrip(UnsubscribeRequest{77});
  NamespaceOptions o;
  o.ttl_ms = 5;
  o.segment_bytes_max = 1 << 20;
  o.durability = Durability::kBuffered;
  o.messages_per_timeline_max = 9;
  o.compact_live_pct = 30;
  o.compress_block_bytes = 8192;
  o.compress_level = -3;
  ExpectRoundTrip(NsCreateRequest{"chat", o});
  ExpectRoundTrip(NsDescribeRequest{"chat"});
  ExpectRoundTrip(PingRequest{"xyz"});
  ExpectRoundTrip(CursorSetRequest{"dev", "store", "t", 10, true});
  ExpectRoundTrip(CursorGetRequest{"dev", "store", {"a", "b"}});
  ExpectRoundTrip(
      MutateRequest{MutationKind::kEdit, "store", "conv:1", 7, Durability::kSync, "new text"});
  ExpectRoundTrip(NsSetOptionsRequest{"chat", kOptTtlMs | kOptCompressLevel, o});
  ExpectRoundTrip(CompactRequest{"store", true});
  ExpectRoundTrip(CompactStatusRequest{12});

  SubscribeRequest s;
  std::string sb = Body(SubscribeRequest{"store", "t", 5, 0});
  sb.back() = 4;  // unknown subscribe flag
  EXPECT_FALSE(Decode(sb, &s));
}

TEST(MessagesTest, EveryResponseRoundTrips) {
  HelloResponse h;
  h.server_name = "tldb";
  h.frame_body_bytes_max = 4 << 20;
  h.grants = {{"*", 3}, {"sync", 1}};
  HelloResponse hd;
  ASSERT_TRUE(Decode(Body(h), &hd));
  EXPECT_EQ(hd.grants.size(), 2u);
  EXPECT_EQ(hd.grants[1].ns, "sync");
  ExpectStrict<HelloResponse>(Body(h));

  std::vector<Message> msgs = {{1, 1000, "", "a"}, {2, 1001, "id", std::string(300, 'z')}};
  std::string mb;
  WireWriter w(&mb);
  EncodeMessages(msgs, w);
  std::vector<Message> md;
  ASSERT_TRUE(DecodeMessages(mb, &md));
  ASSERT_EQ(md.size(), 2u);
  EXPECT_EQ(md[1].client_msg_id, "id");
  EXPECT_EQ(md[1].payload, std::string(300, 'z'));
  EXPECT_FALSE(DecodeMessages(mb.substr(0, mb.size() - 1), &md));

  std::vector<AppendResult> ar = {{5, 10, false}, {6, 11, true}};
  std::string ab;
  WireWriter aw(&ab);
  EncodeAppendResults(ar, aw);
  std::vector<AppendResult> ad;
  ASSERT_TRUE(DecodeAppendResults(ab, &ad));
  EXPECT_TRUE(ad[1].deduplicated);

  NamespaceInfo ni;
  ni.name = "sync";
  ni.options.ttl_ms = 123;
  std::string nb;
  WireWriter nw(&nb);
  EncodeNamespaceInfos({ni, ni}, nw);
  std::vector<NamespaceInfo> nd;
  ASSERT_TRUE(DecodeNamespaceInfos(nb, &nd));
  EXPECT_EQ(nd[1].options.ttl_ms, 123u);

  StatsResponse st{{{"a", 1}, {"b", 2}}, "uring"};
  ExpectStrict<StatsResponse>(Body(st));
  ExpectStrict<WaitResponse>(Body(WaitResponse{true, 9}));
  ExpectStrict<SubscribeResponse>(Body(SubscribeResponse{3, 4}));
  ExpectStrict<CursorSetResponse>(Body(CursorSetResponse{3, true}));
  ExpectStrict<ErrorBody>(Body(ErrorBody{64, "bad"}));

  std::string pb;
  WireWriter pw(&pb);
  EncodePush("store", "t", msgs[1], pw);
  PushMessage pm;
  ASSERT_TRUE(Decode(pb, &pm));
  EXPECT_EQ(pm.message.seq, 2u);
  ExpectStrict<PushMessage>(pb);
}

TEST(MessagesTest, MaintenanceMessagesRoundTripAndAreStrict) {
  ExpectStrict<MutateRequest>(Body(
      MutateRequest{MutationKind::kEdit, "store", "conv:1", 7, Durability::kSync, "new text"}));
  MutateRequest mr;
  std::string mb = Body(
      MutateRequest{MutationKind::kDeleteTimeline, "store", "t", 9, Durability::kBuffered, ""});
  ASSERT_TRUE(Decode(mb, &mr));
  EXPECT_EQ(mr.kind, MutationKind::kDeleteTimeline);
  EXPECT_EQ(mr.timeline, "t");
  EXPECT_EQ(mr.seq, 9u);
  EXPECT_EQ(mr.durability, Durability::kBuffered);
  for (uint8_t bad_kind : {0, 5, 255}) {
    std::string b = mb;
    b[0] = static_cast<char>(bad_kind);
    EXPECT_FALSE(Decode(b, &mr)) << int(bad_kind);
  }

  NamespaceOptions o;
  o.ttl_ms = 86'400'000;
  o.messages_per_timeline_max = 1000;
  o.compact_live_pct = 30;
  o.compress_block_bytes = 16 << 10;
  o.compress_level = -5;  // signed on the wire
  o.durability = Durability::kBuffered;
  o.segment_bytes_max = 1 << 20;
  std::string sb = Body(NsSetOptionsRequest{"chat", kOptTtlMs | kOptCompressLevel, o});
  ExpectStrict<NsSetOptionsRequest>(sb);
  NsSetOptionsRequest sr;
  ASSERT_TRUE(Decode(sb, &sr));
  EXPECT_EQ(sr.name, "chat");
  EXPECT_EQ(sr.mask, kOptTtlMs | kOptCompressLevel);
  EXPECT_EQ(sr.options, o);
  sb[2 + 4] = static_cast<char>(0x80);  // mask bit 7 is not defined
  EXPECT_FALSE(Decode(sb, &sr));
  NamespaceOptions applied;
  ApplyNsOptions(kOptTtlMs | kOptCompressLevel, o, &applied);
  EXPECT_EQ(applied.ttl_ms, o.ttl_ms);
  EXPECT_EQ(applied.compress_level, -5);
  EXPECT_EQ(applied.messages_per_timeline_max, 0u);  // not in the mask
  EXPECT_EQ(applied.durability, Durability::kSync);

  // Zero means the default for every option.
  NamespaceOptions zeros;
  zeros.compact_live_pct = 0;
  zeros.compress_block_bytes = 0;
  zeros.compress_level = 0;
  zeros.segment_bytes_max = 0;
  zeros.durability = Durability::kDefault;
  FillNamespaceDefaults(&zeros);
  EXPECT_EQ(zeros, NamespaceOptions{});
  EXPECT_EQ(zeros.compact_live_pct, 50u);

  std::string cb = Body(NsCreateRequest{"chat", o});
  ExpectStrict<NsCreateRequest>(cb);
  NsCreateRequest cr;
  ASSERT_TRUE(Decode(cb, &cr));
  EXPECT_EQ(cr.options, o);

  NamespaceInfo ni;
  ni.name = "chat";
  ni.id = 4;
  ni.options = o;
  ni.timelines = 10;
  ni.segments = 2;
  ni.bytes_on_disk = 12345;
  std::string nb;
  WireWriter nw(&nb);
  EncodeNamespaceInfo(ni, nw);
  EXPECT_EQ(nb.size(), 67u + 4);  // the smallest NamespaceInfo (67 bytes) + "chat"
  NamespaceInfo nd;
  ASSERT_TRUE(DecodeNamespaceInfo(nb, &nd));
  EXPECT_EQ(nd.options, o);
  EXPECT_EQ(nd.bytes_on_disk, 12345u);
  EXPECT_FALSE(DecodeNamespaceInfo(nb + "x", &nd));

  ExpectStrict<CompactRequest>(Body(CompactRequest{"store", true}));
  ExpectStrict<CompactRequest>(Body(CompactRequest{"", false}));
  ExpectStrict<CompactResponse>(Body(CompactResponse{42}));
  ExpectStrict<CompactStatusRequest>(Body(CompactStatusRequest{0}));
  CompactStatusResponse st;
  st.job_id = 3;
  st.ns = "store";
  st.full = true;
  st.state = CompactState::kFailed;
  st.error_code = 4;
  st.error_message = "disk";
  st.progress = {5, 4, 1000, 400, 90, 10, 1};
  std::string stb = Body(st);
  ExpectStrict<CompactStatusResponse>(stb);
  CompactStatusResponse sd;
  ASSERT_TRUE(Decode(stb, &sd));
  EXPECT_EQ(sd.state, CompactState::kFailed);
  EXPECT_EQ(sd.error_message, "disk");
  EXPECT_EQ(sd.progress.bytes_written, 400u);
  EXPECT_EQ(sd.progress.segments_expired, 1u);
  stb[8 + 2 + 5 + 1] = 4;  // state out of range
  EXPECT_FALSE(Decode(stb, &sd));

  std::string rb;
  WireWriter rw(&rb);
  EncodeMutationResult({17, true}, rw);
  MutationResult res;
  ASSERT_TRUE(DecodeMutationResult(rb, &res));
  EXPECT_EQ(res.seq, 17u);
  EXPECT_TRUE(res.noop);
  rb.back() = 2;
  EXPECT_FALSE(DecodeMutationResult(rb, &res));

  // Every new opcode is known, named and decodable through the generic entry point.
  EXPECT_EQ(OpName(0x60), "MUTATE");
  EXPECT_EQ(OpName(0x63), "COMPACT_STATUS");
  EXPECT_FALSE(IsKnownOp(0x64));
  EXPECT_TRUE(DecodeAnyRequest(0x60, mb));
  EXPECT_TRUE(DecodeAnyRequest(0x62, Body(CompactRequest{"store", true})));
}

TEST(MessagesTest, HugeCountsAreRefusedWithoutAllocating) {
  std::string b;
  WireWriter w(&b);
  w.Str16("store");
  w.U32(0xFFFFFFFF);  // claims 4 billion timelines, sends none
  LastSeqRequest l;
  EXPECT_FALSE(Decode(b, &l));
  std::vector<Message> m;
  EXPECT_FALSE(DecodeMessages(std::string("\xff\xff\xff\x7f", 4), &m));
}

TEST(MessagesTest, RandomBytesNeverCrash) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::string body(rng() % 64, '\0');
    for (auto& ch : body) ch = static_cast<char>(rng() % 4 == 0 ? rng() : rng() % 3);
    uint8_t op = static_cast<uint8_t>(rng());
    (void)DecodeAnyRequest(op, body);
    Frame fr;
    (void)ParseFrame(body.data(), body.size(), 1 << 20, &fr);
  }
}

// Replays tests/fuzz/corpus/ (seeds and any crash the fuzzer found) through the decoder.
TEST(FuzzCorpusTest, ReplaysThroughDecoder) {
  DIR* dir = opendir(TLDB_FUZZ_CORPUS_DIR);
  ASSERT_NE(dir, nullptr) << TLDB_FUZZ_CORPUS_DIR;
  int files = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string(TLDB_FUZZ_CORPUS_DIR) + "/" + e->d_name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string data = ss.str();
    size_t off = 0;
    while (off < data.size()) {
      Frame fr;
      ParseResult r = ParseFrame(data.data() + off, data.size() - off, 1 << 20, &fr);
      if (r.outcome != ParseOutcome::kFrame) break;
      (void)DecodeAnyRequest(fr.header.op, fr.body);
      off += r.frame_bytes;
    }
    ++files;
  }
  closedir(dir);
  EXPECT_GT(files, 0);
}

}  // namespace
}  // namespace tldb::proto
