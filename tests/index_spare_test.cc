// A roll builds its segment's index in a buffer kept across rolls and writes it over an index
// spare, a file of zeros the preparer wrote ahead of it (store/segment_preparer.h,
// store/segment_roller.h), so that neither touches fresh pages on the append path. Whatever the
// spare's size against the index's, the index file written is exactly the segment's index: the
// store reopens without rebuilding one, and serves every message.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/sim_file_system.h"
#include "store/segment_preparer.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "util/sim_options.h"
#include "util/test_hook.h"

namespace tldb {
namespace {

constexpr char kDir[] = "/db";
constexpr char kNs[] = "store";

class IndexSpareTest : public ::testing::Test {
 protected:
  Options StoreOptions() {
    Options o = testing::SimOptions(fs_, Clock::System());  // Prezero::kInline: spares inline
    o.on_event = [this](std::string_view e) {
      if (e.find("rebuilding index of") != std::string::npos) ++rebuilt_;
    };
    return o;
  }
  void SetUp() override {
    db_ = std::move(Db::Open(kDir, StoreOptions()).value());
    NamespaceOptions n;
    n.segment_bytes_max = 8 << 20;  // a fan-out segment's index of 1-4 MiB: spares are made
    ASSERT_TRUE(db_->CreateNamespace(kNs, n).ok());
  }
  // Fan-outs to `members` timelines until one more segment is sealed.
  // (or, with `count`, that many fan-outs); last_sent_ is how many it sent.
  void FanoutUntilARoll(int members, uint64_t count = UINT64_MAX, std::string_view payload = "hi") {
    std::vector<std::string> keys;
    for (int m = 0; m < members; ++m) keys.push_back("member:" + std::to_string(m));
    const std::vector<std::string_view> targets(keys.begin(), keys.end());
    const uint64_t sealed = Sealed();
    for (last_sent_ = 0; Sealed() == sealed && last_sent_ < count; ++last_sent_) {
      ASSERT_TRUE(db_->AppendFanout(kNs, targets, payload).ok());
      ++fanouts_[static_cast<size_t>(members)];
    }
  }
  uint64_t Sealed() { return db_->DescribeNamespace(kNs).value().segments - 1; }
  void ReopenAndCheckEveryMessage() {
    ASSERT_TRUE(db_->Close().ok());
    db_.reset();
    auto reopened = Db::Open(kDir, StoreOptions());
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    db_ = std::move(*reopened);
    ScanOptions all;
    all.limit = 1'000'000;
    all.bytes_max = UINT64_MAX;
    for (int m = 0; m < kMembersMax; m += 7) {
      uint64_t count = 0;  // the fan-outs that reached member m
      for (const auto& [members, n] : fanouts_) count += static_cast<size_t>(m) < members ? n : 0;
      const std::string key = "member:" + std::to_string(m);
      auto r = db_->Scan(kNs, key, all);
      ASSERT_TRUE(r.ok()) << key << ": " << r.status().ToString();
      ASSERT_EQ(r->size(), count) << key;
    }
  }

  std::shared_ptr<SimFileSystem> fs_ = std::make_shared<SimFileSystem>();
  std::unique_ptr<Db> db_;
  static constexpr int kMembersMax = 3000;
  std::map<size_t, uint64_t> fanouts_;  // fan-outs sent, by their number of members
  int rebuilt_ = 0;
  uint64_t last_sent_ = 0;
};

TEST_F(IndexSpareTest, IndexesWrittenOverLargerAndSmallerSparesAreExact) {
  // The first index: a spare and a touched buffer made for the active segment's index so far,
  // projected to a full segment (no index was written before to size them by).
  FanoutUntilARoll(1000);
  EXPECT_EQ(db_->Stats().index_spare_rolls, 1u);
  EXPECT_EQ(db_->Stats().index_buffer_rolls, 1u);
  FanoutUntilARoll(1000);  // the same again: the kept buffer fits it, no new one
  EXPECT_EQ(db_->Stats().index_spare_rolls, 2u);
  EXPECT_EQ(db_->Stats().index_buffer_rolls, 1u);
  // Larger fan-outs from the middle of a segment, after the spare was asked for: an index
  // larger than its spare, written past its end (and built in a reallocated buffer).
  FanoutUntilARoll(1000, last_sent_ / 2 + 1);
  FanoutUntilARoll(kMembersMax);
  EXPECT_EQ(db_->Stats().index_spare_rolls, 3u);
  EXPECT_EQ(db_->Stats().index_buffer_rolls, 1u);
  FanoutUntilARoll(200);  // a small index into the kept buffer and over a large spare
  EXPECT_EQ(db_->Stats().index_spare_rolls, 4u);
  EXPECT_EQ(db_->Stats().index_buffer_rolls, 1u);
  EXPECT_EQ(db_->Stats().rolls, 4u);  // every roll counted, and the time spent in them
  EXPECT_GT(db_->Stats().roll_us, 0u);
  ReopenAndCheckEveryMessage();
  EXPECT_EQ(rebuilt_, 0) << "an index file differed from its segment's index";
  // No spare is left behind: each was taken by its roll, or removed when the store closed.
  auto names = fs_->ListDir(std::string(kDir) + "/ns/" + kNs);
  ASSERT_TRUE(names.ok());
  for (const std::string& name : *names) {
    EXPECT_EQ(name.find(".spare"), std::string::npos) << name;
  }
}

// An index grows with the records a segment holds: smaller messages, more of them, a larger
// index than the buffer kept from the last roll. The buffer for it is made ahead, its pages
// touched, from the active segment's index at half full.
TEST_F(IndexSpareTest, AGrowingIndexIsBuiltInABufferMadeAhead) {
  // A fan-out is one record naming its members: with a long text, a few hundred KiB of index
  // per segment, too small for a spare or a buffer made ahead (kIndexSpareBytesMin).
  const std::string text(6000, 'x');
  FanoutUntilARoll(100, UINT64_MAX, text);
  FanoutUntilARoll(100, UINT64_MAX, text);
  EXPECT_EQ(db_->Stats().index_buffer_rolls, 0u);
  FanoutUntilARoll(100);  // short messages: several times more of them, a larger index
  EXPECT_EQ(db_->Stats().index_buffer_rolls, 1u);
  FanoutUntilARoll(100);
  EXPECT_EQ(db_->Stats().index_buffer_rolls, 1u);  // kept, with room to grow
  ReopenAndCheckEveryMessage();
  EXPECT_EQ(rebuilt_, 0) << "an index file differed from its segment's index";
}

// With a preparer thread (the default on a real disk): the spare is written there while appends
// go on, and the roll takes it once it is complete.
TEST(IndexSpareThreadTest, ThePreparerThreadWritesTheSpareTheRollTakes) {
  auto fs = std::make_shared<SimFileSystem>();
  Options o = testing::SimOptions(fs, Clock::System());
  o.prezero = Options::Prezero::kBackground;
  auto db = std::move(Db::Open(kDir, o).value());
  NamespaceOptions n;
  n.segment_bytes_max = 8 << 20;
  ASSERT_TRUE(db->CreateNamespace(kNs, n).ok());
  std::vector<std::string> keys;
  for (int m = 0; m < 1000; ++m) keys.push_back("member:" + std::to_string(m));
  const std::vector<std::string_view> targets(keys.begin(), keys.end());
  auto segments = [&] { return db->DescribeNamespace(kNs).value().segments; };
  uint64_t sent = 0;
  auto fanout = [&] {
    ASSERT_TRUE(db->AppendFanout(kNs, targets, "hi").ok());
    ++sent;
  };
  while (segments() < 2) fanout();  // the first index: its size is what the spare is made for
  std::atomic<bool> ready{false};
  SetTestHook("prepare.index_spare_ready", [&] { ready = true; });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    fanout();  // past half of segment 2, the spare is asked for
  }
  ClearTestHooks();
  ASSERT_TRUE(ready) << "no spare completed within 60 s";
  // A spare is marked ready only before its segment rolls: the next roll takes it.
  const uint64_t at_ready = segments();
  while (segments() == at_ready) fanout();
  EXPECT_GE(db->Stats().index_spare_rolls, 1u);
  ASSERT_TRUE(db->Close().ok());
  db.reset();
  int rebuilt = 0;
  o.on_event = [&](std::string_view e) {
    if (e.find("rebuilding index of") != std::string::npos) ++rebuilt;
  };
  db = std::move(Db::Open(kDir, o).value());
  EXPECT_EQ(rebuilt, 0);
  ScanOptions all;
  all.limit = 1'000'000;
  all.bytes_max = UINT64_MAX;
  auto r = db->Scan(kNs, "member:999", all);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), sent);
  ASSERT_TRUE(db->Close().ok());
}

}  // namespace
}  // namespace tldb
