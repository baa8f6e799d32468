// tldb-server end to end, restarts: a graceful shutdown and restart lose nothing, and a client
// reconnects and retries its appends with a client message id.
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

}  // namespace
}  // namespace tldb::testing
