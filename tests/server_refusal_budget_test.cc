// Per-client budgets of refused requests (server/src/failure_budgets.h, issue 16 item 4): the
// bucket and its bounded table with an injected clock, and a real server that charges a
// client's PERMISSION_DENIED answers and fatal protocol errors after HELLO to its token and
// address (to its address alone when the server has no tokens), refuses that client's next
// HELLO once the budget is spent (held first) while its open connection, the same token from
// another address and other tokens are served, never charges INVALID_ARGUMENT, NOT_FOUND or
// CONFLICT, and does nothing with the budget off.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "failure_budgets.h"
#include "log_throttle.h"
#include "protocol/codes.h"
#include "server_test_util.h"

namespace tldb {
namespace {

using common::RawConn;
using proto::ErrorCode;
using proto::Op;
using server::FailureBudgets;
using server::LogThrottle;

TEST(FailureBudgetsTest, RefusalsSpendTheBucketAndItRefills) {
  FailureBudgets b({.per_s = 10, .burst = 3, .entries_max = 10});
  int64_t now = 5'000;
  EXPECT_TRUE(b.Admit("token a", now));
  EXPECT_EQ(b.entries(), 0u);  // Admit tracks nobody: only refusals do
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(b.Admit("token a", now)) << i;
    b.Refused("token a", now);
  }
  EXPECT_FALSE(b.Admit("token a", now));
  b.Refused("token a", now);             // no debt: the bucket stops at zero
  EXPECT_TRUE(b.Admit("token b", now));  // another client is not affected
  now += 99;
  EXPECT_FALSE(b.Admit("token a", now));
  now += 1;  // 100 ms at 10/s: one token back
  EXPECT_TRUE(b.Admit("token a", now));
  b.Refused("token a", now);
  EXPECT_FALSE(b.Admit("token a", now));
  now += 10'000;  // refilled to the burst, not beyond
  for (int i = 0; i < 3; ++i) b.Refused("token a", now);
  EXPECT_FALSE(b.Admit("token a", now));
}

// The refusal log lines: the first event is logged, then at most one line an interval, each
// with the number of events since the previous line.
TEST(LogThrottleTest, OneLineAnIntervalCarryingTheCountSinceTheLast) {
  LogThrottle t(1'000);
  EXPECT_EQ(t.Count(5), 1u);  // the first event is logged at once, whatever the clock reads
  EXPECT_EQ(t.Count(6), 0u);
  EXPECT_EQ(t.Count(1'004), 0u);
  EXPECT_EQ(t.Count(1'005), 3u);  // the two held back and this one
  EXPECT_EQ(t.Count(1'500), 0u);
  EXPECT_EQ(t.Count(9'000), 2u);
  EXPECT_EQ(t.Count(9'000), 0u);
}

TEST(FailureBudgetsTest, AFullTableForgetsClientsThatOweNothingAndNeverGrows) {
  FailureBudgets b({.per_s = 1, .burst = 2, .entries_max = 4});
  int64_t now = 10'000;
  for (int i = 0; i < 4; ++i) {
    b.Refused("c" + std::to_string(i), now);
    b.Refused("c" + std::to_string(i), now);
  }
  EXPECT_EQ(b.entries(), 4u);
  // Full of clients that owe tokens: a new one is not tracked (it escapes, the table holds).
  b.Refused("new", now);
  b.Refused("new", now);
  EXPECT_EQ(b.entries(), 4u);
  EXPECT_TRUE(b.Admit("new", now));
  EXPECT_FALSE(b.Admit("c0", now));
  // Once they have refilled (2 s at 1/s), the next pass (at most one a second) forgets them.
  now += 2'000;
  b.Refused("new", now);
  EXPECT_EQ(b.entries(), 1u);
  b.Refused("new", now);
  EXPECT_FALSE(b.Admit("new", now));
  EXPECT_TRUE(b.Admit("c0", now));  // forgotten with its (paid) state
}

// ---- a real server, the budget on a clock the test moves

constexpr char kAppSecret[] = "app-secret-1";
constexpr char kLimitedSecret[] = "limited-secret-1";

struct Clock {
  std::atomic<int64_t> now_ms{1'000'000};
};

ServerConfig RefusalConfig(uint32_t per_s, Clock* clock, bool with_tokens = true) {
  ServerConfig cfg;
  if (with_tokens) {
    cfg.tokens.push_back({"app", kAppSecret, {}, {"*"}, {}});
    cfg.tokens.push_back({"limited", kLimitedSecret, {}, {"elsewhere"}, {}});
  }
  cfg.peer_budgets = false;            // this budget alone
  cfg.refused_requests_per_s = per_s;  // 10/s: one token per 100 ms of the test's clock
  cfg.refused_requests_burst = 5;
  cfg.peer_budget_clock_ms = [clock] { return clock->now_ms.load(); };
  return cfg;
}

enum class Outcome { kServed, kRefused, kOther };

// A new raw connection's HELLO (from `source_ip` when given); *held_ms: how long the answer
// took.
Outcome HelloOnce(uint16_t port, std::string_view token, std::string* refusal = nullptr,
                  int64_t* held_ms = nullptr, const char* source_ip = nullptr) {
  RawConn c(port, 0, source_ip);
  const auto start = std::chrono::steady_clock::now();
  if (!c.connected() ||
      !c.SendMsg(Op::kHello, 0, proto::HelloRequest{proto::kVersion, "t", token})) {
    return Outcome::kOther;
  }
  auto f = c.ReadFrame(10'000);
  if (held_ms) {
    *held_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count();
  }
  if (!f) return Outcome::kOther;
  if (!f->error()) return Outcome::kServed;
  if (f->ErrorCode() != static_cast<uint16_t>(ErrorCode::kTooManyConnections)) {
    return Outcome::kOther;
  }
  proto::ErrorBody e;
  if (refusal && proto::Decode(f->body, &e)) *refusal = e.message;
  return f->fatal() && f->header.request_id == 0 && c.WaitEof(10'000) ? Outcome::kRefused
                                                                      : Outcome::kOther;
}

// Sends `m` as `op` on `c` and returns the answer's code (0: success, -1: no answer).
template <typename M>
int Ask(RawConn& c, Op op, uint64_t id, const M& m) {
  if (!c.SendMsg(op, id, m)) return -1;
  auto f = c.ReadFrame(10'000);
  if (!f || f->header.request_id != id) return -1;
  return f->error() ? f->ErrorCode() : 0;
}

// An APPEND to "store", which the limited token may not write.
proto::AppendRequest DeniedAppend() {
  return {"store", "t", "", false, 0, Durability::kDefault, "x"};
}

uint64_t Counter(Client& c, std::string_view name) {
  auto st = c.Stats();
  EXPECT_TRUE(st.ok()) << st.status().ToString();
  return st.ok() ? st->Get(name) : ~uint64_t{0};
}

const int kDenied = static_cast<int>(Status::Code::kPermissionDenied);

TEST(ServerRefusalBudgetTest,
     DeniedRequestsRefuseTheTokensNextHelloWhileItsOpenConnectionIsServed) {
  Clock clock;
  testing::TestServer ts(RefusalConfig(10, &clock));
  RawConn limited(ts.port());
  ASSERT_TRUE(limited.Hello(kLimitedSecret));
  for (uint64_t i = 1; i <= 5; ++i) {  // the burst: 5 denials
    ASSERT_EQ(HelloOnce(ts.port(), kLimitedSecret), Outcome::kServed) << "after " << i - 1;
    ASSERT_EQ(Ask(limited, Op::kAppend, i, DeniedAppend()), kDenied) << i;
  }
  std::string refusal;
  int64_t held_ms = 0;
  ASSERT_EQ(HelloOnce(ts.port(), kLimitedSecret, &refusal, &held_ms), Outcome::kRefused);
  EXPECT_NE(refusal.find("too many refused requests from this client"), std::string::npos)
      << refusal;
  EXPECT_GE(held_ms, 400) << "the refusal is held (500 ms) before it is sent";
  // The open connection of that token is still served, its denials still answered as such.
  EXPECT_EQ(Ask(limited, Op::kPing, 10, proto::PingRequest{"here"}), 0);
  EXPECT_EQ(Ask(limited, Op::kAppend, 11, DeniedAppend()), kDenied);
  // The same token from another host is another client; another token is not affected either.
  EXPECT_EQ(HelloOnce(ts.port(), kLimitedSecret, nullptr, nullptr, "127.0.0.2"), Outcome::kServed);
  auto app = ts.Connect(kAppSecret);
  ASSERT_TRUE(app);
  ASSERT_TRUE(app->Append("store", "good", "m").ok());
  EXPECT_EQ(Counter(*app, "hellos_refused_refused_requests"), 1u);
  // One token back (100 ms at 10/s): the token's HELLO goes through again.
  clock.now_ms += 99;
  EXPECT_EQ(HelloOnce(ts.port(), kLimitedSecret), Outcome::kRefused);
  clock.now_ms += 1;
  EXPECT_EQ(HelloOnce(ts.port(), kLimitedSecret), Outcome::kServed);
  EXPECT_TRUE(ts.LogContains("refusing HELLO of token limited at 127.0.0.1 from 127.0.0.1:"));
}

TEST(ServerRefusalBudgetTest, FatalProtocolErrorsAfterHelloAreChargedButInvalidArgumentsAreNot) {
  Clock clock;
  testing::TestServer ts(RefusalConfig(10, &clock));
  {  // INVALID_ARGUMENT, NOT_FOUND and CONFLICT are answers, not refusals: never charged
    RawConn c(ts.port());
    ASSERT_TRUE(c.Hello(kAppSecret));
    ASSERT_TRUE(ts.Connect(kAppSecret)->Append("store", "chat", "m").ok());
    for (uint64_t i = 1; i <= 20; ++i) {
      ASSERT_EQ(Ask(c, Op::kGet, 3 * i, proto::GetRequest{"store", "chat", 0}),
                static_cast<int>(Status::Code::kInvalidArgument));
      ASSERT_EQ(Ask(c, Op::kGet, 3 * i + 1, proto::GetRequest{"store", "chat", 99}),
                static_cast<int>(Status::Code::kNotFound));
      ASSERT_EQ(Ask(c, Op::kAppend, 3 * i + 2,
                    proto::AppendRequest{"store", "chat", "", true, 7, Durability::kDefault, "x"}),
                static_cast<int>(Status::Code::kConflict));
    }
  }
  ASSERT_EQ(HelloOnce(ts.port(), kAppSecret), Outcome::kServed);
  for (int i = 0; i < 5; ++i) {  // the burst: 5 connections closed by a malformed frame
    RawConn c(ts.port());
    ASSERT_TRUE(c.Hello(kAppSecret));
    ASSERT_TRUE(c.SendFrame(static_cast<Op>(0x65), 2, ""));  // an unknown opcode: fatal
    auto f = c.ReadFrame(10'000);
    ASSERT_TRUE(f && f->fatal()) << i;
    ASSERT_EQ(f->ErrorCode(), static_cast<uint16_t>(ErrorCode::kUnknownOpcode));
  }
  EXPECT_EQ(HelloOnce(ts.port(), kAppSecret), Outcome::kRefused);
  // The other token is a different client.
  EXPECT_EQ(HelloOnce(ts.port(), kLimitedSecret), Outcome::kServed);
}

TEST(ServerRefusalBudgetTest, WithoutTokensTheClientIsItsAddress) {
  Clock clock;
  testing::TestServer ts(RefusalConfig(10, &clock, /*with_tokens=*/false));
  for (int i = 0; i < 5; ++i) {
    RawConn c(ts.port());
    ASSERT_TRUE(c.Hello(""));
    std::string frame = "xy";  // garbage: a bad magic, fatal
    frame.resize(32, 'z');
    ASSERT_TRUE(c.Send(frame));
    auto f = c.ReadFrame(10'000);
    ASSERT_TRUE(f && f->fatal()) << i;
  }
  EXPECT_EQ(HelloOnce(ts.port(), ""), Outcome::kRefused);
  EXPECT_EQ(HelloOnce(ts.port(), "any secret"), Outcome::kRefused);  // one client: 127.0.0.1
  EXPECT_EQ(HelloOnce(ts.port(), "", nullptr, nullptr, "127.0.0.2"), Outcome::kServed);
}

TEST(ServerRefusalBudgetTest, OffRefusesNothing) {
  Clock clock;
  testing::TestServer ts(RefusalConfig(0, &clock));
  RawConn limited(ts.port());
  ASSERT_TRUE(limited.Hello(kLimitedSecret));
  for (uint64_t i = 1; i <= 50; ++i)
    ASSERT_EQ(Ask(limited, Op::kAppend, i, DeniedAppend()), kDenied);
  EXPECT_EQ(HelloOnce(ts.port(), kLimitedSecret), Outcome::kServed);
}

}  // namespace
}  // namespace tldb
