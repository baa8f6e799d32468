// BlockCache (store/block_cache.h): the byte budget, CLOCK eviction with second chances, the
// counters, and blocks that outlive their eviction.
#include "store/block_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tldb {
namespace {

// 16 shards: a cache of 16 * shard_bytes. Keys of one shard are found by trying.
constexpr uint64_t kShards = 16;

BlockCache::Key KeyOf(uint32_t i) {
  return {1, 0, 7, i * 4096};
}

BlockCache::Block BlockOf(size_t bytes, char fill) {
  return std::make_shared<const std::string>(bytes, fill);
}

// Keys that land in the same shard as KeyOf(0): the shard's choice is the cache's, so the test
// finds them by filling a one-block-per-shard cache and watching which keys evict key 0.
std::vector<uint32_t> KeysOfOneShard(size_t n) {
  std::vector<uint32_t> out{0};
  for (uint32_t i = 1; out.size() < n && i < 100000; ++i) {
    BlockCache c(kShards * 100);  // room for one 100-byte block per shard
    c.Insert(KeyOf(0), BlockOf(100, 'x'));
    (void)c.Lookup(KeyOf(0));
    c.Insert(KeyOf(i), BlockOf(100, 'y'));  // same shard: over budget, one of the two goes
    if (c.Lookup(KeyOf(0)) == nullptr || c.Lookup(KeyOf(i)) == nullptr) out.push_back(i);
  }
  return out;
}

TEST(BlockCacheTest, HitsMissesAndBytes) {
  BlockCache c(1 << 20);
  EXPECT_EQ(c.Lookup(KeyOf(1)), nullptr);
  c.Insert(KeyOf(1), BlockOf(1000, 'a'));
  c.Insert(KeyOf(1), BlockOf(1000, 'b'));  // already there: kept as it was
  auto b = c.Lookup(KeyOf(1));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(*b, std::string(1000, 'a'));
  EXPECT_EQ(c.hits(), 1u);
  EXPECT_EQ(c.misses(), 1u);
  EXPECT_EQ(c.bytes(), 1000u);
  BlockCache::Key other = KeyOf(1);
  other.gen = 1;  // another generation of the same segment: another block
  EXPECT_EQ(c.Lookup(other), nullptr);
}

TEST(BlockCacheTest, AZeroBudgetHoldsNothing) {
  BlockCache c(0);
  c.Insert(KeyOf(1), BlockOf(10, 'a'));
  EXPECT_EQ(c.Lookup(KeyOf(1)), nullptr);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(BlockCacheTest, TheBudgetHoldsAndTheOldestGoFirst) {
  const auto keys = KeysOfOneShard(12);
  ASSERT_EQ(keys.size(), 12u);
  BlockCache c(kShards * 1000);  // 10 blocks of 100 bytes per shard
  for (uint32_t k : keys) c.Insert(KeyOf(k), BlockOf(100, 'a'));
  EXPECT_EQ(c.bytes(), 1000u);
  // Nothing was looked up: the two oldest went.
  EXPECT_EQ(c.Lookup(KeyOf(keys[0])), nullptr);
  EXPECT_EQ(c.Lookup(KeyOf(keys[1])), nullptr);
  for (size_t i = 2; i < keys.size(); ++i) EXPECT_NE(c.Lookup(KeyOf(keys[i])), nullptr) << i;
}

TEST(BlockCacheTest, AHitGivesASecondChance) {
  const auto keys = KeysOfOneShard(13);
  ASSERT_EQ(keys.size(), 13u);
  BlockCache c(kShards * 1000);
  for (size_t i = 0; i < 10; ++i) c.Insert(KeyOf(keys[i]), BlockOf(100, 'a'));
  c.Insert(KeyOf(keys[10]), BlockOf(100, 'a'));  // evicts keys[0], clearing the others' flags
  ASSERT_EQ(c.Lookup(KeyOf(keys[0])), nullptr);
  ASSERT_NE(c.Lookup(KeyOf(keys[1])), nullptr);  // used again: kept past the next evictions
  c.Insert(KeyOf(keys[11]), BlockOf(100, 'a'));
  c.Insert(KeyOf(keys[12]), BlockOf(100, 'a'));
  EXPECT_NE(c.Lookup(KeyOf(keys[1])), nullptr);
  EXPECT_EQ(c.Lookup(KeyOf(keys[2])), nullptr);
  EXPECT_EQ(c.Lookup(KeyOf(keys[3])), nullptr);
  EXPECT_EQ(c.bytes(), 1000u);
}

TEST(BlockCacheTest, ABlockBiggerThanTheBudgetStaysAlone) {
  const auto keys = KeysOfOneShard(3);
  BlockCache c(kShards * 100);
  for (size_t i = 0; i < 2; ++i) c.Insert(KeyOf(keys[i]), BlockOf(50, 'a'));
  c.Insert(KeyOf(keys[2]), BlockOf(500, 'b'));  // both others go; it stays, alone
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(c.Lookup(KeyOf(keys[i])), nullptr) << i;
  ASSERT_NE(c.Lookup(KeyOf(keys[2])), nullptr);
  EXPECT_EQ(c.bytes(), 500u);
}

TEST(BlockCacheTest, AnEvictedBlockStaysValidForItsHolder) {
  const auto keys = KeysOfOneShard(2);
  BlockCache c(kShards * 100);
  c.Insert(KeyOf(keys[0]), BlockOf(100, 'a'));
  auto held = c.Lookup(KeyOf(keys[0]));
  c.Insert(KeyOf(keys[1]), BlockOf(100, 'b'));
  c.Insert(KeyOf(keys[1] + 100000), BlockOf(1, 'c'));  // whatever shard: more churn
  EXPECT_EQ(*held, std::string(100, 'a'));
}

TEST(BlockCacheTest, ThreadsShareItWithinTheBudget) {
  BlockCache c(kShards * 10000);
  std::vector<std::thread> ts;
  ts.reserve(4);
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&c, t] {
      for (uint32_t i = 0; i < 20000; ++i) {
        const uint32_t k = (i * 7 + static_cast<uint32_t>(t)) % 3000;
        if (auto b = c.Lookup(KeyOf(k))) {
          ASSERT_EQ(b->size(), 100u + k % 50);
        } else {
          c.Insert(KeyOf(k), BlockOf(100 + k % 50, 'z'));
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.hits() + c.misses(), 80000u);
  EXPECT_LE(c.bytes(), kShards * 10000);
}

// Churn through the index: many more keys than the budget holds, inserted and looked up in a
// seeded random order, so that the shards' tables grow, wrap around and lose entries from the
// middle of their probe runs. Whatever the cache still finds is the block inserted for that key,
// every block it counts can be found, and every key it does not find can be inserted again.
TEST(BlockCacheTest, ChurnKeepsEveryHeldBlockFindable) {
  BlockCache c(kShards * 5000);  // about 50 blocks of 100 bytes per shard
  uint64_t x = 0x9E3779B97F4A7C15ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  constexpr uint32_t kKeys = 4000;
  auto fill = [](uint32_t k) { return static_cast<char>('a' + k % 26); };
  for (int step = 0; step < 400000; ++step) {
    const uint32_t k = static_cast<uint32_t>(next() % kKeys);
    if (next() % 3 == 0) {
      if (auto b = c.Lookup(KeyOf(k))) {
        ASSERT_EQ(*b, std::string(100, fill(k))) << k;
      }
    } else {
      c.Insert(KeyOf(k), BlockOf(100, fill(k)));
    }
  }
  uint64_t found_bytes = 0;
  for (uint32_t k = 0; k < kKeys; ++k) {
    if (auto b = c.Lookup(KeyOf(k))) {
      ASSERT_EQ(*b, std::string(100, fill(k))) << k;
      found_bytes += b->size();
    }
  }
  EXPECT_EQ(found_bytes, c.bytes());       // nothing counted that cannot be found
  EXPECT_GT(found_bytes, kShards * 4000);  // and the budget is used, not lost to bad slots
  EXPECT_LE(found_bytes, kShards * 5000);
}

}  // namespace
}  // namespace tldb
