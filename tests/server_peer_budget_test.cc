// Per-peer-address budgets (server/src/peer_budgets.h, issue 16 item 4): the token buckets with
// an injected clock, the bounded table, and a real server that throttles a burst of failed
// handshakes from one address while an authenticated client of the same address keeps being
// served, never charges clients that authenticate, caps connections held open without HELLO,
// and does none of it with --peer-budgets off.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "peer_budgets.h"
#include "protocol/codes.h"
#include "server_test_util.h"

namespace tldb {
namespace {

using common::RawConn;
using proto::ErrorCode;
using server::PeerBudgets;
using server::PeerKey;
using Verdict = PeerBudgets::Verdict;

PeerKey V4(const char* text) {
  sockaddr_storage ss{};
  auto& in = reinterpret_cast<sockaddr_in&>(ss);
  in.sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, text, &in.sin_addr), 1) << text;
  return PeerBudgets::KeyOf(ss);
}

PeerKey V6(const char* text) {
  sockaddr_storage ss{};
  auto& in6 = reinterpret_cast<sockaddr_in6&>(ss);
  in6.sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, text, &in6.sin6_addr), 1) << text;
  return PeerBudgets::KeyOf(ss);
}

PeerBudgets::Limits SmallLimits() {
  return {.unauth_connections_per_s = 1,
          .unauth_connections_burst = 3,
          .handshake_failures_per_s = 10,
          .handshake_failures_burst = 5,
          .entries_max = 100};
}

TEST(PeerBudgetsTest, FailedHandshakesRefuseTheAddressUntilTheBucketRefills) {
  PeerBudgets b(SmallLimits());
  const PeerKey a = V4("10.0.0.1");
  int64_t now = 1'000;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(b.Admit(a, now), Verdict::kAdmit) << i;
    b.Refund(a, now);  // not what is charged here: keep the other bucket full
    b.HandshakeFailed(a, now);
  }
  EXPECT_EQ(b.Admit(a, now), Verdict::kHandshakeFailures);
  EXPECT_EQ(b.Admit(a, now + 99), Verdict::kHandshakeFailures);  // 0.99 of a token at 10/s
  EXPECT_EQ(b.Admit(V4("10.0.0.2"), now), Verdict::kAdmit);      // another address is not
  EXPECT_EQ(b.Admit(a, now + 100), Verdict::kAdmit);             // one token after 100 ms
  b.Refund(a, now + 100);
  b.HandshakeFailed(a, now + 100);
  EXPECT_EQ(b.Admit(a, now + 100), Verdict::kHandshakeFailures);
  // More failures than tokens (connections admitted before the bucket ran dry) leave no debt.
  for (int i = 0; i < 50; ++i) b.HandshakeFailed(a, now + 100);
  EXPECT_EQ(b.Admit(a, now + 200), Verdict::kAdmit);
}

TEST(PeerBudgetsTest, ConnectionsThatAuthenticateAreNeverCharged) {
  PeerBudgets b(SmallLimits());
  const PeerKey a = V4("10.0.0.1");
  for (int i = 0; i < 1'000; ++i) {
    ASSERT_EQ(b.Admit(a, 5'000), Verdict::kAdmit) << i;
    b.Refund(a, 5'000);
  }
  // Held open without HELLO: three at once (the burst), then one per second.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(b.Admit(a, 5'000), Verdict::kAdmit);
  EXPECT_EQ(b.Admit(a, 5'000), Verdict::kUnauthConnections);
  EXPECT_EQ(b.Admit(a, 5'999), Verdict::kUnauthConnections);
  EXPECT_EQ(b.Admit(a, 6'000), Verdict::kAdmit);
  b.Refund(a, 6'000);  // one of them authenticates: its token comes back
  EXPECT_EQ(b.Admit(a, 6'000), Verdict::kAdmit);
}

TEST(PeerBudgetsTest, KeysAreIpv4AddressesAndIpv6Slash64s) {
  EXPECT_EQ(V4("192.0.2.7"), V6("::ffff:192.0.2.7"));
  EXPECT_FALSE(V4("192.0.2.7") == V4("192.0.2.8"));
  EXPECT_EQ(V6("2001:db8:1:2::1"), V6("2001:db8:1:2:ffff::9"));
  EXPECT_FALSE(V6("2001:db8:1:2::1") == V6("2001:db8:1:3::1"));
  EXPECT_FALSE(V6("::") == V4("0.0.0.0"));
  // One failing /64 host does not throttle its neighbour /64.
  PeerBudgets b(SmallLimits());
  for (int i = 0; i < 5; ++i) b.HandshakeFailed(V6("2001:db8:1:2::1"), 0);
  EXPECT_EQ(b.Admit(V6("2001:db8:1:2::abcd"), 0), Verdict::kHandshakeFailures);
  EXPECT_EQ(b.Admit(V6("2001:db8:1:3::1"), 0), Verdict::kAdmit);
}

TEST(PeerBudgetsTest, TheTableStaysBoundedAndForgetsTheLeastRecentlyUsed) {
  PeerBudgets b(SmallLimits());  // 100 entries
  const PeerKey kept = V4("10.9.9.9"), forgotten = V4("10.8.8.8");
  for (int i = 0; i < 5; ++i) {
    b.HandshakeFailed(kept, 0);
    b.HandshakeFailed(forgotten, 0);
  }
  // 10,000 other addresses; `kept` is used between them, `forgotten` is not.
  for (uint32_t i = 0; i < 10'000; ++i) {
    sockaddr_storage ss{};
    auto& in = reinterpret_cast<sockaddr_in&>(ss);
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(0x0b000000u + i);
    ASSERT_EQ(b.Admit(PeerBudgets::KeyOf(ss), 0), Verdict::kAdmit);
    ASSERT_EQ(b.Admit(kept, 0), Verdict::kHandshakeFailures) << i;  // time stands still
    ASSERT_LE(b.entries(), 100u);
  }
  EXPECT_EQ(b.entries(), 100u);
  EXPECT_EQ(b.evictions(), 10'000u + 2 - 100);
  EXPECT_EQ(b.Admit(forgotten, 0), Verdict::kAdmit);  // forgotten with its state
  EXPECT_EQ(b.Admit(kept, 0), Verdict::kHandshakeFailures);
}

TEST(PeerBudgetsTest, KeyTextNamesTheAddressOrTheSlash64) {
  EXPECT_EQ(PeerBudgets::KeyText(V4("10.20.30.40")), "10.20.30.40");
  EXPECT_EQ(PeerBudgets::KeyText(V6("::ffff:10.0.0.9")), "10.0.0.9");  // IPv4-mapped
  EXPECT_EQ(PeerBudgets::KeyText(V6("2001:db8:0:1:aaaa::5")), "2001:db8:0:1::/64");
  EXPECT_EQ(PeerBudgets::KeyText(V6("fe80::1")), "fe80:0:0:0::/64");
}

// ---- a real server, its budgets on a clock the test moves

constexpr char kSecret[] = "good-secret-1";

struct Clock {
  std::atomic<int64_t> now_ms{1'000'000};
};

ServerConfig BudgetConfig(bool on, Clock* clock) {
  ServerConfig cfg;
  cfg.tokens.push_back({"app", kSecret, {}, {"*"}, {}});
  cfg.peer_budgets = on;
  cfg.peer_handshake_failures_per_s = 20;  // one token per 50 ms of the test's clock
  cfg.peer_handshake_failures_burst = 20;
  cfg.peer_unauth_connections_per_s = 20;
  cfg.peer_unauth_connections_burst = 30;
  cfg.peer_budget_clock_ms = [clock] { return clock->now_ms.load(); };
  return cfg;
}

// How a new raw connection's HELLO with `token` went.
enum class Outcome { kServed, kAuthFailed, kRefused, kOther };
Outcome HelloOnce(uint16_t port, std::string_view token, std::string* refusal = nullptr) {
  RawConn c(port);
  if (!c.connected() ||
      !c.SendMsg(proto::Op::kHello, 0, proto::HelloRequest{proto::kVersion, "t", token})) {
    return Outcome::kOther;
  }
  auto f = c.ReadFrame(10'000);
  if (!f) return Outcome::kOther;
  if (!f->error()) return Outcome::kServed;
  if (f->ErrorCode() == static_cast<uint16_t>(ErrorCode::kTooManyConnections)) {
    proto::ErrorBody e;
    if (refusal && proto::Decode(f->body, &e)) *refusal = e.message;
    return f->fatal() && f->header.request_id == 0 ? Outcome::kRefused : Outcome::kOther;
  }
  if (f->ErrorCode() != static_cast<uint16_t>(ErrorCode::kAuthFailed)) return Outcome::kOther;
  // Wait for the close: the server charges the failure when it closes the connection.
  return c.WaitEof(10'000) ? Outcome::kAuthFailed : Outcome::kOther;
}

uint64_t Counter(Client& c, std::string_view name) {
  auto st = c.Stats();
  EXPECT_TRUE(st.ok()) << st.status().ToString();
  return st.ok() ? st->Get(name) : ~uint64_t{0};
}

TEST(ServerPeerBudgetTest, FailedHandshakeBurstIsRefusedWhileAnAuthenticatedClientIsServed) {
  Clock clock;
  testing::TestServer ts(BudgetConfig(true, &clock));
  auto good = ts.Connect(kSecret);  // connected before the burst, from the same address
  ASSERT_TRUE(good);
  // The burst: exactly 20 failed handshakes (the clock stands still), then refusals.
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(HelloOnce(ts.port(), "wrong-secret"), Outcome::kAuthFailed) << "attempt " << i;
    // The authenticated client of the same address is served between the failures.
    ASSERT_TRUE(good->Append("store", "good", "m" + std::to_string(i)).ok());
    ASSERT_TRUE(good->Latest("store", "good", 5).ok());
  }
  std::string refusal;
  ASSERT_EQ(HelloOnce(ts.port(), "wrong-secret", &refusal), Outcome::kRefused);
  EXPECT_NE(refusal.find("too many failed handshakes from this address"), std::string::npos)
      << refusal;
  // A correct token does not help a new connection of that address either...
  for (int i = 0; i < 3; ++i) EXPECT_EQ(HelloOnce(ts.port(), kSecret), Outcome::kRefused) << i;
  // ... but the connected client keeps being served, and the counters say what happened.
  ASSERT_TRUE(good->Append("store", "good", "after").ok());
  EXPECT_EQ(Counter(*good, "connections_refused_handshake_failures"), 4u);
  EXPECT_EQ(Counter(*good, "connections_refused_unauthenticated"), 0u);
  EXPECT_EQ(Counter(*good, "handshake_failures"), 20u);
  EXPECT_EQ(Counter(*good, "peer_budget_addresses"), 1u);
  EXPECT_TRUE(ts.LogContains("refusing connections from 127.0.0.1"));
  // One token back (50 ms at 20/s): new connections get in, and those that authenticate do not
  // spend it; the next failure does.
  clock.now_ms += 49;
  EXPECT_EQ(HelloOnce(ts.port(), kSecret), Outcome::kRefused);
  clock.now_ms += 1;
  EXPECT_EQ(HelloOnce(ts.port(), kSecret), Outcome::kServed);
  EXPECT_EQ(HelloOnce(ts.port(), kSecret), Outcome::kServed);
  EXPECT_EQ(HelloOnce(ts.port(), "wrong-secret"), Outcome::kAuthFailed);
  EXPECT_EQ(HelloOnce(ts.port(), kSecret), Outcome::kRefused);
}

TEST(ServerPeerBudgetTest, ClientsThatAuthenticateAreNeverCharged) {
  Clock clock;
  testing::TestServer ts(BudgetConfig(true, &clock));
  // Far more connections than either burst (30 and 20), each authenticating, and the clock
  // stands still: none refused.
  for (int i = 0; i < 150; ++i) {
    ASSERT_EQ(HelloOnce(ts.port(), kSecret), Outcome::kServed) << "connection " << i;
  }
  auto c = ts.Connect(kSecret);
  ASSERT_TRUE(c);
  EXPECT_EQ(Counter(*c, "connections_refused_unauthenticated"), 0u);
  EXPECT_EQ(Counter(*c, "connections_refused_handshake_failures"), 0u);
  EXPECT_EQ(Counter(*c, "handshake_failures"), 0u);
}

TEST(ServerPeerBudgetTest, ConnectionsHeldOpenWithoutHelloAreCapped) {
  Clock clock;
  testing::TestServer ts(BudgetConfig(true, &clock));
  auto good = ts.Connect(kSecret);
  ASSERT_TRUE(good);
  // 30 connections that never send a byte use the unauthenticated-connection burst (30, the
  // good client's token came back at its HELLO); the next 10 are refused.
  std::vector<std::unique_ptr<RawConn>> idle;
  for (int i = 0; i < 40; ++i) {
    idle.push_back(std::make_unique<RawConn>(ts.port()));
    ASSERT_TRUE(idle.back()->connected());
  }
  // Once the server has accepted or refused all 40 (and the good client), each says which by
  // its answer to a HELLO: an admitted one is served, a refused one got TOO_MANY_CONNECTIONS.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Counter(*good, "connections_accepted") +
                 Counter(*good, "connections_refused_unauthenticated") <
             41 &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int refused = 0;
  for (auto& c : idle) {
    // (A refused one was closed by the server: this send may fail; its refusal is still there.)
    (void)c->SendMsg(proto::Op::kHello, 0, proto::HelloRequest{proto::kVersion, "t", kSecret});
    auto f = c->ReadFrame(10'000);
    ASSERT_TRUE(f);
    if (f->error()) {
      ASSERT_EQ(f->ErrorCode(), static_cast<uint16_t>(ErrorCode::kTooManyConnections));
      ++refused;
    }
  }
  EXPECT_EQ(refused, 10);
  EXPECT_GE(Counter(*good, "connections_refused_unauthenticated"), static_cast<uint64_t>(refused));
  ASSERT_TRUE(good->Append("store", "good", "x").ok());  // still served
}

TEST(ServerPeerBudgetTest, OffByFlagRefusesNothing) {
  Clock clock;
  testing::TestServer ts(BudgetConfig(false, &clock));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(HelloOnce(ts.port(), "wrong-secret"), Outcome::kAuthFailed) << "attempt " << i;
  }
  EXPECT_EQ(HelloOnce(ts.port(), kSecret), Outcome::kServed);
  auto c = ts.Connect(kSecret);
  ASSERT_TRUE(c);
  EXPECT_EQ(Counter(*c, "connections_refused_handshake_failures"), 0u);
  EXPECT_EQ(Counter(*c, "connections_refused_unauthenticated"), 0u);
  EXPECT_GE(Counter(*c, "handshake_failures"), 100u);  // still counted
  EXPECT_EQ(Counter(*c, "peer_budget_addresses"), 0u);
}

TEST(ServerPeerBudgetTest, ConfigRejectsZeroLimitsOnlyWhenOn) {
  ServerConfig cfg;
  cfg.peer_handshake_failures_per_s = 0;
  EXPECT_FALSE(ValidateServerConfig(cfg).ok());
  cfg.peer_budgets = false;
  EXPECT_TRUE(ValidateServerConfig(cfg).ok());
}

}  // namespace
}  // namespace tldb
