// Wire codec of the pull-mode reads: READ_MULTI (0x23) requests and answers, and WAIT with
// messages (WAIT's optional trailing limit and bytes_max, answered with the messages). Round
// trips compare every decoded field; old WAIT bodies keep their exact bytes. (Their worked
// examples in docs/protocol.md are checked against the codec by protocol_doc_test.)
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
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

std::string Hex(std::string_view s) {
  std::string out;
  char buf[8];
  for (size_t i = 0; i < s.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%s%02x", i ? " " : "", static_cast<uint8_t>(s[i]));
    out += buf;
  }
  return out;
}

// Every strict prefix of `body` and `body` plus one byte must be refused (`ok_prefix`, if
// not npos, is the one prefix length that is itself a valid message).
template <typename M>
void ExpectStrict(const std::string& body, size_t ok_prefix = std::string::npos) {
  for (size_t n = 0; n < body.size(); ++n) {
    M m;
    EXPECT_EQ(Decode(std::string_view(body).substr(0, n), &m), n == ok_prefix) << "prefix " << n;
  }
  M m;
  EXPECT_FALSE(Decode(body + "x", &m));
  EXPECT_TRUE(Decode(body, &m));
}

void ExpectSameMessages(const std::vector<Message>& a, const std::vector<Message>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].seq, b[i].seq) << i;
    EXPECT_EQ(a[i].timestamp_ms, b[i].timestamp_ms) << i;
    EXPECT_EQ(a[i].client_msg_id, b[i].client_msg_id) << i;
    EXPECT_EQ(a[i].payload, b[i].payload) << i;
  }
}

TEST(ReadMultiCodecTest, RequestRoundTripsWithEveryField) {
  ReadMultiRequest in{"store", 7, 300, 65536, {{"g:1", 0}, {"g:2", 41}, {"g:3", ~0ull}}};
  const std::string body = Body(in);
  // ns 2+5, three u32, count 4, entries (2+3+8) x 3.
  EXPECT_EQ(body.size(), 7u + 12 + 4 + 3 * 13);
  ReadMultiRequest out;
  ASSERT_TRUE(Decode(body, &out));
  EXPECT_EQ(out.ns, "store");
  EXPECT_EQ(out.timeline_limit, 7u);
  EXPECT_EQ(out.limit, 300u);
  EXPECT_EQ(out.bytes_max, 65536u);
  ASSERT_EQ(out.timelines.size(), 3u);
  EXPECT_EQ(out.timelines[0].timeline, "g:1");
  EXPECT_EQ(out.timelines[0].after_seq, 0u);
  EXPECT_EQ(out.timelines[1].timeline, "g:2");
  EXPECT_EQ(out.timelines[1].after_seq, 41u);
  EXPECT_EQ(out.timelines[2].after_seq, ~0ull);
  ExpectStrict<ReadMultiRequest>(body);
  EXPECT_TRUE(DecodeAnyRequest(static_cast<uint8_t>(Op::kReadMulti), body));
  EXPECT_FALSE(DecodeAnyRequest(static_cast<uint8_t>(Op::kReadMulti), body + "x"));
  // An empty list is a valid body.
  ReadMultiRequest empty;
  ASSERT_TRUE(Decode(Body(ReadMultiRequest{"store", 0, 0, 0, {}}), &empty));
  EXPECT_TRUE(empty.timelines.empty());
  // A count no body could hold is refused before anything is allocated.
  std::string huge = Body(ReadMultiRequest{"store", 0, 0, 0, {}});
  huge[huge.size() - 1] = '\x7f';
  EXPECT_FALSE(Decode(huge, &empty));
  EXPECT_EQ(OpName(static_cast<uint8_t>(Op::kReadMulti)), "READ_MULTI");
  EXPECT_TRUE(IsKnownOp(0x23));
}

TEST(ReadMultiCodecTest, ResponseRoundTripsWithEveryField) {
  ReadMultiResponse in;
  in.timelines.push_back(
      {9, true, {{4, 1700000000001, "m-4", "four"}, {5, 1700000000002, "", ""}}});
  in.timelines.push_back({0, false, {}});
  in.timelines.push_back({3, false, {{3, -5, "", std::string(300, 'p')}}});
  const std::string body = Body(in);
  ReadMultiResponse out;
  ASSERT_TRUE(Decode(body, &out));
  ASSERT_EQ(out.timelines.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out.timelines[i].last_seq, in.timelines[i].last_seq) << i;
    EXPECT_EQ(out.timelines[i].more, in.timelines[i].more) << i;
    ExpectSameMessages(out.timelines[i].messages, in.timelines[i].messages);
  }
  ExpectStrict<ReadMultiResponse>(body);
  // `more` is a bool: 2 is malformed (offset: count 4, last_seq 8).
  std::string bad = body;
  bad[12] = 2;
  EXPECT_FALSE(Decode(bad, &out));
}

TEST(WaitCodecTest, OldRequestsKeepTheirBytesAndMeaning) {
  WaitRequest old{"store", "c", 1, 30000};
  const std::string body = Body(old);
  // ns, timeline, after_seq, timeout_ms: nothing more (the layout before messages were added).
  EXPECT_EQ(Hex(body), "05 00 73 74 6f 72 65 01 00 63 01 00 00 00 00 00 00 00 30 75 00 00");
  WaitRequest out;
  ASSERT_TRUE(Decode(body, &out));
  EXPECT_FALSE(out.with_messages);
  EXPECT_EQ(out.after_seq, 1u);
  EXPECT_EQ(out.timeout_ms, 30000u);
  ExpectStrict<WaitRequest>(body);
}

TEST(WaitCodecTest, RequestWithMessagesRoundTrips) {
  WaitRequest in{"store", "c", 1, 30000, true, 50, 4096};
  const std::string body = Body(in);
  const size_t old_size = Body(WaitRequest{"store", "c", 1, 30000}).size();
  ASSERT_EQ(body.size(), old_size + 8);
  WaitRequest out;
  ASSERT_TRUE(Decode(body, &out));
  EXPECT_TRUE(out.with_messages);
  EXPECT_EQ(out.ns, "store");
  EXPECT_EQ(out.timeline, "c");
  EXPECT_EQ(out.after_seq, 1u);
  EXPECT_EQ(out.timeout_ms, 30000u);
  EXPECT_EQ(out.limit, 50u);
  EXPECT_EQ(out.bytes_max, 4096u);
  // The old body is the one prefix that decodes (as a WAIT without messages); a partial tail
  // (1 to 7 bytes) is malformed.
  ExpectStrict<WaitRequest>(body, old_size);
  // limit 0 and bytes_max 0 still ask for messages (the server's defaults).
  ASSERT_TRUE(Decode(Body(WaitRequest{"store", "c", 1, 0, true, 0, 0}), &out));
  EXPECT_TRUE(out.with_messages);
  EXPECT_EQ(out.limit, 0u);
}

TEST(WaitCodecTest, ResponseWithMessagesRoundTrips) {
  WaitMessagesResponse in{true, {7, true, {{6, 11, "x", "six"}, {7, 12, "", "seven"}}}};
  const std::string body = Body(in);
  WaitMessagesResponse out;
  ASSERT_TRUE(Decode(body, &out));
  EXPECT_TRUE(out.ready);
  EXPECT_EQ(out.read.last_seq, 7u);
  EXPECT_TRUE(out.read.more);
  ExpectSameMessages(out.read.messages, in.read.messages);
  ExpectStrict<WaitMessagesResponse>(body);
  // The two answers cannot be taken for each other.
  WaitResponse old;
  EXPECT_FALSE(Decode(body, &old));
  EXPECT_FALSE(Decode(Body(WaitResponse{true, 7}), &out));
  // Timed out: ready 0, the last seq, no messages (14 bytes).
  EXPECT_EQ(Hex(Body(WaitMessagesResponse{false, {3, false, {}}})),
            "00 03 00 00 00 00 00 00 00 00 00 00 00 00");
}

}  // namespace
}  // namespace tldb::proto
