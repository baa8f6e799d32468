// IndexMerge: the k-way merge of index files that recovery folds into the timeline table.
#include "index/index_merge.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/temp_dir.h"
#include "index/segment_index.h"
#include "tldb/file_system.h"

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
  const std::vector<uint32_t> one = {64}, two = {64, 80};
  for (int s = 0; s < segments; ++s) {
    SegmentIndexBuilder b(1, s + 1);
    for (int k = 0; k < keys; ++k) {
      if (!in(rng)) continue;
      const std::string key = "conv:" + std::to_string(k);
      b.AddTimeline(key, hash(key), 1000 * (s + 1) + k, 1'700'000'000'000 + 100'000 * s + k,
                    k % 2 == 0 ? one : two);
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

// What a merge returned, flattened: one row per item.
struct Row {
  uint32_t reader = 0, entry = 0;
  std::string key;
  uint64_t key_hash = 0;
  Seq first_seq = 0;
  TimestampMs last_ts = 0;
  uint32_t count = 0;
  bool starts_key = false;
};
struct Merged {
  std::vector<Row> rows;
  std::vector<uint32_t> wrong_hash;  // per partition
  size_t partitions = 0;
};
Merged Drain(IndexMerge& merge) {
  Merged m;
  const IndexMerge::Partition* p = nullptr;
  while (merge.Next(&p)) {
    ++m.partitions;
    m.wrong_hash.push_back(p->wrong_hash);
    EXPECT_FALSE(p->items.empty()) << "a partition without entries is skipped";
    for (const IndexMerge::Item& it : p->items) {
      m.rows.push_back({it.reader, it.entry, std::string(p->key(it)), it.key_hash, it.first_seq,
                        it.last_ts, it.count, it.starts_key});
    }
  }
  EXPECT_FALSE(merge.Next(&p)) << "a merge stays at its end";
  return m;
}

// Every entry comes once, copied whole, and each key's entries come together, in reader
// order; an entry starts a key exactly when the entry before it holds another key. The same
// with the partitions gathered ahead on another thread.
TEST(IndexMergeTest, EveryEntryOnceGroupedByKeyInReaderOrder) {
  for (const bool ahead : {false, true}) {
    for (const auto& [segments, keys] : {std::pair{7, 3000}, std::pair{3, 100'000}}) {
      Indexes x = Build(segments, keys, 0.3, 1);
      uint64_t entries = 0;
      for (const auto* r : x.views) entries += r->timeline_count();
      IndexMerge merge(x.views, ahead);
      const Merged m = Drain(merge);
      EXPECT_GT(m.partitions, 1u) << "the test means several partitions";
      std::map<std::string, int> last_reader;  // per key: the reader of its latest entry
      std::set<std::pair<uint32_t, uint32_t>> seen;
      std::string prev_key;
      for (const Row& row : m.rows) {
        ASSERT_LT(row.reader, x.views.size());
        ASSERT_LT(row.entry, x.views[row.reader]->timeline_count());
        ASSERT_TRUE(seen.emplace(row.reader, row.entry).second) << "entry twice";
        const IndexEntry e = x.views[row.reader]->Entry(row.entry);
        EXPECT_EQ(row.key, e.key);
        EXPECT_EQ(row.key_hash, e.key_hash);
        EXPECT_EQ(row.first_seq, e.first_seq);
        EXPECT_EQ(row.last_ts, e.last_ts);
        EXPECT_EQ(row.count, e.count);
        EXPECT_EQ(row.starts_key, row.key != prev_key) << row.key;
        auto [it, first] = last_reader.emplace(row.key, static_cast<int>(row.reader));
        if (!first) {
          ASSERT_EQ(prev_key, row.key) << "the entries of '" << row.key << "' are not together";
          ASSERT_GT(static_cast<int>(row.reader), it->second);
          it->second = static_cast<int>(row.reader);
        }
        EXPECT_EQ(e.first_seq, uint64_t{1000} * (row.reader + 1) + std::stoul(row.key.substr(5)));
        prev_key = row.key;
      }
      EXPECT_EQ(seen.size(), entries);
      for (uint32_t w : m.wrong_hash) EXPECT_EQ(w, IndexMerge::kNone);
    }
  }
}

// Keys sharing one hash (here: a key's length, so "conv:1".."conv:9" share one and so on)
// interleave in the readers, but each key's entries still come together, once, in reader
// order: every key starts exactly once (recovery adds a timeline per start without looking it
// up). Such hashes are not KeyHash(key): reported.
TEST(IndexMergeTest, KeysSharingAHashComeTogether) {
  Indexes x = Build(5, 40, 0.7, 2, [](std::string_view k) { return uint64_t{k.size()}; });
  for (const bool ahead : {false, true}) {
    IndexMerge merge(x.views, ahead);
    const Merged m = Drain(merge);
    std::map<std::string, int> last_reader;
    std::string prev_key;
    for (const Row& row : m.rows) {
      auto [it, first] = last_reader.emplace(row.key, static_cast<int>(row.reader));
      EXPECT_EQ(row.starts_key, first) << row.key << " starts once, at its first entry";
      if (!first) {
        ASSERT_EQ(row.key, prev_key) << "the entries of '" << row.key << "' are not together";
        ASSERT_GT(static_cast<int>(row.reader), it->second) << row.key;
        it->second = static_cast<int>(row.reader);
      }
      prev_key = row.key;
    }
    uint32_t entries = 0;
    std::set<std::string> keys;
    for (const auto* v : x.views) {
      entries += v->timeline_count();
      for (uint32_t i = 0; i < v->timeline_count(); ++i) keys.emplace(v->Entry(i).key);
    }
    EXPECT_EQ(last_reader.size(), keys.size());
    EXPECT_EQ(m.rows.size(), entries);
    ASSERT_EQ(m.wrong_hash.size(), 1u);
    EXPECT_EQ(m.wrong_hash[0], 0u) << "the first key's hash is not KeyHash(key)";
  }
}

// One wrong hash among right ones: the partition names the item, which names its entry.
TEST(IndexMergeTest, AWrongKeyHashIsReported) {
  static const std::string kBad = "conv:1234";
  Indexes x = Build(2, 3000, 1.0, 6,
                    [](std::string_view k) { return k == kBad ? KeyHash(k) ^ 1 : KeyHash(k); });
  for (const bool ahead : {false, true}) {
    IndexMerge merge(x.views, ahead);
    const IndexMerge::Partition* p = nullptr;
    size_t reported = 0;
    while (merge.Next(&p)) {
      if (p->wrong_hash == IndexMerge::kNone) continue;
      ++reported;
      const IndexMerge::Item& it = p->items[p->wrong_hash];
      EXPECT_EQ(p->key(it), kBad);
      EXPECT_EQ(x.views[it.reader]->Entry(it.entry).key, kBad);
    }
    EXPECT_EQ(reported, 1u);
  }
}

// A merge given up early stops its thread (the destructor joins it, nothing hangs).
TEST(IndexMergeTest, StoppedEarlyInAheadMode) {
  Indexes x = Build(4, 50'000, 0.5, 7);
  for (int taken = 0; taken < 3; ++taken) {
    IndexMerge merge(x.views, /*ahead=*/true);
    const IndexMerge::Partition* p = nullptr;
    for (int k = 0; k < taken; ++k) ASSERT_TRUE(merge.Next(&p));
  }
}

// A disk read error under an index file's mapping while the merge gathers ahead is reported
// by Faulted(), not lost on the other thread and not a crash (io/map_fault_registry.h).
TEST(IndexMergeTest, AReadErrorWhileGatheringAheadIsReported) {
  Indexes x = Build(3, 20'000, 1.0, 8);
  common::TempDir tmp;
  auto fsys = NewFileSystem("posix").value();
  std::vector<std::unique_ptr<MappedFile>> maps;
  std::vector<std::unique_ptr<SegmentIndexReader>> readers;
  std::vector<const SegmentIndexReader*> views;
  for (size_t s = 0; s < x.files.size(); ++s) {
    const std::string path = tmp.path() + "/" + std::to_string(s) + ".idx";
    std::ofstream(path, std::ios::binary) << x.files[s];
    maps.push_back(fsys->Map(path).value());
    readers.push_back(std::make_unique<SegmentIndexReader>());
    ASSERT_TRUE(readers.back()->Open(maps.back()->data(), 1, s + 1, path).ok());
    views.push_back(readers.back().get());
    if (s == 1) {
      ASSERT_EQ(::truncate(path.c_str(), 4096), 0);  // its later pages now fault
    }
  }
  IndexMerge merge(views, /*ahead=*/true);
  const IndexMerge::Partition* p = nullptr;
  while (merge.Next(&p)) {
  }
  // Reported whichever thread gathered the partitions under the bad pages (the caller gathers
  // those the merge's thread has not made ready when it asks).
  EXPECT_TRUE(merge.Faulted());
  EXPECT_TRUE(maps[1]->failed());
}

TEST(IndexMergeTest, EmptyReadersAndNoReaders) {
  Indexes x = Build(3, 100, 0.0, 3);  // three empty index files
  for (const bool ahead : {false, true}) {
    IndexMerge merge(x.views, ahead);
    const IndexMerge::Partition* p = nullptr;
    EXPECT_FALSE(merge.Next(&p));
    IndexMerge none({}, ahead);
    EXPECT_FALSE(none.Next(&p));
  }
}

}  // namespace
}  // namespace tldb
