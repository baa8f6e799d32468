// tldb-server end to end, pull mode in one round trip: READ_MULTI (the messages after a seq of
// many timelines) and WAIT answered with the messages it waited for. Through the C++ client,
// and raw frames where the wire form itself is the point.
#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "server_test_util.h"
#include "util/forwarding_db.h"

namespace tldb::testing {
namespace {

using namespace std::chrono_literals;
using proto::Op;

std::vector<Seq> Seqs(const TimelineRead& r) {
  std::vector<Seq> out;
  for (const auto& m : r.messages) out.push_back(m.seq);
  return out;
}

std::vector<std::string> Payloads(const TimelineRead& r) {
  std::vector<std::string> out;
  for (const auto& m : r.messages) out.push_back(m.payload);
  return out;
}

void AppendN(Client& c, std::string_view tl, int n, const std::string& prefix) {
  for (int i = 1; i <= n; ++i) {
    ASSERT_TRUE(c.Append("store", tl, prefix + std::to_string(i)).ok());
  }
}

TEST(ReadMultiTest, ReturnsExactlyTheMessagesAfterEachSeq) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  AppendN(*c, "g:a", 5, "a");
  AppendN(*c, "g:b", 3, "b");
  ASSERT_TRUE(c->Recall("store", "g:a", 4).ok());  // deleted messages are skipped
  const TimelineAfter req[] = {{"g:a", 2}, {"g:b", 0}, {"g:none", 0}, {"g:a", 5}, {"g:b", 9}};
  auto r = c->ReadMulti("store", req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ(Seqs((*r)[0]), (std::vector<Seq>{3, 5}));
  EXPECT_EQ(Payloads((*r)[0]), (std::vector<std::string>{"a3", "a5"}));
  EXPECT_EQ((*r)[0].last_seq, 5u);
  EXPECT_FALSE((*r)[0].more);
  EXPECT_EQ(Payloads((*r)[1]), (std::vector<std::string>{"b1", "b2", "b3"}));
  EXPECT_EQ((*r)[1].last_seq, 3u);
  // A timeline that does not exist: empty, last seq 0.
  EXPECT_TRUE((*r)[2].messages.empty());
  EXPECT_EQ((*r)[2].last_seq, 0u);
  EXPECT_FALSE((*r)[2].more);
  // Nothing after after_seq (at or past the last seq): empty.
  EXPECT_TRUE((*r)[3].messages.empty());
  EXPECT_EQ((*r)[3].last_seq, 5u);
  EXPECT_TRUE((*r)[4].messages.empty());
  EXPECT_EQ((*r)[4].last_seq, 3u);
  // An empty list is answered with an empty list.
  auto none = c->ReadMulti("store", {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  // Fan-out messages are read from every target timeline.
  std::string_view targets[] = {"g:f1", "g:f2"};
  ASSERT_TRUE(c->AppendFanout("store", targets, "fan").ok());
  const TimelineAfter fan[] = {{"g:f1", 0}, {"g:f2", 0}};
  auto f = c->ReadMulti("store", fan);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(Payloads((*f)[0]), std::vector<std::string>{"fan"});
  EXPECT_EQ(Payloads((*f)[1]), std::vector<std::string>{"fan"});
}

TEST(ReadMultiTest, LimitsCutEntriesShortAndSayMore) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  AppendN(*c, "g:a", 5, "a");
  AppendN(*c, "g:b", 3, "b");
  AppendN(*c, "g:c", 1, "c");
  // Per timeline: 2 each.
  const TimelineAfter all[] = {{"g:a", 0}, {"g:b", 1}, {"g:c", 0}};
  auto r = c->ReadMulti("store", all, {.timeline_limit = 2});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Seqs((*r)[0]), (std::vector<Seq>{1, 2}));
  EXPECT_TRUE((*r)[0].more);
  EXPECT_EQ(Seqs((*r)[1]), (std::vector<Seq>{2, 3}));  // the limit, but also the end
  EXPECT_FALSE((*r)[1].more);
  EXPECT_EQ(Seqs((*r)[2]), std::vector<Seq>{1});
  EXPECT_FALSE((*r)[2].more);
  // In total: 3 messages; the timelines after the budget ran out get none, `more` if news.
  const TimelineAfter four[] = {{"g:a", 0}, {"g:b", 0}, {"g:c", 0}, {"g:c", 1}};
  r = c->ReadMulti("store", four, {.timeline_limit = 2, .limit = 3});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Seqs((*r)[0]), (std::vector<Seq>{1, 2}));
  EXPECT_TRUE((*r)[0].more);
  EXPECT_EQ(Seqs((*r)[1]), std::vector<Seq>{1});
  EXPECT_TRUE((*r)[1].more);
  EXPECT_TRUE((*r)[2].messages.empty());
  EXPECT_TRUE((*r)[2].more);
  EXPECT_EQ((*r)[2].last_seq, 1u);
  EXPECT_TRUE((*r)[3].messages.empty());
  EXPECT_FALSE((*r)[3].more);  // no news there
  // Payload bytes in total: 100-byte payloads, bytes_max 250: the message that crosses the
  // limit is included (as SCAN), then nothing more.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(c->Append("store", "g:big", std::string(100, 'x')).ok());
  const TimelineAfter big[] = {{"g:big", 0}, {"g:a", 0}};
  r = c->ReadMulti("store", big, {.bytes_max = 250});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Seqs((*r)[0]), (std::vector<Seq>{1, 2, 3}));
  EXPECT_TRUE((*r)[0].more);
  EXPECT_TRUE((*r)[1].messages.empty());
  EXPECT_TRUE((*r)[1].more);
  // Paging on `more` from the last message returned reads every message exactly once.
  std::vector<TimelineAfter> cur = {{"g:a", 0}, {"g:b", 0}, {"g:big", 0}};
  std::vector<std::vector<Seq>> got(cur.size());
  for (int round = 0; round < 20; ++round) {
    auto p = c->ReadMulti("store", cur, {.timeline_limit = 1, .limit = 2});
    ASSERT_TRUE(p.ok());
    bool more = false;
    for (size_t i = 0; i < cur.size(); ++i) {
      for (Seq s : Seqs((*p)[i])) got[i].push_back(s);
      if (!(*p)[i].messages.empty()) cur[i].after_seq = (*p)[i].messages.back().seq;
      more |= (*p)[i].more;
    }
    if (!more) break;
  }
  EXPECT_EQ(got[0], (std::vector<Seq>{1, 2, 3, 4, 5}));
  EXPECT_EQ(got[1], (std::vector<Seq>{1, 2, 3}));
  EXPECT_EQ(got[2], (std::vector<Seq>{1, 2, 3, 4}));
}

TEST(ReadMultiTest, BadInputIsRefusedClearly) {
  ServerConfig cfg;
  cfg.fanout_timelines_max = 3;
  cfg.tokens = {*ParseServerToken("reader:secret-r-123:r=store"),
                *ParseServerToken("other:secret-o-123:rw=sync")};
  TestServer ts(cfg);
  auto c = ts.Connect("secret-r-123");
  ASSERT_TRUE(c);
  const TimelineAfter four[] = {{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}};
  auto over = c->ReadMulti("store", four);
  EXPECT_EQ(over.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(over.status().message().find("4 timelines in one request (at most 3"),
            std::string::npos)
      << over.status().ToString();
  EXPECT_TRUE(c->ReadMulti("store", std::span(four, 3)).ok());
  const TimelineAfter empty_key[] = {{"a", 0}, {"", 0}};
  auto bad = c->ReadMulti("store", empty_key);
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("timeline key must be 1-255 bytes"), std::string::npos)
      << bad.status().ToString();
  const std::string long_key(256, 'k');
  const TimelineAfter long_req[] = {{long_key, 0}};
  EXPECT_EQ(c->ReadMulti("store", long_req).status().code(), Status::Code::kInvalidArgument);
  // Read right needed: no grant on `sync` for this token.
  EXPECT_EQ(c->ReadMulti("sync", std::span(four, 1)).status().code(),
            Status::Code::kPermissionDenied);
  auto admin = ts.Connect("secret-o-123");
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->ReadMulti("store", std::span(four, 1)).status().code(),
            Status::Code::kPermissionDenied);
  // A body that is not a READ_MULTI request: fatal MALFORMED_FRAME.
  RawConn raw(ts.port());
  ASSERT_TRUE(raw.Hello("secret-r-123"));
  std::string body;
  proto::WireWriter w(&body);
  proto::Encode(proto::ReadMultiRequest{"store", 0, 0, 0, {{"a", 0}}}, w);
  body.pop_back();  // a truncated after_seq
  ASSERT_TRUE(raw.SendFrame(Op::kReadMulti, 5, body));
  auto f = raw.ReadFrame(10'000);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->fatal());
  EXPECT_EQ(f->ErrorCode(), static_cast<uint16_t>(proto::ErrorCode::kMalformedFrame));
}

TEST(ReadMultiTest, UnknownNamespaceIsNotFound) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  const TimelineAfter one[] = {{"a", 0}};
  EXPECT_TRUE(c->ReadMulti("nosuchns", one).status().IsNotFound());
  // STATS counts the opcode.
  ASSERT_TRUE(c->ReadMulti("store", one).ok());
  auto st = c->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->Get("ops_read_multi"), 2u);
}

TEST(WaitReadTest, ReturnsTheMessagesItWaitedFor) {
  TestServer ts;
  auto waiter = ts.Connect();
  auto writer = ts.Connect();
  ASSERT_TRUE(waiter && writer);
  ASSERT_TRUE(writer->Append("store", "w:1", "one").ok());
  // Already there: answered at once, with the message.
  auto now = waiter->WaitRead("store", "w:1", 0, 5000);
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  EXPECT_TRUE(now->ready);
  EXPECT_EQ(now->read.last_seq, 1u);
  EXPECT_EQ(Payloads(now->read), std::vector<std::string>{"one"});
  EXPECT_FALSE(now->read.more);
  // Nothing new: times out with no messages.
  auto timeout = waiter->WaitRead("store", "w:1", 1, 100);
  ASSERT_TRUE(timeout.ok());
  EXPECT_FALSE(timeout->ready);
  EXPECT_EQ(timeout->read.last_seq, 1u);
  EXPECT_TRUE(timeout->read.messages.empty());
  // Parked, then woken by another connection's append: the answer carries that message. The
  // PING behind the WAIT on the same connection is answered after the WAIT was parked.
  std::promise<Result<WaitReadResult>> woke;
  waiter->WaitReadAsync("store", "w:1", 1, 20'000, {},
                        [&](Result<WaitReadResult> r) { woke.set_value(std::move(r)); });
  ASSERT_TRUE(waiter->Ping().ok());
  auto fut = woke.get_future();
  EXPECT_EQ(fut.wait_for(0ms), std::future_status::timeout);  // parked, not answered
  ASSERT_TRUE(writer->Append("store", "w:1", "two").ok());
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  auto r = fut.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->ready);
  EXPECT_EQ(r->read.last_seq, 2u);
  EXPECT_EQ(Seqs(r->read), std::vector<Seq>{2});
  EXPECT_EQ(Payloads(r->read), std::vector<std::string>{"two"});
  // A fan-out wakes a parked WAIT on one of its targets, with the payload.
  std::promise<Result<WaitReadResult>> fan_woke;
  waiter->WaitReadAsync("store", "w:f", 0, 20'000, {},
                        [&](Result<WaitReadResult> r) { fan_woke.set_value(std::move(r)); });
  ASSERT_TRUE(waiter->Ping().ok());
  std::string_view targets[] = {"w:e", "w:f"};
  ASSERT_TRUE(writer->AppendFanout("store", targets, "fanned").ok());
  auto ff = fan_woke.get_future();
  ASSERT_EQ(ff.wait_for(10s), std::future_status::ready);
  auto fr = ff.get();
  ASSERT_TRUE(fr.ok());
  EXPECT_EQ(Payloads(fr->read), std::vector<std::string>{"fanned"});
}

TEST(WaitReadTest, LimitsApplyAndOldWaitsKeepTheirAnswer) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c);
  AppendN(*c, "w:2", 5, "m");
  auto two = c->WaitRead("store", "w:2", 1, 1000, {.limit = 2});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(Seqs(two->read), (std::vector<Seq>{2, 3}));
  EXPECT_TRUE(two->read.more);
  EXPECT_EQ(two->read.last_seq, 5u);
  auto rest = c->WaitRead("store", "w:2", 3, 1000, {.limit = 2});
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(Seqs(rest->read), (std::vector<Seq>{4, 5}));
  EXPECT_FALSE(rest->read.more);
  // Payloads "m1", "m2", ... of 2 bytes: bytes_max 2 is reached by the first; with 3 the
  // second crosses it and is included.
  auto bytes = c->WaitRead("store", "w:2", 0, 1000, {.bytes_max = 2});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(Seqs(bytes->read), std::vector<Seq>{1});
  EXPECT_TRUE(bytes->read.more);
  bytes = c->WaitRead("store", "w:2", 0, 1000, {.bytes_max = 3});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(Seqs(bytes->read), (std::vector<Seq>{1, 2}));
  EXPECT_TRUE(bytes->read.more);
  EXPECT_EQ(c->WaitRead("store", "w:2", 5, 60'001).status().code(), Status::Code::kInvalidArgument);
  // Raw frames: a WAIT without the optional fields is answered with the 9-byte body, one with
  // them with ready + TimelineRead.
  RawConn raw(ts.port());
  ASSERT_TRUE(raw.Hello());
  ASSERT_TRUE(raw.SendMsg(Op::kWait, 7, proto::WaitRequest{"store", "w:2", 4, 1000}));
  auto f = raw.ReadFrame(10'000);
  ASSERT_TRUE(f && !f->error());
  EXPECT_EQ(f->body.size(), 9u);
  proto::WaitResponse old;
  ASSERT_TRUE(proto::Decode(f->body, &old));
  EXPECT_TRUE(old.ready);
  EXPECT_EQ(old.last_seq, 5u);
  ASSERT_TRUE(raw.SendMsg(Op::kWait, 8, proto::WaitRequest{"store", "w:2", 4, 1000, true, 0, 0}));
  f = raw.ReadFrame(10'000);
  ASSERT_TRUE(f && !f->error());
  proto::WaitMessagesResponse with;
  ASSERT_TRUE(proto::Decode(f->body, &with));
  EXPECT_TRUE(with.ready);
  ASSERT_EQ(with.read.messages.size(), 1u);
  EXPECT_EQ(with.read.messages[0].payload, "m5");
}

// The Db a server serves, passing everything to a real one, whose reads can be switched to
// answer NotPrimary as a ReplicatedDb does off the serving primary (docs/replication.md).
class ReadGateDb : public testing::ForwardingDb {
 public:
  using ForwardingDb::ForwardingDb;
  std::atomic<bool> refuse{false};

  Result<Message> Get(std::string_view ns, std::string_view t, Seq seq) override {
    if (refuse) return Refused();
    return ForwardingDb::Get(ns, t, seq);
  }
  Result<std::vector<Message>> Scan(std::string_view ns, std::string_view t,
                                    const ScanOptions& o) override {
    if (refuse) return Refused();
    return ForwardingDb::Scan(ns, t, o);
  }
  Result<std::vector<Seq>> LastSeq(std::string_view ns,
                                   std::span<const std::string_view> t) override {
    if (refuse) return Refused();
    return ForwardingDb::LastSeq(ns, t);
  }

 private:
  static Status Refused() {
    return Status::NotPrimary("this server is a follower; primary=10.0.0.9:7070");
  }
};

// READ_MULTI and WAIT with messages read through the Db the server serves, as SCAN does: a
// server whose Db refuses reads (a cluster follower) answers them NOT_PRIMARY with the
// primary's address, also for a WAIT that was parked before and woken by an append.
TEST(ReadMultiTest, ReadsGoThroughTheServedDbLikeScan) {
  TempDir dir;
  auto db = Db::Open(dir.path(), {});
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE(CreateDefaultNamespaces(**db).ok());
  ReadGateDb gate(std::move(db).value());
  ServerConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.threads = 2;
  auto server = Server::Start(&gate, cfg);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ClientOptions o;
  o.server = "127.0.0.1:" + std::to_string((*server)->port());
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  Client& cl = **c;
  ASSERT_TRUE(cl.Append("store", "r:1", "x").ok());
  const TimelineAfter one[] = {{"r:1", 0}};
  auto ok = cl.ReadMulti("store", one);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(Payloads((*ok)[0]), std::vector<std::string>{"x"});
  // A WAIT with messages parked while reads are served...
  std::promise<Result<WaitReadResult>> woke;
  cl.WaitReadAsync("store", "r:1", 1, 20'000, {},
                   [&](Result<WaitReadResult> r) { woke.set_value(std::move(r)); });
  ASSERT_TRUE(cl.Ping().ok());
  // ... then this server stops serving reads.
  gate.refuse = true;
  auto refused = cl.ReadMulti("store", one);
  EXPECT_EQ(refused.status().code(), Status::Code::kNotPrimary) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("primary=10.0.0.9:7070"), std::string::npos);
  auto scan = cl.Scan("store", "r:1", {});
  EXPECT_EQ(scan.status().code(), Status::Code::kNotPrimary);
  EXPECT_EQ(cl.WaitRead("store", "r:1", 0, 1000).status().code(), Status::Code::kNotPrimary);
  ASSERT_TRUE(cl.Append("store", "r:1", "y").ok());
  auto fut = woke.get_future();
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(fut.get().status().code(), Status::Code::kNotPrimary);
  gate.refuse = false;
  auto again = cl.ReadMulti("store", one);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Payloads((*again)[0]), (std::vector<std::string>{"x", "y"}));
  c->reset();
  server->reset();
  EXPECT_TRUE(gate.Close().ok());
}

}  // namespace
}  // namespace tldb::testing
