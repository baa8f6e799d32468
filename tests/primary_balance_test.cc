// PrimaryBalance (server/cluster/primary_balance.h): the plan that spreads primaries over the
// servers (pure), and the handovers asked of a real etcd, with the partitions' primaries played
// by the test (a thread that hands each partition's leader key to the replica named in its
// promote key). Without etcd installed the etcd test fails.
#include "cluster/primary_balance.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "cluster/etcd_coordinator.h"
#include "cluster/testing/etcd_test.h"

namespace tldb::cluster {
namespace {

using proto::SlotMap;
using tldb::cluster::testing::EtcdTest;

// Four partitions of three replicas over servers 0..3 (partition p: p, p+1, p+2), with the
// given primaries (server ids).
SlotMap WithPrimaries(const std::vector<uint32_t>& primaries) {
  auto m = SlotMap::Even(1, 4, {0, 1, 2, 3}, 3);
  EXPECT_TRUE(m.ok());
  std::vector<std::pair<uint32_t, uint32_t>> p;
  for (uint32_t i = 0; i < primaries.size(); ++i) p.emplace_back(i, primaries[i]);
  return m->WithServing(p, {});
}

std::map<uint32_t, int> Count(const SlotMap& map, const std::vector<PrimaryMove>& plan) {
  std::map<uint32_t, uint32_t> primary;
  for (const auto& p : map.partitions()) primary[p.id] = p.primary;
  for (const PrimaryMove& m : plan) primary[m.partition] = m.to;
  std::map<uint32_t, int> out;
  for (const auto& [p, s] : primary) out[s]++;
  return out;
}

TEST(PrimaryBalancePlanTest, SpreadsPrimariesAndKeepsABalancedMapAsItIs) {
  // Server 2 leads three partitions, server 0 and 1 none.
  const SlotMap skewed = WithPrimaries({2, 2, 2, 3});
  auto plan = PrimaryBalance::Plan(skewed);
  auto count = Count(skewed, plan);
  for (uint32_t s = 0; s < 4; ++s) EXPECT_EQ(count[s], 1) << "server " << s;
  for (const PrimaryMove& m : plan) {
    const auto* p = skewed.Partition(m.partition);
    ASSERT_LT(m.node, p->replicas.size());
    EXPECT_EQ(p->replicas[m.node], m.to);  // the replica index names the planned server
    EXPECT_EQ(m.from, p->primary);
  }
  // One primary per server already: nothing to do.
  EXPECT_TRUE(PrimaryBalance::Plan(WithPrimaries({0, 1, 2, 3})).empty());
  EXPECT_TRUE(PrimaryBalance::Plan(WithPrimaries({2, 3, 0, 1})).empty());
  // A partition without a primary gets one.
  auto none = PrimaryBalance::Plan(WithPrimaries({0, 1, 2, proto::kNoServer}));
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0].partition, 3u);
  EXPECT_EQ(none[0].to, 3u);
}

class PrimaryBalanceTest : public EtcdTest {};

TEST_F(PrimaryBalanceTest, AsksEachPlannedReplicaToLeadAndWaitsForIt) {
  const SlotMap skewed = WithPrimaries({2, 2, 2, 3});
  // Leader keys as the servers hold them: a replica index per partition.
  auto key = [](uint32_t p, const char* name) {
    return EtcdCoordinator::PartitionKey("/t/", p, name);
  };
  for (const auto& p : skewed.partitions()) {
    const auto at = std::find(p.replicas.begin(), p.replicas.end(), p.primary) - p.replicas.begin();
    ASSERT_TRUE(client_->Put(key(p.id, "leader"), std::to_string(at)).ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> handovers{0};
  std::thread primaries([&] {
    while (!stop) {
      for (uint32_t p = 0; p < 4; ++p) {
        auto asked = client_->Get(key(p, "promote"));
        if (asked.ok() && asked->has_value()) {
          (void)client_->Put(key(p, "leader"), (*asked)->value);
          (void)client_->Delete(key(p, "promote"));
          handovers++;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  PrimaryBalance balance(*client_, "/t/");
  std::vector<std::string> lines;
  auto done = balance.Run(skewed, 10'000, [&](std::string_view l) { lines.emplace_back(l); });
  stop = true;
  primaries.join();
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  const auto plan = PrimaryBalance::Plan(skewed);
  ASSERT_EQ(done->size(), plan.size());
  EXPECT_EQ(handovers.load(), static_cast<int>(plan.size()));
  for (const PrimaryMove& m : plan) {
    auto kv = client_->Get(key(m.partition, "leader"));
    ASSERT_TRUE(kv.ok() && kv->has_value());
    EXPECT_EQ((*kv)->value, std::to_string(m.node)) << "partition " << m.partition;
  }
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find(std::to_string(plan.size()) + " of 4 partitions change primary"),
            std::string::npos)
      << lines[0];
}

TEST_F(PrimaryBalanceTest, TimesOutWhenTheReplicaNeverLeads) {
  const SlotMap skewed = WithPrimaries({2, 2, 2, 3});
  PrimaryBalance balance(*client_, "/t/");
  auto done = balance.Run(skewed, 300, [](std::string_view) {});
  EXPECT_EQ(done.status().code(), Status::Code::kTimedOut) << done.status().ToString();
}

}  // namespace
}  // namespace tldb::cluster
