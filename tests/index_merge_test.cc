// IndexMerge: the k-way merge of index files that recovery folds into the timeline table.
#include "index/index_merge.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "index/segment_index.h"

namespace tldb {
namespace {

// Index files of `segments` segments, each holding a random subset of `keys` keys (key k in
// segment s with probability `share`), with the SeqIds of key k in segment s at 1000 * s + k.
struct Indexes {
  std::vector<std::string> files;
  std::vector<std::unique_ptr<SegmentIndexReader>> readers;
  std::vector<const SegmentIndexReader*> views;
};

Indexes Build(
    int segments, int keys, double share, uint64_t seed,
    uint64_t (*hash)(std::string_view) = [](std::string_view k) { return KeyHash(k); }) {
  Indexes x;
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution in(share);
  std::vector<uint32_t> off = {64};
  for (int s = 0; s < segments; ++s) {
    SegmentIndexBuilder b(1, s + 1);
    for (int k = 0; k < keys; ++k) {
      if (!in(rng)) continue;
      const std::string key = "conv:" + std::to_string(k);
      b.AddTimeline(key, hash(key), 1000 * (s + 1) + k, 0, off);
    }
    x.files.push_back(b.Finish(100, 0, 0));
  }
  for (int s = 0; s < segments; ++s) {
    auto r = std::make_unique<SegmentIndexReader>();
    EXPECT_TRUE(r->Open(x.files[s], 1, s + 1, "idx").ok());
    x.views.push_back(r.get());
    x.readers.push_back(std::move(r));
  }
  return x;
}

// Every entry comes once, and each key's entries come together, in reader order.
TEST(IndexMergeTest, EveryEntryOnceGroupedByKeyInReaderOrder) {
  for (const auto& [segments, keys] : {std::pair{7, 3000}, std::pair{3, 100'000}}) {
    Indexes x = Build(segments, keys, 0.3, 1);
    uint64_t entries = 0;
    for (const auto* r : x.views) entries += r->timeline_count();
    IndexMerge merge(x.views);
    std::map<std::string, int> last_reader;  // per key: the reader of its latest entry
    std::set<std::pair<uint32_t, uint32_t>> seen;
    std::string prev_key;
    uint32_t r = 0, i = 0;
    while (merge.Next(&r, &i)) {
      ASSERT_LT(r, x.views.size());
      ASSERT_LT(i, x.views[r]->timeline_count());
      ASSERT_TRUE(seen.emplace(r, i).second) << "entry " << r << "/" << i << " twice";
      const IndexEntry e = x.views[r]->Entry(i);
      auto [it, first] = last_reader.emplace(std::string(e.key), static_cast<int>(r));
      if (!first) {
        ASSERT_EQ(prev_key, e.key) << "the entries of '" << e.key << "' are not together";
        ASSERT_GT(static_cast<int>(r), it->second);
        it->second = static_cast<int>(r);
      }
      EXPECT_EQ(e.first_seq, uint64_t{1000} * (r + 1) + std::stoul(std::string(e.key.substr(5))));
      prev_key = std::string(e.key);
    }
    EXPECT_EQ(seen.size(), entries);
    EXPECT_FALSE(merge.Next(&r, &i));
  }
}

// Keys sharing one hash may interleave, but each key's entries stay in reader order.
TEST(IndexMergeTest, KeysSharingAHashStayInReaderOrder) {
  Indexes x = Build(5, 40, 0.7, 2, [](std::string_view k) { return uint64_t{k.size()}; });
  IndexMerge merge(x.views);
  std::map<std::string, int> last_reader;
  uint32_t r = 0, i = 0, seen = 0;
  while (merge.Next(&r, &i)) {
    const IndexEntry e = x.views[r]->Entry(i);
    auto [it, first] = last_reader.emplace(std::string(e.key), static_cast<int>(r));
    if (!first) {
      ASSERT_GT(static_cast<int>(r), it->second) << e.key;
      it->second = static_cast<int>(r);
    }
    ++seen;
  }
  uint32_t entries = 0;
  for (const auto* v : x.views) entries += v->timeline_count();
  EXPECT_EQ(seen, entries);
}

TEST(IndexMergeTest, EmptyReadersAndNoReaders) {
  Indexes x = Build(3, 100, 0.0, 3);  // three empty index files
  IndexMerge merge(x.views);
  uint32_t r = 0, i = 0;
  EXPECT_FALSE(merge.Next(&r, &i));
  IndexMerge none({});
  EXPECT_FALSE(none.Next(&r, &i));
  EXPECT_EQ(IndexMerge::EstimateDistinctKeys(x.views), 0u);
}

// The estimate recovery sizes its table with: within 10% for tens of thousands of keys, and
// never above the number of entries.
TEST(IndexMergeTest, EstimateOfDistinctKeys) {
  for (const auto& [keys, share] : {std::pair{60'000, 0.25}, std::pair{20'000, 0.9}}) {
    Indexes x = Build(8, keys, share, 4);
    std::map<std::string, bool> distinct;
    uint64_t entries = 0;
    for (const auto* v : x.views) {
      entries += v->timeline_count();
      for (uint32_t i = 0; i < v->timeline_count(); ++i) distinct[std::string(v->Entry(i).key)];
    }
    const uint64_t estimate = IndexMerge::EstimateDistinctKeys(x.views);
    EXPECT_LE(estimate, entries);
    EXPECT_NEAR(static_cast<double>(estimate), static_cast<double>(distinct.size()),
                0.10 * static_cast<double>(distinct.size()))
        << keys << " keys";
  }
  // A few keys: the sample may hold none of them; the estimate is then 0 (the table grows).
  Indexes small = Build(2, 10, 1.0, 5);
  EXPECT_LE(IndexMerge::EstimateDistinctKeys(small.views), 20u);
}

}  // namespace
}  // namespace tldb
