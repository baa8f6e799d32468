// ControllerPlan (server/cluster/controller_plan.h): the controller's decisions as pure
// functions. Which replica of a gone server moves and where (the least-loaded registered server
// without a replica of the partition: fewest replicas, then fewest primaries, then lowest id),
// when it does not (not gone long enough, registered, replacement off, no majority of live
// voters left, no target), and when primaries count as uneven. A randomized sweep checks every
// rule on thousands of maps against a direct restatement of it.
#include "cluster/controller_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <tuple>

namespace tldb::cluster {
namespace {

using proto::PartitionEntry;
using proto::SlotMap;

// Partitions of equal ranges with the given replicas and primaries (kNoServer: none).
SlotMap MapOf(const std::vector<std::vector<uint32_t>>& replicas,
              const std::vector<uint32_t>& primaries = {}) {
  std::vector<PartitionEntry> parts;
  const uint32_t n = static_cast<uint32_t>(replicas.size());
  for (uint32_t p = 0; p < n; ++p) {
    const uint32_t first = p * (proto::kSlotCount / n);
    const uint32_t last =
        p + 1 == n ? proto::kSlotCount - 1 : (p + 1) * (proto::kSlotCount / n) - 1;
    parts.push_back({p,
                     replicas[p],
                     {{static_cast<uint16_t>(first), static_cast<uint16_t>(last)}},
                     p < primaries.size() ? primaries[p] : proto::kNoServer});
  }
  auto m = SlotMap::Make(1, std::move(parts));
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

ReplacementInput Input(std::set<uint32_t> registered, std::map<uint32_t, int64_t> absent_ms,
                       int64_t replace_after_ms = 1'000) {
  ReplacementInput in;
  in.registered = std::move(registered);
  in.absent_ms = std::move(absent_ms);
  in.replace_after_ms = replace_after_ms;
  return in;
}

TEST(ControllerPlanTest, AGoneServersReplicaMovesToTheLeastLoadedServerOnlyOnceDue) {
  // p0 {0,1,2}, p1 {1,2,3}, p2 {2,3,0}; server 4 holds nothing.
  const SlotMap m = MapOf({{0, 1, 2}, {1, 2, 3}, {2, 3, 0}});
  // Not gone long enough, gone but registered again, replacement off: nothing.
  EXPECT_FALSE(ControllerPlan::NextReplacement(m, Input({1, 2, 3, 4}, {{0, 999}})).move);
  EXPECT_FALSE(ControllerPlan::NextReplacement(m, Input({0, 1, 2, 3, 4}, {{0, 5'000}})).move);
  EXPECT_FALSE(ControllerPlan::NextReplacement(m, Input({1, 2, 3, 4}, {{0, 5'000}}, 0)).move);
  // Never seen absent (no clock yet): nothing.
  EXPECT_FALSE(ControllerPlan::NextReplacement(m, Input({1, 2, 3, 4}, {})).move);
  // Due: partition 0's replica 0 first (partitions in id order), to server 4 (no replicas).
  auto d = ControllerPlan::NextReplacement(m, Input({1, 2, 3, 4}, {{0, 1'000}}));
  ASSERT_TRUE(d.move);
  EXPECT_EQ(d.move->partition, 0u);
  EXPECT_EQ(d.move->from, 0u);
  EXPECT_EQ(d.move->node, 0u);
  EXPECT_EQ(d.move->to, 4u);
  EXPECT_EQ(d.move->absent_ms, 1'000);
  EXPECT_TRUE(d.blocked.empty());
  // Without server 4: partition 0's only candidate is server 3.
  d = ControllerPlan::NextReplacement(m, Input({1, 2, 3}, {{0, 1'000}}));
  ASSERT_TRUE(d.move);
  EXPECT_EQ(d.move->to, 3u);
}

TEST(ControllerPlanTest, TiesGoToFewerPrimariesThenTheLowerId) {
  // Partition 0 {0,1,2} loses server 0. Servers 3 and 4 hold two replicas each.
  // Primaries: p1 on 3, p2 on 2: server 4 has none and wins over the lower id 3.
  SlotMap m = MapOf({{0, 1, 2}, {3, 4, 1}, {4, 3, 2}}, {1, 3, 2});
  auto d = ControllerPlan::NextReplacement(m, Input({1, 2, 3, 4}, {{0, 2'000}}));
  ASSERT_TRUE(d.move);
  EXPECT_EQ(d.move->to, 4u);
  // p2's primary on 4 too: one primary each, the lower id wins.
  m = MapOf({{0, 1, 2}, {3, 4, 1}, {4, 3, 2}}, {1, 3, 4});
  d = ControllerPlan::NextReplacement(m, Input({1, 2, 3, 4}, {{0, 2'000}}));
  ASSERT_TRUE(d.move);
  EXPECT_EQ(d.move->to, 3u);
  // Fewer replicas beat fewer primaries: server 5 holds one replica and one primary.
  m = MapOf({{0, 1, 2}, {3, 4, 1}, {4, 3, 2}, {5, 1, 2}}, {1, 3, 2, 5});
  d = ControllerPlan::NextReplacement(m, Input({1, 2, 3, 4, 5}, {{0, 2'000}}));
  ASSERT_TRUE(d.move);
  EXPECT_EQ(d.move->to, 5u);
}

TEST(ControllerPlanTest, NeverLeavesAPartitionWithoutAMajorityOfLiveVoters) {
  const SlotMap m = MapOf({{0, 1, 2}, {3, 4, 5}});
  // Two of partition 0's three replicas gone: neither moves (one live voter is no majority).
  auto d = ControllerPlan::NextReplacement(m, Input({2, 3, 4, 5, 6}, {{0, 9'000}, {1, 9'000}}));
  EXPECT_FALSE(d.move);
  ASSERT_EQ(d.blocked.size(), 2u);
  EXPECT_NE(d.blocked[0].find("only 1 of its 3 replicas are registered voters"), std::string::npos)
      << d.blocked[0];
  // One gone, one a learner still catching up (registered, but not voting): the same.
  auto in = Input({1, 2, 3, 4, 5, 6}, {{0, 9'000}});
  in.votes = [](uint32_t p, uint32_t s) { return !(p == 0 && s == 1); };
  d = ControllerPlan::NextReplacement(m, in);
  EXPECT_FALSE(d.move);
  ASSERT_EQ(d.blocked.size(), 1u);
  // The learner votes now: the move is made, to server 6.
  in.votes = [](uint32_t, uint32_t) { return true; };
  d = ControllerPlan::NextReplacement(m, in);
  ASSERT_TRUE(d.move);
  EXPECT_EQ(d.move->to, 6u);
  // Two replicas: one gone leaves one, never a majority of two.
  d = ControllerPlan::NextReplacement(MapOf({{0, 1}}), Input({1, 2}, {{0, 9'000}}));
  EXPECT_FALSE(d.move);
  EXPECT_EQ(d.blocked.size(), 1u);
}

TEST(ControllerPlanTest, NoTargetIsReportedAndTheNextPartitionStillMoves) {
  // Partition 0 {0,1,2,3,4}: every registered server holds one; partition 1 {0,4,1}.
  const SlotMap m = MapOf({{0, 1, 2, 3, 4}, {0, 4, 1}});
  auto d = ControllerPlan::NextReplacement(m, Input({1, 2, 3, 4}, {{0, 5'000}}));
  ASSERT_TRUE(d.move);
  EXPECT_EQ(d.move->partition, 1u);
  EXPECT_EQ(d.move->to, 2u);  // 2 and 3 hold one replica each, no primaries: the lower id
  ASSERT_EQ(d.blocked.size(), 1u);
  EXPECT_NE(d.blocked[0].find("every registered server holds a replica of partition 0"),
            std::string::npos)
      << d.blocked[0];
  // The reason reads the same in every round (it is logged once).
  auto again = ControllerPlan::NextReplacement(m, Input({1, 2, 3, 4}, {{0, 50'000}}));
  EXPECT_EQ(again.blocked, d.blocked);
}

// Thousands of random maps: every move the plan makes obeys each rule, it makes one whenever a
// due replica may move, and each due replica it does not move is reported.
TEST(ControllerPlanTest, RandomMapsObeyEveryRule) {
  std::mt19937 rng(14);
  int moves = 0, blocked = 0;
  for (int round = 0; round < 5'000; ++round) {
    const uint32_t servers = 3 + rng() % 6, partitions = 1 + rng() % 6;
    std::vector<std::vector<uint32_t>> replicas;
    std::vector<uint32_t> primaries;
    for (uint32_t p = 0; p < partitions; ++p) {
      std::vector<uint32_t> all(servers);
      for (uint32_t s = 0; s < servers; ++s) all[s] = s;
      std::shuffle(all.begin(), all.end(), rng);
      all.resize(std::min<uint32_t>(servers, 2 + rng() % 3));
      primaries.push_back(rng() % 4 == 0 ? proto::kNoServer : all[rng() % all.size()]);
      replicas.push_back(all);
    }
    const SlotMap m = MapOf(replicas, primaries);
    ReplacementInput in;
    in.replace_after_ms = 1'000;
    for (uint32_t s = 0; s < servers + 2; ++s) {
      if (rng() % 3 == 0 && s < servers) {
        in.absent_ms[s] = rng() % 2'000;
      } else {
        in.registered.insert(s);
      }
    }
    std::set<std::pair<uint32_t, uint32_t>> learners;
    for (uint32_t p = 0; p < partitions; ++p) {
      if (rng() % 5 == 0) learners.insert({p, replicas[p][rng() % replicas[p].size()]});
    }
    in.votes = [&](uint32_t p, uint32_t s) { return learners.count({p, s}) == 0; };
    const ReplacementDecision d = ControllerPlan::NextReplacement(m, in);

    // The rules, restated.
    std::map<uint32_t, uint32_t> nrep, nprim;
    for (const auto& p : m.partitions()) {
      for (uint32_t s : p.replicas) nrep[s]++;
      if (p.primary != proto::kNoServer) nprim[p.primary]++;
    }
    std::optional<Replacement> first;
    size_t due_not_movable = 0;
    for (const auto& p : m.partitions()) {
      for (uint32_t k = 0; k < p.replicas.size(); ++k) {
        const uint32_t s = p.replicas[k];
        if (in.registered.count(s) || !in.absent_ms.count(s) || in.absent_ms.at(s) < 1'000) {
          continue;
        }
        size_t live = 0;
        for (uint32_t r : p.replicas) live += r != s && in.registered.count(r) && in.votes(p.id, r);
        std::optional<uint32_t> best;
        for (uint32_t t : in.registered) {
          if (std::count(p.replicas.begin(), p.replicas.end(), t)) continue;
          if (!best ||
              std::tie(nrep[t], nprim[t], t) < std::tie(nrep[*best], nprim[*best], *best)) {
            best = t;
          }
        }
        if (live * 2 <= p.replicas.size() || !best) {
          ++due_not_movable;
          continue;
        }
        if (!first) first = Replacement{p.id, s, *best, k, in.absent_ms.at(s)};
      }
    }
    ASSERT_EQ(d.move.has_value(), first.has_value()) << "round " << round;
    EXPECT_EQ(d.blocked.size(), due_not_movable) << "round " << round;
    if (first) {
      EXPECT_EQ(d.move->partition, first->partition) << "round " << round;
      EXPECT_EQ(d.move->from, first->from) << "round " << round;
      EXPECT_EQ(d.move->to, first->to) << "round " << round;
      EXPECT_EQ(d.move->node, first->node) << "round " << round;
      // The target is registered and new to the partition; the source is gone.
      const auto& reps = m.Partition(d.move->partition)->replicas;
      EXPECT_TRUE(in.registered.count(d.move->to));
      EXPECT_EQ(std::count(reps.begin(), reps.end(), d.move->to), 0);
      EXPECT_FALSE(in.registered.count(d.move->from));
      ++moves;
    }
    blocked += static_cast<int>(d.blocked.size());
  }
  // The sweep reached both outcomes.
  EXPECT_GT(moves, 100);
  EXPECT_GT(blocked, 100);
}

TEST(ControllerPlanTest, PrimariesAreUnevenOnlyWhenTheSpreadExceedsOneAndAllIsSettled) {
  std::string why;
  // 2, 1, 0 primaries over servers 0, 1, 2: off by two, uneven.
  SlotMap m = MapOf({{0, 1, 2}, {0, 1, 2}, {1, 2, 0}}, {0, 0, 1});
  EXPECT_TRUE(ControllerPlan::PrimariesUneven(m, {0, 1, 2}, &why));
  // 3, 0, 0: uneven.
  m = MapOf({{0, 1, 2}, {0, 1, 2}, {1, 2, 0}}, {0, 0, 0});
  EXPECT_TRUE(ControllerPlan::PrimariesUneven(m, {0, 1, 2}, &why));
  EXPECT_NE(why.find("server 0 has 3 primaries"), std::string::npos) << why;
  // Off by one: even enough.
  m = MapOf({{0, 1, 2}, {0, 1, 2}, {1, 2, 0}, {2, 0, 1}}, {0, 0, 1, 2});
  EXPECT_FALSE(ControllerPlan::PrimariesUneven(m, {0, 1, 2}, &why));
  // A partition without a primary (a failover) or a gone server: no rebalance.
  m = MapOf({{0, 1, 2}, {0, 1, 2}, {1, 2, 0}}, {0, 0, proto::kNoServer});
  EXPECT_FALSE(ControllerPlan::PrimariesUneven(m, {0, 1, 2}, &why));
  m = MapOf({{0, 1, 2}, {0, 1, 2}, {1, 2, 0}}, {0, 0, 0});
  EXPECT_FALSE(ControllerPlan::PrimariesUneven(m, {0, 1}, &why));
  // A server that holds no replica does not count as one with no primary.
  m = MapOf({{0, 1}, {1, 0}}, {0, 1});
  EXPECT_FALSE(ControllerPlan::PrimariesUneven(m, {0, 1, 2, 3}, &why));
}

}  // namespace
}  // namespace tldb::cluster
