// ClusterClient from several threads at once against a sharded cluster (shard_cluster_util.h):
// calls routed, split and redirected concurrently, and a map change seen by many calls at once
// fetched once.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "shard_cluster_util.h"

namespace tldb::testing {
namespace {

constexpr int kThreads = 4;
constexpr int kRounds = 30;

TEST_F(ShardTest, ConcurrentCallsAcrossAMapChangeAllSucceedAndFetchItOnce) {
  auto cc = NewClient();
  ASSERT_TRUE(cc);
  const auto tls = TimelinesIn({0, 1, 2, 0, 1, 2});
  ASSERT_TRUE(cc->Append("store", tls[0], "first").ok());  // the map is known: version 1
  std::atomic<int> failures{0};
  std::atomic<int> done_rounds{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto views = Views(tls);
      for (int i = 0; i < kRounds; ++i) {
        const std::string& tl = tls[(t + i) % tls.size()];
        if (!cc->Append("store", tl, "m").ok()) failures++;
        auto last = cc->LastSeq("store", views);
        if (!last.ok() || last->size() != tls.size()) failures++;
        auto fan = cc->AppendFanout("store", views, "f");
        if (!fan.ok() || fan->size() != tls.size()) failures++;
        done_rounds++;
      }
    });
  }
  // Halfway through, every partition's primary moves: the threads' calls meet MOVED with
  // version 2 at about the same time.
  while (done_rounds.load() < kThreads * kRounds / 2) std::this_thread::yield();
  SetMap(2, {1, 2, 0});
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(cc->map_version(), 2u);
  EXPECT_GE(cc->moved(), 1u);
  // Once at the first call, once for version 2, however many calls saw MOVED.
  EXPECT_EQ(cluster_.map_requests.load(), 2);
  // After the change every timeline is served by its new primary only.
  for (uint32_t id = 0; id < kServers; ++id) {
    for (const auto& t : tls) {
      if (PartitionOf(t) == (id + 2) % kServers) {
        EXPECT_TRUE(nodes_[id].db->seen().count(t)) << t;
      }
    }
  }
}

}  // namespace
}  // namespace tldb::testing
