// tldb-server end to end, live delivery: WAIT woken by another connection's append and
// SUBSCRIBE pushing each acknowledged message in order.
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
  // Woken by an append on the other connection. A WAIT that reaches its timeout after the
  // append also answers ready, so what shows the wake is the answer coming well before the
  // timeout (60 s, the largest): within half of it, however loaded the machine.
  std::promise<Result<WaitResult>> woke;
  waiter->WaitAsync("store", "w:1", 1, 60'000,
                    [&](Result<WaitResult> r) { woke.set_value(std::move(r)); });
  std::this_thread::sleep_for(50ms);
  const auto appended_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(writer->Append("store", "w:1", "second").ok());
  auto fut = woke.get_future();
  ASSERT_EQ(fut.wait_for(90s), std::future_status::ready);
  auto r = fut.get();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ready);
  EXPECT_EQ(r->last_seq, 2u);
  EXPECT_LT(ElapsedMs(appended_at), 30'000) << "answered by its timeout, not woken";
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

}  // namespace
}  // namespace tldb::testing
