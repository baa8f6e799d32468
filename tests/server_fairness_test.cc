// Per-connection fairness of the server's event loop (server/src/turn_budget.h): a connection
// that pipelines many requests, or asks for big answers, or has not completed HELLO, delays the
// other connections of its loop by at most one bounded turn per loop iteration; and the
// budget changes nothing of what a connection gets (every request answered, in order).
//
// How the tests see the order without timing: the server runs one loop thread over a Db wrapper
// that logs every GET and SCAN the loop makes, in order, and blocks the loop inside a GET of the
// timeline "gate" until the test releases it. The test parks the loop there, queues the other
// connections' requests meanwhile, releases it, and reads the order the loop served them in.
// A SCAN longer than one step (server/src/chunked_scan.h) is read one step per turn: the
// steps, concatenated, are what one Db::Scan answers, and other connections are served between
// them.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chunked_scan.h"
#include "server_test_util.h"
#include "turn_budget.h"
#include "util/forwarding_db.h"

namespace tldb {
namespace {

using common::RawConn;
using common::TempDir;
using proto::Op;
using server::ChunkedScan;
using server::TurnBudget;

// Forwards to a real Db; logs the timeline of every Get ("x") and Scan ("scan:x"); a Get of
// "gate" blocks until Open().
class GatedDb : public testing::ForwardingDb {
 public:
  using ForwardingDb::ForwardingDb;
  Result<Message> Get(std::string_view ns, std::string_view t, Seq s) override {
    Log(std::string(t));
    if (t == "gate") WaitForOpen();
    return db()->Get(ns, t, s);
  }
  Result<std::vector<Message>> Scan(std::string_view ns, std::string_view t,
                                    const ScanOptions& o) override {
    Log("scan:" + std::string(t));
    return db()->Scan(ns, t, o);
  }

  // True once the loop is blocked in the gate's Get (waits up to 5 s).
  bool WaitUntilGated() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return gated_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // What the loop read after the gate, in order.
  std::vector<std::string> LogAfterGate() {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    bool after = false;
    for (const auto& t : log_) {
      if (after) out.push_back(t);
      after |= t == "gate";
    }
    return out;
  }

 private:
  void Log(std::string t) {
    std::lock_guard lock(mu_);
    log_.push_back(std::move(t));
  }
  void WaitForOpen() {
    std::unique_lock lock(mu_);
    gated_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool gated_ = false, open_ = false;
  std::vector<std::string> log_;
};

template <typename M>
std::string Frame(Op op, uint64_t id, const M& m) {
  std::string body;
  proto::WireWriter w(&body);
  proto::Encode(m, w);
  return proto::EncodeFrame(static_cast<uint8_t>(op), 0, id, body);
}

std::string Gets(std::string_view timeline, uint64_t first_id, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += Frame(Op::kGet, first_id + static_cast<uint64_t>(i),
                 proto::GetRequest{"store", timeline, 1});
  }
  return out;
}

// How many entries equal to `what` come before the `nth` (1-based) entry equal to `mark`; -1
// when there are fewer than `nth` marks.
int CountBefore(const std::vector<std::string>& log, const std::string& what,
                const std::string& mark, int nth = 1) {
  int count = 0, marks = 0;
  for (const auto& t : log) {
    if (t == mark && ++marks == nth) return count;
    if (t == what) ++count;
  }
  return -1;
}

// Reads `n` answers from `c` and checks they carry ids first_id, first_id + 1, ... in order.
void ExpectAnswersInOrder(RawConn& c, uint64_t first_id, int n) {
  for (int i = 0; i < n; ++i) {
    auto f = c.ReadFrame(10'000);
    ASSERT_TRUE(f) << "answer " << i << " of " << n << " missing";
    ASSERT_EQ(f->header.request_id, first_id + static_cast<uint64_t>(i));
  }
}

// One loop thread (so every connection shares it) over a GatedDb with namespace "store".
class FairnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto real = Db::Open(dir_.path(), {});
    ASSERT_TRUE(real.ok()) << real.status().ToString();
    db_ = std::make_unique<GatedDb>(std::move(real).value());
    ASSERT_TRUE(CreateDefaultNamespaces(*db_).ok());
    ServerConfig cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 1;
    cfg.log = [](std::string_view) {};
    auto s = Server::Start(db_.get(), cfg);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  void TearDown() override {
    if (db_) db_->Open();
    server_.reset();
    if (db_) (void)db_->Close();
  }
  std::unique_ptr<RawConn> Connect(bool hello = true) {
    auto c = std::make_unique<RawConn>(server_->port());
    EXPECT_TRUE(c->connected());
    if (hello) {
      EXPECT_TRUE(c->Hello());
    }
    return c;
  }
  // Parks the loop thread in a GET of "gate" sent on `gate`.
  void CloseGate(RawConn& gate) {
    ASSERT_TRUE(gate.Send(Frame(Op::kGet, 1, proto::GetRequest{"store", "gate", 1})));
    ASSERT_TRUE(db_->WaitUntilGated());
  }
  // Lets the loop go on once the requests sent meanwhile have reached the server's sockets
  // (loopback delivers within send(); the pause is only a margin).
  void OpenGate(RawConn& gate) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    db_->Open();
    ASSERT_TRUE(gate.ReadFrame(10'000));
  }

  TempDir dir_;
  std::unique_ptr<GatedDb> db_;
  std::unique_ptr<Server> server_;
};

TEST(TurnBudgetTest, BoundsRequestsResponseBytesAndReads) {
  TurnBudget b = TurnBudget::For(/*authenticated=*/true);
  EXPECT_EQ(b.ReadAllowance(), TurnBudget::kReadBytes);
  for (size_t i = 0; i < TurnBudget::kRequests; ++i) {
    ASSERT_TRUE(b.CanHandle()) << i;
    b.NoteRequest(10);
  }
  EXPECT_FALSE(b.CanHandle());
  EXPECT_EQ(b.ReadAllowance(), 0u);  // a spent turn reads nothing more

  TurnBudget big = TurnBudget::For(true);
  big.NoteRequest(TurnBudget::kResponseBytes);  // one answer as big as the turn's share
  EXPECT_FALSE(big.CanHandle());

  TurnBudget reads = TurnBudget::For(true);
  reads.NoteRead(TurnBudget::kReadBytes - 1);
  EXPECT_EQ(reads.ReadAllowance(), 1u);
  reads.NoteRead(5);
  EXPECT_EQ(reads.ReadAllowance(), 0u);
  EXPECT_TRUE(reads.CanHandle());  // requests already received may still be handled

  TurnBudget unauth = TurnBudget::For(/*authenticated=*/false);
  EXPECT_EQ(unauth.ReadAllowance(), TurnBudget::kUnauthenticatedReadBytes);
  unauth.NoteRequest(0);
  EXPECT_FALSE(unauth.CanHandle());
}

TEST_F(FairnessTest, PipelinedRequestsDelayAnotherConnectionByAtMostOneTurn) {
  auto gate = Connect(), greedy = Connect(), other = Connect();
  CloseGate(*gate);
  constexpr int kPipelined = 1'000;
  static_assert(TurnBudget::kRequests * 4 <= kPipelined, "the pipeline must outlast a turn");
  ASSERT_TRUE(greedy->Send(Gets("greedy", 1, kPipelined)));
  ASSERT_TRUE(other->Send(Gets("other", 1, 1)));
  OpenGate(*gate);
  ExpectAnswersInOrder(*other, 1, 1);
  ExpectAnswersInOrder(*greedy, 1, kPipelined);
  const auto log = db_->LogAfterGate();
  ASSERT_EQ(log.size(), kPipelined + 1u);
  // Without the budget the whole pipeline (1,000 GETs) ran before the other connection's GET.
  const int before = CountBefore(log, "greedy", "other");
  ASSERT_GE(before, 0);
  EXPECT_LE(before, static_cast<int>(TurnBudget::kRequests));
}

TEST_F(FairnessTest, ABigAnswerEndsItsConnectionsTurn) {
  const std::string payload(100u << 10, 'x');  // 4 x 100 KiB: each SCAN answers ~400 KiB
  static_assert(TurnBudget::kResponseBytes < (400u << 10), "one answer must fill a turn");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(db_->Append("store", "big", payload, {}).ok());
  auto gate = Connect(), scanner = Connect(), other = Connect();
  CloseGate(*gate);
  constexpr int kScans = 8;
  std::string scans;
  for (int i = 0; i < kScans; ++i) {
    scans += Frame(Op::kScan, 1 + static_cast<uint64_t>(i),
                   proto::ScanRequest{"store", "big", 1, 0, Direction::kForward, 4, 4u << 20});
  }
  ASSERT_TRUE(scanner->Send(scans));
  ASSERT_TRUE(other->Send(Gets("other", 1, 1)));
  OpenGate(*gate);
  ExpectAnswersInOrder(*other, 1, 1);
  ExpectAnswersInOrder(*scanner, 1, kScans);
  const auto log = db_->LogAfterGate();
  const int before = CountBefore(log, "scan:big", "other");
  ASSERT_GE(before, 0);
  EXPECT_LE(before, 1);  // all 8 (3.2 MiB of answers) without the response-bytes budget
}

TEST_F(FairnessTest, UnauthenticatedConnectionsGetOneRequestAndComeLast) {
  auto gate = Connect(), newcomer = Connect(/*hello=*/false), member = Connect();
  CloseGate(*gate);
  constexpr int kEach = 3 * static_cast<int>(TurnBudget::kRequests);
  // The newcomer pipelines its HELLO with its requests; the member is authenticated.
  ASSERT_TRUE(newcomer->Send(Frame(Op::kHello, 100, proto::HelloRequest{1, "raw", ""}) +
                             Gets("newcomer", 1, kEach)));
  ASSERT_TRUE(member->Send(Gets("member", 1, kEach)));
  OpenGate(*gate);
  ExpectAnswersInOrder(*newcomer, 100, 1);  // the HELLO answer first
  ExpectAnswersInOrder(*newcomer, 1, kEach);
  ExpectAnswersInOrder(*member, 1, kEach);
  const auto log = db_->LogAfterGate();
  ASSERT_EQ(log.size(), 2u * kEach);
  const int turn = static_cast<int>(TurnBudget::kRequests);
  // The iteration in which the newcomer was not authenticated: the member's full turn came
  // first, and the newcomer's turn was its HELLO alone.
  EXPECT_EQ(CountBefore(log, "newcomer", "member", turn), 0);
  // By the end of the member's second turn, the newcomer had at most one turn of GETs.
  EXPECT_LE(CountBefore(log, "newcomer", "member", 2 * turn), turn);
}

TEST_F(FairnessTest, PipelinedAppendsAreAllHandledInOrderAcrossManyTurns) {
  auto a = Connect(), b = Connect();
  // More than inflight-requests-max (1,024): parsing pauses and resumes from the ready list.
  constexpr int kAppends = 2'500;
  std::string batch_a, batch_b;
  for (int i = 0; i < kAppends; ++i) {
    const std::string pa = "a" + std::to_string(i), pb = "b" + std::to_string(i);
    batch_a += Frame(Op::kAppend, 1 + static_cast<uint64_t>(i),
                     proto::AppendRequest{"store", "pa", "", false, 0, Durability::kBuffered, pa});
    batch_b += Frame(Op::kAppend, 1 + static_cast<uint64_t>(i),
                     proto::AppendRequest{"store", "pb", "", false, 0, Durability::kBuffered, pb});
  }
  std::thread sender([&] { EXPECT_TRUE(b->Send(batch_b)); });
  ASSERT_TRUE(a->Send(batch_a));
  sender.join();
  for (auto* c : {a.get(), b.get()}) {
    std::vector<bool> seen(kAppends + 1, false);
    for (int i = 0; i < kAppends; ++i) {
      auto f = c->ReadFrame(10'000);
      ASSERT_TRUE(f) << "answer " << i << " missing";
      ASSERT_FALSE(f->header.flags & proto::kFlagError) << f->ErrorCode();
      ASSERT_GE(f->header.request_id, 1u);
      ASSERT_LE(f->header.request_id, static_cast<uint64_t>(kAppends));
      ASSERT_FALSE(seen[f->header.request_id]) << "answered twice";
      seen[f->header.request_id] = true;
    }
  }
  // The engine assigned SeqIds in the order the loop handled the requests.
  for (const std::string t : {"pa", "pb"}) {
    ScanOptions o;
    o.limit = kAppends;
    o.bytes_max = 16u << 20;
    auto msgs = db_->Scan("store", t, o);
    ASSERT_TRUE(msgs.ok());
    ASSERT_EQ(msgs->size(), static_cast<size_t>(kAppends));
    for (int i = 0; i < kAppends; ++i) {
      ASSERT_EQ((*msgs)[i].payload, t.substr(1) + std::to_string(i)) << t << " seq " << i + 1;
    }
  }
}

// Runs a ChunkedScan of `whole` to its end; the answer's messages.
std::vector<Message> ScanInSteps(Db& db, const ScanOptions& whole, uint32_t* steps) {
  ChunkedScan scan("store", "t", whole, 1, 0);
  while (!scan.done()) {
    Status s = scan.Step(db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) break;
  }
  *steps = scan.steps();
  std::string body;
  proto::WireWriter w(&body);
  scan.WriteBody(w);
  std::vector<Message> msgs;
  EXPECT_TRUE(proto::DecodeMessages(body, &msgs));
  EXPECT_EQ(msgs.size(), scan.messages());
  return msgs;
}

TEST(ChunkedScanTest, StepsConcatenateToWhatOneScanAnswers) {
  TempDir dir;
  auto db = Db::Open(dir.path(), {});
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE(CreateDefaultNamespaces(**db).ok());
  // 2,500 messages of 1 to ~700 bytes, every 97th one 60 KiB (steps end on bytes too).
  AppendOptions buffered;
  buffered.durability = Durability::kBuffered;
  for (int i = 1; i <= 2'500; ++i) {
    const size_t size = i % 97 == 0 ? (60u << 10) : static_cast<size_t>(1 + (i * 37) % 700);
    ASSERT_TRUE((*db)->Append("store", "t", std::string(size, char('a' + i % 26)), buffered).ok());
  }
  int cases = 0;
  uint32_t most_steps = 0;
  for (Direction dir : {Direction::kForward, Direction::kBackward}) {
    for (auto [from, to] : {std::pair<Seq, Seq>{0, 0},
                            {1, 2'500},
                            {7, 1'900},
                            {0, 1'200},
                            {2'400, 0},
                            {2'499, 2'500},
                            {3'000, 0}}) {
      for (uint32_t limit : {1u, 999u, 1'000u, 1'001u, 2'500u, 10'000u}) {
        for (uint64_t bytes : {uint64_t{1}, uint64_t{300} << 10, uint64_t{2} << 20}) {
          ScanOptions o;
          o.from_seq = from;
          o.to_seq = to;
          o.direction = dir;
          o.limit = limit;
          o.bytes_max = bytes;
          auto one = (*db)->Scan("store", "t", o);
          ASSERT_TRUE(one.ok()) << one.status().ToString();
          uint32_t steps = 0;
          const auto stepped = ScanInSteps(**db, o, &steps);
          ASSERT_EQ(stepped.size(), one->size()) << "dir " << int(dir) << " from " << from << " to "
                                                 << to << " limit " << limit << " bytes " << bytes;
          for (size_t i = 0; i < one->size(); ++i) {
            ASSERT_EQ(stepped[i].seq, (*one)[i].seq) << i;
            ASSERT_EQ(stepped[i].payload, (*one)[i].payload) << i;
          }
          // Bounded work per step: at most kMessagesPerStep messages, so at least this many.
          EXPECT_GE(steps * ChunkedScan::kMessagesPerStep, static_cast<uint32_t>(one->size()));
          most_steps = std::max(most_steps, steps);
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 2 * 7 * 6 * 3);
  EXPECT_GE(most_steps, 3u);  // 2,500 messages take three steps at least
  ASSERT_TRUE((*db)->Close().ok());
}

TEST_F(FairnessTest, ALongScanYieldsItsTurnBetweenSteps) {
  AppendOptions buffered;
  buffered.durability = Durability::kBuffered;
  constexpr int kMessages = 10'000;  // the SCAN limit's cap: ten steps of 1,000
  for (int i = 1; i <= kMessages; ++i) {
    ASSERT_TRUE(db_->Append("store", "long", "m" + std::to_string(i), buffered).ok());
  }
  auto gate = Connect(), scanner = Connect(), other = Connect();
  CloseGate(*gate);
  // The SCAN and a PING after it on one connection; a GET on another.
  ASSERT_TRUE(scanner->Send(
      Frame(Op::kScan, 1,
            proto::ScanRequest{"store", "long", 0, 0, Direction::kForward, kMessages, 0}) +
      Frame(Op::kPing, 2, proto::PingRequest{"after the scan"})));
  ASSERT_TRUE(other->Send(Gets("other", 1, 1)));
  OpenGate(*gate);
  ExpectAnswersInOrder(*other, 1, 1);
  auto scan = scanner->ReadFrame(10'000);
  ASSERT_TRUE(scan);
  ASSERT_EQ(scan->header.request_id, 1u);  // the SCAN's answer before the PING's
  std::vector<Message> msgs;
  ASSERT_TRUE(proto::DecodeMessages(scan->body, &msgs));
  ASSERT_EQ(msgs.size(), static_cast<size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_EQ(msgs[i].seq, static_cast<Seq>(i + 1));
    ASSERT_EQ(msgs[i].payload, "m" + std::to_string(i + 1));
  }
  ExpectAnswersInOrder(*scanner, 2, 1);
  const auto log = db_->LogAfterGate();
  int steps = 0;
  for (const auto& t : log) steps += t == "scan:long";
  EXPECT_EQ(steps, kMessages / static_cast<int>(ChunkedScan::kMessagesPerStep));
  // The other connection's GET came after at most one step, not after the whole SCAN.
  const int before = CountBefore(log, "scan:long", "other");
  ASSERT_GE(before, 0);
  EXPECT_LE(before, 1);
  auto stats = Connect();
  ASSERT_TRUE(stats->SendFrame(Op::kStats, 1, ""));
  auto f = stats->ReadFrame(10'000);
  ASSERT_TRUE(f);
  proto::StatsResponse st;
  ASSERT_TRUE(proto::Decode(f->body, &st));
  uint64_t yielded = 0;
  for (const auto& [name, v] : st.counters) {
    if (name == "scan_turns_yielded") yielded = v;
  }
  EXPECT_GE(yielded, static_cast<uint64_t>(steps - 1));
}

}  // namespace
}  // namespace tldb
